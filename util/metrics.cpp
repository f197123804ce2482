#include "util/metrics.h"

#include <cstdio>

namespace tandem {
namespace {
const std::vector<double>& Bounds() {
  static const std::vector<double> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,   1,    2.5,   5,    10};
  return kBounds;
}
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string Braced(const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}
}  // namespace

void Metrics::Count(const std::string& name, const std::string& labels, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_[name][labels] += by;
}

void Metrics::Observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = histograms_[name][labels];
  if (h.buckets.empty()) h.buckets.assign(Bounds().size(), 0);
  for (size_t i = 0; i < Bounds().size(); ++i)
    if (seconds <= Bounds()[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::Gauge(const std::string& name, std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_[name] = std::move(read);
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  help_[name] = {type, help};
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto header = [&](const std::string& name, const char* fallback_type) {
    auto it = help_.find(name);
    if (it != help_.end()) out += "# HELP " + name + " " + it->second.second + "\n";
    out += "# TYPE " + name + " " + (it != help_.end() ? it->second.first : fallback_type) + "\n";
  };
  for (const auto& [name, series] : counters_) {
    header(name, "counter");
    for (const auto& [labels, v] : series) out += name + Braced(labels) + " " + Num(v) + "\n";
  }
  for (const auto& [name, series] : histograms_) {
    header(name, "histogram");
    for (const auto& [labels, h] : series) {
      for (size_t i = 0; i < Bounds().size(); ++i)
        out += name + "_bucket" + Braced(labels, "le=\"" + Num(Bounds()[i]) + "\"") + " " +
               std::to_string(h.buckets[i]) + "\n";
      out +=
          name + "_bucket" + Braced(labels, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
      out += name + "_sum" + Braced(labels) + " " + Num(h.sum) + "\n";
      out += name + "_count" + Braced(labels) + " " + std::to_string(h.count) + "\n";
    }
  }
  for (const auto& [name, read] : gauges_) {
    header(name, "gauge");
    out += name + " " + Num(read()) + "\n";
  }
  return out;
}

}  // namespace tandem
