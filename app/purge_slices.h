// Deletes in slices until a slice comes back short: each slice is its own short transaction,
// so a large backlog never holds a lock for long.
#pragma once

#include <cstdint>
#include <functional>

#include "util/result.h"

namespace tandem::app {

// Calls `purge(slice)` until it removes fewer than `slice` rows: the total, or the first error.
inline Result<int64_t> PurgeInSlices(int slice, const std::function<Result<int64_t>(int)>& purge) {
  int64_t total = 0;
  while (true) {
    auto purged = purge(slice);
    if (!purged.ok()) return purged.status();
    total += *purged;
    if (*purged < slice) return total;
  }
}

}  // namespace tandem::app
