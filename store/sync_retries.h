// Sync failures: the records a sync could not bring to billing, each retried on a back-off
// schedule (e.g. after 30 min, 1 h, 2 h, ... at most every 12 h, for 7 days) until a sync of it
// succeeds, then dropped; past the give-up age it stays listed, not retried.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

struct RetryPolicy {
  int64_t first_ms = 30 * 60'000LL;             // the first retry, this long after the failure
  int64_t max_interval_ms = 12 * 3'600'000LL;   // the delay doubles up to this
  int64_t give_up_after_ms = 7 * 86'400'000LL;  // since the first failure
};

// When the next retry of a record that has now failed `attempts` times (the first failure at
// `first_failed_ms`) is due; nullopt: give up.
std::optional<int64_t> NextRetryMs(const RetryPolicy& policy, int attempts, int64_t first_failed_ms,
                                   int64_t now_ms);

struct SyncFailure {
  std::string object;  // the object map ("account")
  std::string crm_id;
  int64_t first_failed_ms = 0;
  int64_t last_failed_ms = 0;
  int attempts = 0;
  std::optional<int64_t> next_retry_ms;  // nullopt: given up
  std::string last_error;
};

struct SyncFailureFilter {
  std::string state;   // "pending" | "given_up" | "" (both)
  std::string object;  // "" = every object map
  // Keyset paging in (object, crm_id) order: the last row of the previous page.
  std::string after_object, after_crm_id;
  int limit = 50;
};

class SyncRetryStore {
 public:
  explicit SyncRetryStore(Pool& pool) : pool_(pool) {}

  // What a sync came to, in one transaction: each failed record (crm id, error) is scheduled
  // again by `policy` (or given up), each resolved one leaves the list. A given-up record that
  // fails again (a sync by hand) starts a new schedule.
  Status NoteSyncOutcomes(const std::string& object,
                          const std::vector<std::pair<std::string, std::string>>& failed,
                          const std::vector<std::string>& resolved, const RetryPolicy& policy,
                          int64_t now_ms);
  // Retries due at `now_ms`, the longest-waiting first.
  Result<std::vector<SyncFailure>> DueSyncRetries(int64_t now_ms, int limit);
  Result<std::vector<SyncFailure>> ListSyncFailures(const SyncFailureFilter& filter);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
