// Jobs: long runs (a migration) with their progress and checkpoint, and the matching keys a
// migration job collects per side while it runs.
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

struct Job {
  std::string id;
  std::string kind;
  std::string state = "running";  // running | done | failed
  std::string params;
  int64_t total = 0, processed = 0, failed = 0;
  std::string checkpoint;
  int64_t created_ms = 0, updated_ms = 0;
};

// A normalized key ("email:ann@example.com") and the record or row it belongs to.
struct MatchKey {
  std::string key;
  std::string ref;
};

class JobStore {
 public:
  explicit JobStore(Pool& pool) : pool_(pool) {}

  Status PutJob(const Job& job);
  Result<std::optional<Job>> GetJob(const std::string& id);
  // The `limit` jobs that moved last, newest first: of `kind`, or of every kind when it is
  // empty (the console's recent runs; `tandem migrate list`).
  Result<std::vector<Job>> RecentJobs(int limit, const std::string& kind = "");
  // The job's progress and the outcomes of its next records (JSON each, numbered from
  // `first_seq`), in one transaction: a poller never sees counts without their outcomes.
  Status PutJobWithOutcomes(const Job& job, int64_t first_seq,
                            const std::vector<std::string>& outcomes);
  // Outcomes with seq > `after_seq`, in order, at most `limit`: (seq, JSON).
  Result<std::vector<std::pair<int64_t, std::string>>> JobOutcomes(const std::string& job_id,
                                                                   int64_t after_seq, int limit);

  // Deletes up to `limit` jobs of `kind` with their outcomes: finished ones (done / failed) last
  // updated before `finished_before_ms`, and queued or running ones last updated before
  // `stalled_before_ms` (a process killed without a clean stop leaves them so). How many went.
  Result<int64_t> PurgeOldJobs(const std::string& kind, int64_t finished_before_ms,
                               int64_t stalled_before_ms, int limit);

  // --- migration matching keys (per job and side: "billing", "crm", "source") ---
  // Adds keys; a (key, ref) already there is kept once.
  Status AddMatchKeys(const std::string& job_id, const std::string& side,
                      const std::vector<MatchKey>& keys);
  // Every (key, ref) of `side` whose key is one of `keys`.
  Result<std::vector<MatchKey>> FindMatchKeys(const std::string& job_id, const std::string& side,
                                              const std::vector<std::string>& keys);
  Status DropMatchKeys(const std::string& job_id);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
