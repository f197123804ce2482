// Progress of a long migration: on a terminal, one line redrawn in place (a bar, rows,
// rows/s, ETA); otherwise (CI, a pipe, a log collector) a plain line at most every
// `log_interval`, so logs stay readable. Thread-safety: one thread.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "util/clock.h"

namespace tandem::migration {

class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, bool terminal, const Clock& clock,
                   std::chrono::seconds log_interval = std::chrono::seconds(10));

  // `done_before`: rows a resumed job had done before this run (not counted in the rate).
  void Update(int64_t done, int64_t total, int64_t failed, int64_t done_before = 0);
  void Finish();  // ends the redrawn line

  // "[#########...........]  45,000/100,000 rows  3,210 rows/s  ETA 0:17  12 failed"
  static std::string Line(int64_t done, int64_t total, int64_t failed, double rows_per_second,
                          bool bar);

 private:
  std::ostream& out_;
  const bool terminal_;
  const Clock& clock_;
  const std::chrono::seconds log_interval_;
  const SteadyTime start_;
  SteadyTime last_log_;
  bool drawn_ = false;
};

}  // namespace tandem::migration
