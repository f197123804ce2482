#include "migration/progress.h"

#include <cstdio>

namespace tandem::migration {
namespace {

std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return (n < 0 ? "-" : "") + out;
}

}  // namespace

ProgressReporter::ProgressReporter(std::ostream& out, bool terminal, const Clock& clock,
                                   std::chrono::seconds log_interval)
    : out_(out),
      terminal_(terminal),
      clock_(clock),
      log_interval_(log_interval),
      start_(clock.SteadyNow()),
      last_log_(start_) {}

std::string ProgressReporter::Line(int64_t done, int64_t total, int64_t failed,
                                   double rows_per_second, bool bar) {
  std::string out;
  if (bar && total > 0) {
    const int width = 24;
    const int filled = static_cast<int>(width * std::min<int64_t>(done, total) / total);
    out = "[" + std::string(static_cast<size_t>(filled), '#') +
          std::string(static_cast<size_t>(width - filled), '.') + "]  ";
  }
  out += Thousands(done) + (total > 0 ? "/" + Thousands(total) : "") + " rows  " +
         Thousands(static_cast<int64_t>(rows_per_second)) + " rows/s";
  if (total > done && rows_per_second > 0) {
    const int64_t eta = static_cast<int64_t>(static_cast<double>(total - done) / rows_per_second);
    char buf[32];
    std::snprintf(buf, sizeof buf, "  ETA %lld:%02lld", static_cast<long long>(eta / 60),
                  static_cast<long long>(eta % 60));
    out += buf;
  }
  if (failed > 0) out += "  " + Thousands(failed) + " failed";
  return out;
}

void ProgressReporter::Update(int64_t done, int64_t total, int64_t failed, int64_t done_before) {
  const SteadyTime now = clock_.SteadyNow();
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done - done_before) / seconds : 0;
  if (terminal_) {
    out_ << "\r" << Line(done, total, failed, rate, true) << "\033[K" << std::flush;
    drawn_ = true;
    return;
  }
  if (now - last_log_ < log_interval_ && done < total) return;
  last_log_ = now;
  out_ << "progress: " << Line(done, total, failed, rate, false) << "\n" << std::flush;
}

void ProgressReporter::Finish() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace tandem::migration
