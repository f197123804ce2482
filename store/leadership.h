// Leadership: which process runs the work one process at a time must do (the catalog
// scheduler, the order poller), by lock key; and how many processes share the store, so that
// each takes its share of the remotes' limits.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

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

  // Records `process_id` as alive at `now_ms` and answers how many processes (itself included)
  // were seen within the last `ttl_ms`; rows older than that are removed (a process killed
  // without leaving stops counting once its ttl has passed).
  Result<int> Heartbeat(const std::string& process_id, int64_t now_ms, int64_t ttl_ms);
  // Removes `process_id` at once (a graceful stop): the others take its share at their next
  // heartbeat.
  Status LeaveProcesses(const std::string& process_id);
  // How many times each process seen at or after `alive_ms` has beaten, by id.
  Result<std::map<std::string, int64_t>> ProcessBeats(int64_t alive_ms);

 private:
  struct Held;  // the dedicated connection and the locks it holds

  Pool& pool_;
  std::unique_ptr<Held> held_;
};

}  // namespace tandem::store
