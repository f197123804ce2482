#include "connector/http/jittered_backoff.h"

#include <algorithm>

namespace tandem::connector::http {

Millis JitteredExponentialBackoff::Ceiling(int retry) const {
  const int shift = std::clamp(retry - 1, 0, 30);
  const int64_t ceiling = base_.count() << shift;
  return Millis(std::min<int64_t>(ceiling, cap_.count()));
}

Millis JitteredExponentialBackoff::Delay(int retry) {
  const int64_t ceiling = Ceiling(retry).count();
  return Millis(static_cast<int64_t>(random_.Uniform(static_cast<uint64_t>(ceiling) + 1)));
}

}  // namespace tandem::connector::http
