#include "connector/http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace tandem::connector::http {

TokenBucket::TokenBucket(double rate_per_second, double burst, const Clock& clock, Sleeper& sleeper)
    : rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      clock_(clock),
      sleeper_(sleeper),
      tokens_(std::max(1.0, burst)),
      last_(clock.SteadyNow()) {}

void TokenBucket::RefillLocked(SteadyTime now) {
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed > 0) {
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_ * factor_ * share_);
    last_ = now;
  }
}

Millis TokenBucket::Acquire() {
  if (rate_ <= 0) return Millis(0);
  Millis wait(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    RefillLocked(clock_.SteadyNow());
    tokens_ -= 1.0;  // reserve now; a negative balance is the queue of waiting callers
    if (tokens_ < 0)
      wait =
          Millis(static_cast<int64_t>(std::ceil(-tokens_ / (rate_ * factor_ * share_) * 1000.0)));
  }
  if (wait.count() > 0) sleeper_.Sleep(wait);
  return wait;
}

void TokenBucket::SetRateFactor(double factor) {
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked(clock_.SteadyNow());  // the time so far at the old rate
  factor_ = std::clamp(factor, 0.01, 1.0);
}

void TokenBucket::SetShare(double share) {
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked(clock_.SteadyNow());
  share_ = std::clamp(share, 0.001, 1.0);
}

double TokenBucket::Available() {
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked(clock_.SteadyNow());
  return tokens_;
}

}  // namespace tandem::connector::http
