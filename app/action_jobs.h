// Syncs too long for the caller to wait on run as jobs. Salesforce stops waiting for a callout
// after 120 s; a sync of 2,000 ids at real billing latency takes longer. So a request over
// server.async_after ids (or any asking "async": true) is answered 202 at once with a job id,
// the sync goes on in `serve` (200-id slices, pipelined: actions/sync.h), and
// GET /api/v1/jobs/{id} gives its progress and each record's outcome, from the store (any
// process answers it).
// A job a stopped process left running shows "interrupted" once it has not moved for
// kStalledAfter; sending the request again is safe (a sync is idempotent).
// Thread-safety: StartSync and JobJson are thread-safe; Stop from the owner.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actions/sync.h"
#include "store/store.h"
#include "util/json.h"
#include "util/metrics.h"

namespace tandem::app {

inline constexpr Millis kStalledAfter{10 * 60'000};
inline constexpr size_t kMaxQueued = 20;  // jobs waiting for a thread; more: 429

class ActionJobs {
 public:
  // `on_report`: each slice's report (for metrics); may be empty.
  ActionJobs(actions::Actions& actions, store::Store& store, const Clock& clock, int threads = 2,
             std::function<void(const std::string&, const actions::SyncReport&)> on_report = {});
  ~ActionJobs();

  // Records the job (state queued, 0 of ids.size() done) and queues it; returns its id.
  // RateLimited when kMaxQueued jobs wait already; Unavailable when stopping.
  Result<std::string> StartSync(const std::string& object, std::vector<std::string> ids);
  // The slices in hand finish; the rest of a running job and the queued jobs are recorded
  // failed, "interrupted".
  void Stop();

 private:
  struct Pending {
    store::Job job;
    std::string object;
    std::vector<std::string> ids;
  };
  void Run(Pending p);

  actions::Actions& actions_;
  store::Store& store_;
  const Clock& clock_;
  std::function<void(const std::string&, const actions::SyncReport&)> on_report_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;      // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

// One record's outcome as the API gives it: {"id","outcome","billing_id"?,"field"?,"reason"?}.
Json OutcomeJson(const Outcome& outcome);

// GET /api/v1/jobs/{id} of a sync job (state queued | running | done | failed | interrupted):
// {"job_id","kind","state","total","processed","failed","created_at",
// "updated_at","error"?,"outcomes":[...],"next"?}; outcomes after `after` (their "seq"), at
// most `limit`. NotFound for an unknown id or another kind of job (a migration's).
Result<Json> JobJson(store::JobStore& jobs, const std::string& id, int64_t after, int limit,
                     const Clock& clock);

// Deletes the sync jobs (and their per-record outcomes) that last moved more than `retention`
// ago, 500 a statement: the jobs table would otherwise grow with every large quick action. A
// caller polls a job for minutes, not days. One a killed process left queued or running goes
// too, but never before it shows interrupted (kStalledAfter). How many went.
Result<int64_t> PurgeOldSyncJobs(store::JobStore& jobs, const Clock& clock, Millis retention);

}  // namespace tandem::app
