// Leadership: which process runs the work one process at a time must do (the catalog
// scheduler, the order poller), by lock key.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "util/result.h"

namespace tandem::store {

class Pool;

class LeadershipStore {
 public:
  explicit LeadershipStore(Pool& pool);
  ~LeadershipStore();

  // PostgreSQL: a session-level advisory lock on a dedicated connection, held until
  // ReleaseLeadership or the process dies. SQLite (one process): always granted.
  Result<bool> TryAcquireLeadership(int64_t lock_key);
  Status ReleaseLeadership(int64_t lock_key);

 private:
  struct Held;  // the dedicated connection and the locks it holds

  Pool& pool_;
  std::unique_ptr<Held> held_;
};

}  // namespace tandem::store
