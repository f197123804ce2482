// LimitShare: the `tandem serve` processes sharing one store split the remotes' limits (the
// billing rate, billing.rate_per_second; the CRM's requests at once,
// crm.max_concurrent_requests), so that N processes together stay within what one is allowed.
// Each records itself in the store every `every` and keeps 1/N of each limit, N being the
// processes seen within three heartbeats. A stopped process leaves at once; one killed stops
// counting three heartbeats later (until then the others run below their share, never above).
// A process that finds others already there calls no remote until they have counted it (see
// Start), so the processes together stay within the limits while one joins, too.
// Thread-safety: Start/Stop from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "store/leadership.h"
#include "util/clock.h"
#include "util/metrics.h"

namespace tandem::app {

class LimitShare {
 public:
  // `apply(n)` gives this process 1/n of each limit (ShareLimits in app/runtime.h).
  LimitShare(store::LeadershipStore& store, const Clock& clock, std::string process_id,
             std::function<void(int)> apply, Millis every = Millis(2'000));
  ~LimitShare();

  // Beats once (so the share holds before the first remote call), then every `every`, and
  // sooner when the processes counted change (see the loop in Start). When others were
  // already there, it returns only after each of them has beaten twice since: at the first
  // they lower their share, by the second (at least half an `every` later) the calls they had
  // in flight at the old share have ended (about half an `every`; one not beating within
  // three is dead and stops the wait).
  void Start();
  // Leaves the store's list: the others take this process's share at their next heartbeat.
  void Stop();
  // One heartbeat: records this process and applies the share; the processes counted.
  Result<int> Beat();
  // Shows the count as tandem_limit_share_processes.
  void Describe(Metrics& metrics);

 private:
  // Waits until every other process in `at_join` (the beats read just after this one's first)
  // has beaten twice since (or died), at most four `every`.
  void AwaitCounted(const Result<std::map<std::string, int64_t>>& at_join);
  // Heartbeats stamped after this are alive.
  int64_t AliveSince() const;
  // Whether the live processes in the store are not the count applied (one joined or left).
  bool CountChanged();

  store::LeadershipStore& store_;
  const Clock& clock_;
  const std::string process_id_;
  const std::function<void(int)> apply_;
  const Millis every_;
  std::atomic<int> processes_{1};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tandem::app
