// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
// Jitter"): delay = uniform(0, min(cap, base * 2^(retry-1))). Full jitter spreads retries of
// many clients so they do not hit a recovering remote in lockstep.
// Thread-safety: as thread-safe as the Random it is given (SeededRandom is).
#pragma once

#include "connector/http/backoff.h"
#include "util/random.h"

namespace tandem::connector::http {

class JitteredExponentialBackoff final : public Backoff {
 public:
  // REQUIRES: base > 0, cap >= base.
  JitteredExponentialBackoff(Millis base, Millis cap, Random& random)
      : base_(base), cap_(cap), random_(random) {}

  // Backoff methods
  Millis Delay(int retry) override;

  // The upper bound of the jitter window for `retry`, for tests and logs.
  Millis Ceiling(int retry) const;

 private:
  const Millis base_;
  const Millis cap_;
  Random& random_;
};

}  // namespace tandem::connector::http
