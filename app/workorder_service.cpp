#include "app/workorder_service.h"

#include <unistd.h>

#include <algorithm>

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
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  process_id_ = std::string(host) + ":" + std::to_string(::getpid());
  rt_.metrics.Describe("tandem_workorder_tasks_total", "counter",
                       "work-order tasks run, by outcome (done, retried, failed, lost: the lease "
                       "had passed to another claim)");
  rt_.metrics.Describe("tandem_order_poll_api_calls_total", "counter",
                       "CRM API calls spent polling for activated orders");
  rt_.metrics.Describe("tandem_order_poll_interval_seconds", "gauge",
                       "the order poll interval, from the daily API allowance and its share");
  rt_.metrics.Describe("tandem_workorder_workers_active", "gauge",
                       "work-order workers running tasks now (workers.count..workers.max, as "
                       "billing can take more calls)");
  poll_interval_ms_ = poll_floor_.count();
  active_ = workers_.count;
  rt_.metrics.Gauge("tandem_workorder_workers_active",
                    [this] { return static_cast<double>(active_.load()); });
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

int TuneWorkers(int active, int least, int most, double in_flight, double wanted, bool ran) {
  if (in_flight > 1.1 * wanted) return std::max(least, active - std::max(1, active / 4));
  // One call in flight fills billing's rate (a remote on the same network): more workers
  // would only contend for the store.
  if (wanted >= 2 && in_flight < 0.75 * wanted && ran)
    return std::min(most, active + std::max(1, active / 4));
  return active;
}

int WorkOrderService::Threads() const {
  return workers_.count == 0 ? 0 : std::max(workers_.count, workers_.max);
}

void WorkOrderService::Start() {
  for (int i = 0; i < Threads(); ++i) {
    workorders::EngineOptions o;
    o.worker_id = process_id_ + ":" + std::to_string(i);
    o.lease = Millis(workers_.lease_ms);
    engines_.push_back(NewEngine(rt_, o, crash_));
  }
  for (int i = 0; i < Threads(); ++i)
    threads_.push_back(StartThread("workorders-" + std::to_string(i), [this, i] { WorkLoop(i); }));
  if (Threads() > workers_.count)
    threads_.push_back(StartThread("workorders-tuner", [this] { TuneLoop(); }));
  threads_.push_back(StartThread("order-poller", [this] { PollLoop(); }));
}

void WorkOrderService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  const int64_t now = ToEpochMillis(rt_.clock.Now());
  for (int i = 0; i < static_cast<int>(engines_.size()); ++i)
    (void)rt_.store->ReleaseTasks(process_id_ + ":" + std::to_string(i), now);
}

void WorkOrderService::WorkLoop(int index) {
  auto logger = log::Get("workorders");
  workorders::Engine& engine = *engines_[static_cast<size_t>(index)];
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (index >= active_.load()) {  // not needed now: billing has what it can take
      if (!Sleep(Millis(200))) return;
      continue;
    }
    auto stats = engine.RunOnce();
    if (!stats.ok()) {
      logger->warn("work-order worker: {}", stats.status().ToString());
      if (!Sleep(Millis(1000))) return;
      continue;
    }
    tasks_run_ += stats->ran;
    if (stats->done)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"done\"", stats->done);
    if (stats->retried)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"retried\"", stats->retried);
    if (stats->failed)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"failed\"", stats->failed);
    if (stats->lost)
      rt_.metrics.Count("tandem_workorder_tasks_total", "outcome=\"lost\"", stats->lost);
    if (stats->ran == 0 && !Sleep(Millis(200))) return;  // idle: look again soon
  }
}

void WorkOrderService::TuneLoop() {
  // Billing's calls in flight, sampled every 100 ms and averaged over 2 s (TuneWorkers).
  const connector::billing::BillingSystem& billing = rt_.billing->billing();
  double sampled = 0;
  int samples = 0;
  int64_t ran_before = tasks_run_.load();
  for (;;) {
    if (!Sleep(Millis(100))) return;
    sampled += billing.CallsInFlight();
    if (++samples < 20) continue;
    const double in_flight = sampled / samples;
    const double wanted = billing.PreferredInFlight();
    const int64_t ran = tasks_run_.load();
    const int active = active_.load();
    active_ = TuneWorkers(active, workers_.count, Threads(), in_flight, wanted, ran > ran_before);
    if (active_.load() != active)
      log::Get("workorders")
          ->debug("workers {} -> {} (billing: {:.1f} calls in flight, {:.0f} wanted)", active,
                  active_.load(), in_flight, wanted);
    sampled = 0;
    samples = 0;
    ran_before = ran;
  }
}

void WorkOrderService::PollLoop() {
  auto logger = log::Get("workorders");
  const OrderIntake intake = NewOrderIntake(rt_);
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
