// A token bucket per remote: at most `rate_per_second` requests on average, bursts of up
// to `burst`. Acquire() reserves a token and sleeps (through Sleeper) until it is due, so
// waiting callers are served in arrival order without holding the lock while they sleep.
// Thread-safety: Acquire() is thread-safe.
#pragma once

#include <mutex>

#include "connector/http/http_types.h"

namespace tandem::connector::http {

class TokenBucket {
 public:
  // rate_per_second <= 0 disables limiting. REQUIRES: burst >= 1.
  TokenBucket(double rate_per_second, double burst, const Clock& clock, Sleeper& sleeper);

  // Blocks until a token is available; returns how long it waited.
  Millis Acquire();
  // Tokens available now (negative when callers are queued), for tests and metrics.
  double Available();
  // Lets through `factor` (0 < factor <= 1) of the configured rate from now on.
  void SetRateFactor(double factor);
  // This process's share (0 < share <= 1) of the configured rate, when several processes
  // share the remote's limit; the rate factor applies within it.
  void SetShare(double share);

 private:
  void RefillLocked(SteadyTime now);  // REQUIRES: mu_ held

  const double rate_;
  const double burst_;
  double factor_ = 1.0;  // GUARDED_BY(mu_)
  double share_ = 1.0;   // GUARDED_BY(mu_)
  const Clock& clock_;
  Sleeper& sleeper_;
  std::mutex mu_;
  double tokens_;    // GUARDED_BY(mu_)
  SteadyTime last_;  // GUARDED_BY(mu_)
};

// The pipeline stage: one token per attempt that reaches the wire, because the remote
// counts every attempt against its quota, retries included.
class RateLimitStage final : public HttpTransport {
 public:
  RateLimitStage(HttpTransportPtr next, TokenBucket& bucket)
      : next_(std::move(next)), bucket_(bucket) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override {
    bucket_.Acquire();
    return next_->Send(request);
  }

 private:
  HttpTransportPtr next_;
  TokenBucket& bucket_;
};

}  // namespace tandem::connector::http
