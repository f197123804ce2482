// Key locks: mutual exclusion by key among every process sharing the store, leased (a holder
// that dies frees its keys when the lease runs out). What a billing adapter without
// idempotency keys holds while it looks up and then creates a record.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace tandem::store {

class Pool;

class KeyLockStore {
 public:
  explicit KeyLockStore(Pool& pool) : pool_(pool) {}

  // Takes `key` for `holder` until `until_ms`: true when it is free, its lease is over, or
  // `holder` has it already (the lease is then extended); false when another holder has it.
  Result<bool> TryLockKey(const std::string& key, const std::string& holder, int64_t now_ms,
                          int64_t until_ms);
  // Frees `key` if `holder` has it.
  Status UnlockKey(const std::string& key, const std::string& holder);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
