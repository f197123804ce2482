// A circuit breaker over a remote's answers: after `threshold` outage answers in a row
// (unavailable, timed out, throttled past the client's retries, or refusing Tandem's key) it
// opens and stays open, so a long job stops at once instead of failing every remaining record
// after its retries. An answer that is not an outage (success, or a refusal of that one record)
// closes the run. The caller decides what open means (migration: stop resumably).
// Thread-safety: all methods are thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "util/status.h"

namespace tandem {

class CircuitBreaker {
 public:
  explicit CircuitBreaker(int threshold) : threshold_(threshold) {}

  static bool IsOutage(const Status& s) { return s.IsTransient() || s.IsUnauthenticated(); }

  // Records one answer; true when the breaker is open after it.
  bool Record(const Status& answer) {
    std::lock_guard<std::mutex> lock(mu_);
    if (open_) return true;
    if (!IsOutage(answer)) {
      in_a_row_ = 0;
      return false;
    }
    last_ = answer;
    open_ = ++in_a_row_ >= threshold_;
    return open_;
  }

  bool open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

  // Why it opened: "N calls in a row failed; the last: ...".
  std::string Reason() const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::to_string(in_a_row_) + " calls in a row failed; the last: " + last_.ToString();
  }

 private:
  const int threshold_;
  mutable std::mutex mu_;
  int in_a_row_ = 0;   // GUARDED_BY(mu_)
  bool open_ = false;  // GUARDED_BY(mu_)
  Status last_;        // GUARDED_BY(mu_)
};

}  // namespace tandem
