// Work-order automation inside `tandem serve`: `count` worker threads, each with its own
// engine claiming batches of tasks from the shared store (TaskBatch), and the order poller
// and the daily renewal scan — run only by the process holding a PostgreSQL advisory lock, at an
// interval that keeps within a share of the CRM's daily API allowance. Stop() lets running tasks
// finish, then gives back what the workers had claimed, so another process takes it at once
// (graceful SIGTERM). Thread-safety: Start/Stop from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/config.h"
#include "app/runtime.h"
#include "workorders/engine.h"

namespace tandem::app {

inline constexpr int64_t kOrderPollLock = 7143220003;  // the order poller's advisory lock

// The tasks a worker claims and runs at once when workers.batch is 0: four per billing call
// its rate limit and latency call for (BillingSystem::PreferredInFlight), 8 to 64. A task
// spends about a third of its time in a billing call (the rest in the CRM and the store).
int TaskBatch(double billing_in_flight);

class WorkOrderService {
 public:
  // `crash` (tests): the engines' crash points, armed by `serve` from TANDEM_CRASH_AT.
  WorkOrderService(Runtime& runtime, const WorkersConfig& workers, Millis poll_floor,
                   Millis renewal_interval, CrashPoints* crash = nullptr);
  ~WorkOrderService();

  void Start();
  void Stop();

 private:
  void WorkLoop(int index);
  void PollLoop();
  bool Sleep(Millis d);  // false when stopping
  // As Sleep, but ends too when tasks were added since `*seen` (the count it last saw).
  bool SleepUnlessTasksAdded(Millis d, uint64_t* seen);
  void TasksAdded();

  Runtime& rt_;
  const WorkersConfig workers_;
  const Millis poll_floor_;
  const Millis renewal_interval_;
  CrashPoints* crash_;
  std::string process_id_;
  std::vector<std::unique_ptr<workorders::Engine>> engines_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;     // GUARDED_BY(mu_)
  uint64_t tasks_added_ = 0;  // GUARDED_BY(mu_): the poller's enqueues that added tasks
  std::atomic<int64_t> poll_interval_ms_{0};
};

}  // namespace tandem::app
