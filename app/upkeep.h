// The leader's periodic jobs in `tandem serve`: each runs every `every` on the one process
// that holds the upkeep's advisory lock (with several processes on one PostgreSQL, once, not
// N times; another takes over when that process stops): the sync retries, the scheduled
// reconcile, the change poll of `sync: on_change` maps.
// Thread-safety: Start/Stop from one thread; RunOnce is for tests, not while started.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "util/clock.h"

namespace tandem::app {

inline constexpr int64_t kUpkeepLock = 7143220005;  // the upkeep's advisory lock

struct UpkeepJob {
  std::string name;  // for the log
  Millis every;
  std::function<Status()> run;
};

class Upkeep {
 public:
  Upkeep(store::Store& store, const Clock& clock, std::vector<UpkeepJob> jobs);
  ~Upkeep();

  void Start();
  void Stop();
  // One round: the jobs that are due run when this process leads. How many ran.
  int RunOnce();

 private:
  store::Store& store_;
  const Clock& clock_;
  std::vector<UpkeepJob> jobs_;
  std::vector<std::optional<SteadyTime>> last_run_;  // per job; only the upkeep thread
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tandem::app
