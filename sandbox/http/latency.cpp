#include "sandbox/http/latency.h"

#include <algorithm>

namespace tandem::sandbox {

Millis NetworkDelay::Delay(const std::string& path) {
  if (path.rfind("/__sandbox", 0) == 0) return Millis(0);
  int64_t ms = latency_.fixed_ms;
  if (latency_.jitter_ms > 0)
    ms += static_cast<int64_t>(random_.Uniform(2 * static_cast<uint64_t>(latency_.jitter_ms) + 1)) -
          latency_.jitter_ms;
  return Millis(std::max<int64_t>(0, ms));
}

}  // namespace tandem::sandbox
