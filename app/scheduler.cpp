#include "app/scheduler.h"

#include "app/last_run.h"
#include "util/log.h"
#include "util/thread.h"

namespace tandem::app {

Scheduler::Scheduler(catalog_sync::CatalogSync& catalog, store::Store& store, const Clock& clock,
                     Millis interval)
    : catalog_(catalog), store_(store), clock_(clock), interval_(interval) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = StartThread("catalog-scheduler", [this] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, interval_, [this] { return stopping_ || triggered_; });
        if (stopping_) return;
        triggered_ = false;
      }
      RunOnce();
    }
  });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Trigger() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    triggered_ = true;
  }
  cv_.notify_all();
}

bool Scheduler::RunOnce() {
  auto logger = log::Get("app.scheduler");
  auto leader = store_.TryAcquireLeadership(kCatalogLock);
  if (!leader.ok()) {
    logger->warn("catalog sync skipped: {}", leader.status().ToString());
    return false;
  }
  if (!*leader) return false;  // another process leads: it runs the sync
  const WallTime at = clock_.Now();
  const SteadyTime started = clock_.SteadyNow();
  auto summary = catalog_.Run({});
  ++runs_;
  Json result = Json::MakeObject();
  result.Set("at", FormatRfc3339(at));
  result.Set("ok", summary.ok());
  if (summary.ok()) {
    result.Set("written", summary->written);
    result.Set("failed", summary->failed);
  } else {
    result.Set("error", summary.status().ToString());
  }
  result.Set("seconds", std::chrono::duration<double>(clock_.SteadyNow() - started).count());
  if (Status st = StoreLastRun(store_, kCatalogLastRun, result, at); !st.ok())
    logger->warn("catalog sync: keeping its outcome: {}", st.ToString());
  if (!summary.ok()) {
    logger->warn("catalog sync failed: {} (the next run resumes from the last cursor)",
                 summary.status().ToString());
    return true;
  }
  if (!summary->plan.empty() || summary->failed)
    logger->info("catalog sync: {} written, {} failed", summary->written, summary->failed);
  return true;
}

}  // namespace tandem::app
