// Overview: what the operator console shows at a glance — how much work waits or failed in each
// queue, what was done minute by minute, and the latest runs. Read-only, a few indexed queries.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

// Rows per state of each queue: "tasks" (work-order tasks), "inbox" (billing events), "jobs"
// (syncs answered 202, migrations), "sync_failures" ("pending" retries, "given_up").
using QueueDepths = std::map<std::string, std::map<std::string, int64_t>>;

// Work done in [since, since + buckets × bucket_ms), one count per bucket, oldest first:
// records a sync created or updated in billing, work-order tasks finished, billing events
// received.
struct Activity {
  std::vector<int64_t> synced, tasks_done, events_received;
};

class OverviewStore {
 public:
  explicit OverviewStore(Pool& pool) : pool_(pool) {}

  Result<QueueDepths> CountQueues();
  Result<Activity> CountActivity(int64_t since_ms, int64_t bucket_ms, int buckets);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
