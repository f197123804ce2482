// Backoff: how long to wait before retry number `retry` (1-based). Interface only
// (Envoy's backoff_strategy.h); the implementation takes its randomness as a Random&.
// Thread-safety: implementations must be safe to call concurrently.
#pragma once

#include <memory>

#include "util/clock.h"

namespace tandem::connector::http {

class Backoff {
 public:
  virtual ~Backoff() = default;
  virtual Millis Delay(int retry) = 0;
};
using BackoffPtr = std::unique_ptr<Backoff>;

}  // namespace tandem::connector::http
