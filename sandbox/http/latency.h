// The network an emulator pretends to be behind: every API request waits a fixed time plus a
// uniform jitter before it is served, as a request to the real service would (Salesforce
// answers in hundreds of milliseconds, Stripe in 100-300, loopback in one). Admin requests
// (/__sandbox/...) are not delayed.
// Thread-safety: Delay may be called concurrently.
#pragma once

#include <string>

#include "util/clock.h"
#include "util/random.h"

namespace tandem::sandbox {

struct Latency {
  int fixed_ms = 0;
  int jitter_ms = 0;  // the delay is fixed_ms ± jitter_ms, uniformly (never below 0)
};

class NetworkDelay {
 public:
  explicit NetworkDelay(Latency latency) : latency_(latency) {}
  // How long the request to `path` waits.
  Millis Delay(const std::string& path);

 private:
  const Latency latency_;
  SeededRandom random_{7};
};

}  // namespace tandem::sandbox
