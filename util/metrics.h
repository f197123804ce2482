// Metrics: counters, gauges and latency histograms, rendered as Prometheus text for
// GET /metrics. Labels are given pre-formatted ('object="account",outcome="created"').
// Thread-safety: all methods are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tandem {

class Metrics {
 public:
  void Count(const std::string& name, const std::string& labels, double by = 1);
  // Latency in seconds into a histogram (buckets from 1 ms to 10 s).
  void Observe(const std::string& name, const std::string& labels, double seconds);
  // A gauge read when scraped (e.g. the inbox's pending events).
  void Gauge(const std::string& name, std::function<double()> read);
  // help text shown once per metric name.
  void Describe(const std::string& name, const std::string& type, const std::string& help);

  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> help_;     // GUARDED_BY(mu_)
  std::map<std::string, std::map<std::string, double>> counters_;       // GUARDED_BY(mu_)
  std::map<std::string, std::map<std::string, Histogram>> histograms_;  // GUARDED_BY(mu_)
  std::map<std::string, std::function<double()>> gauges_;               // GUARDED_BY(mu_)
};

}  // namespace tandem
