// The scheduler of `tandem serve`: runs the catalog sync every `interval`, or at once when a
// catalog-changed webhook asks for it. With PostgreSQL only the process holding the advisory
// lock runs it, so several `tandem serve` processes on one database sync once, not N times.
// Each run's outcome is kept in the store (app/last_run.h, "catalog.last") for the console.
// Thread-safety: Trigger() and the counters are thread-safe; Start/Stop from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "catalog-sync/apply.h"

namespace tandem::app {

inline constexpr int64_t kCatalogLock = 7143220002;  // the catalog scheduler's advisory lock

class Scheduler {
 public:
  Scheduler(catalog_sync::CatalogSync& catalog, store::Store& store, const Clock& clock,
            Millis interval);
  ~Scheduler();

  void Start();
  void Stop();
  // Runs the catalog sync soon (a catalog-changed webhook arrived).
  void Trigger();
  // One scheduling round, for tests: runs the sync when this process leads. Returns whether
  // it ran.
  bool RunOnce();

  int64_t runs() const { return runs_.load(); }

 private:
  catalog_sync::CatalogSync& catalog_;
  store::Store& store_;
  const Clock& clock_;
  const Millis interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool triggered_ = false;  // GUARDED_BY(mu_)
  bool stopping_ = false;   // GUARDED_BY(mu_)
  std::atomic<int64_t> runs_{0};
  std::thread thread_;
};

}  // namespace tandem::app
