#include "app/workorder_service.h"

#include <algorithm>
#include <cmath>

#include "util/log.h"
#include "util/thread.h"

namespace tandem::app {

WorkOrderService::WorkOrderService(Runtime& runtime, const WorkersConfig& workers,
                                   Millis poll_floor, Millis renewal_interval, CrashPoints* crash)
    : rt_(runtime),
      workers_(workers),
      poll_floor_(poll_floor),
      renewal_interval_(renewal_interval),
      crash_(crash) {
  process_id_ = ProcessId();
  rt_.metrics.Describe("tandem_workorder_tasks_total", "counter",
                       "work-order tasks run, by outcome (done, retried, failed, lost: the lease "
                       "had passed to another claim)");
  rt_.metrics.Describe("tandem_order_poll_api_calls_total", "counter",
                       "CRM API calls spent polling for activated orders");
  rt_.metrics.Describe("tandem_order_poll_interval_seconds", "gauge",
                       "the order poll interval, from the daily API allowance and its share");
  poll_interval_ms_ = poll_floor_.count();
  // Read when /metrics is scraped; the service outlives the API server in `serve`.
  rt_.metrics.Gauge("tandem_order_poll_interval_seconds",
                    [this] { return static_cast<double>(poll_interval_ms_.load()) / 1000.0; });
}

WorkOrderService::~WorkOrderService() { Stop(); }

bool WorkOrderService::Sleep(Millis d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

bool WorkOrderService::SleepUnlessTasksAdded(Millis d, uint64_t* seen) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_ || tasks_added_ != *seen; });
  *seen = tasks_added_;
  return !stopping_;
}

void WorkOrderService::TasksAdded() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++tasks_added_;
  }
  cv_.notify_all();
}

namespace {
// The cycle of a worker's batches: each keeps taking tasks as its own finish until its worker's
// phase of the cycle comes round (0.5 to 1.5 cycles after its claim; EngineOptions). The orders
// it touched and did not settle are reported to the CRM when it ends: an Order's status trails
// by this plus the slowest task (a task retried inside its remote calls can take minutes; the sweep
// writes any report owed for longer than a lease, so the window stays well inside one). A
// window ends with its worker waiting for its last task: fixed windows of 2 s gave 79 tasks/s
// at CRM 300 ms, billing 150 ms, 100/s, and of 6 s 92 (bench_workorders, 1,000 orders); with
// the phases billing holds its configured rate (93 or 96 calls/s) from 10 % to 90 % of a run.
constexpr Millis kRefillFor(6'000);
}  // namespace

int TaskBatch(double billing_in_flight) {
  return std::clamp(static_cast<int>(std::ceil(4 * billing_in_flight)), 8, 64);
}

void WorkOrderService::Start() {
  const connector::billing::BillingSystem& billing = rt_.billing->billing();
  for (int i = 0; i < workers_.count; ++i) {
    workorders::EngineOptions o;
    o.worker_id = process_id_ + ":" + std::to_string(i);
    o.lease = Millis(workers_.lease_ms);
    o.claim_batch = workers_.batch;
    o.refill_for = std::min(kRefillFor, Millis(workers_.lease_ms / 4));
    o.first_refill_share = static_cast<double>(i + 1) / workers_.count;
    // Within the first worker's spacing, so the process's own workers stay evenly apart.
    o.refill_phase =
        static_cast<double>(std::hash<std::string>{}(process_id_) % 1000) / 1000.0 / workers_.count;
    if (workers_.batch == 0)
      o.claim_limit = [&billing] { return TaskBatch(billing.PreferredInFlight()); };
    engines_.push_back(NewEngine(rt_, o, crash_));
  }
  for (int i = 0; i < workers_.count; ++i)
    threads_.push_back(StartThread("workorders-" + std::to_string(i), [this, i] { WorkLoop(i); }));
  threads_.push_back(StartThread("order-poller", [this] { PollLoop(); }));
}

void WorkOrderService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& engine : engines_) engine->StopClaiming();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& engine : engines_) engine->FlushReports();
  const int64_t now = ToEpochMillis(rt_.clock.Now());
  for (int i = 0; i < static_cast<int>(engines_.size()); ++i)
    (void)rt_.store->ReleaseTasks(process_id_ + ":" + std::to_string(i), now);
}

void WorkOrderService::WorkLoop(int index) {
  auto logger = log::Get("workorders");
  workorders::Engine& engine = *engines_[static_cast<size_t>(index)];
  uint64_t seen = 0;  // tasks_added_ when this worker last looked
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    auto stats = engine.RunOnce();
    if (!stats.ok()) {
      logger->warn("work-order worker: {}", stats.status().ToString());
      if (!Sleep(Millis(1000))) return;
      continue;
    }
    if (stats->done)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"done\"", stats->done);
    if (stats->retried)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"retried\"", stats->retried);
    if (stats->failed)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"failed\"", stats->failed);
    if (stats->lost)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"lost\"", stats->lost);
    // Idle: look again soon, or once the poller adds tasks.
    if (stats->ran == 0 && !SleepUnlessTasksAdded(Millis(200), &seen)) return;
  }
}

void WorkOrderService::PollLoop() {
  auto logger = log::Get("workorders");
  const OrderIntake intake = NewOrderIntake(rt_, [this] { TasksAdded(); });
  SteadyTime last_renewal_scan{};
  bool scanned = false;
  std::atomic<int64_t>& interval_ms = poll_interval_ms_;
  for (;;) {
    auto leader = rt_.store->TryAcquireLeadership(kOrderPollLock);
    if (leader.ok() && *leader) {
      auto polled = intake.poller->PollOnce();
      if (!polled.ok()) {
        logger->warn("order poll: {}", polled.status().ToString());
      } else {
        rt_.metrics.Count("tandem_order_poll_api_calls_total", "", polled->api_calls);
        if (polled->enqueued) logger->info("order poll: {} orders enqueued", polled->enqueued);
        if (!scanned || rt_.clock.SteadyNow() - last_renewal_scan >= renewal_interval_) {
          auto renewed = intake.renewals->RunOnce();
          if (renewed.ok()) {
            scanned = true;
            last_renewal_scan = rt_.clock.SteadyNow();
            if (*renewed) logger->info("renewal scan: {} subscriptions to renew", *renewed);
          } else {
            logger->warn("renewal scan: {}", renewed.status().ToString());
          }
        }
        auto limits = rt_.crm->client().Limits();
        if (limits.ok())
          interval_ms = workorders::PollInterval(limits->daily_max, workers_.poll_api_share,
                                                 std::max(1, polled->api_calls), poll_floor_)
                            .count();
      }
    }
    if (!Sleep(Millis(interval_ms.load()))) break;
  }
}

}  // namespace tandem::app
