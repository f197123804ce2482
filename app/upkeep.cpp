#include "app/upkeep.h"

#include <algorithm>

#include "util/log.h"
#include "util/thread.h"

namespace tandem::app {

Upkeep::Upkeep(store::Store& store, const Clock& clock, std::vector<UpkeepJob> jobs)
    : store_(store), clock_(clock), jobs_(std::move(jobs)), last_run_(jobs_.size()) {}

Upkeep::~Upkeep() { Stop(); }

void Upkeep::Start() {
  if (jobs_.empty()) return;
  Millis tick = jobs_.front().every;
  for (const auto& j : jobs_) tick = std::min(tick, j.every);
  tick = std::max(tick, Millis(100));
  thread_ = StartThread("upkeep", [this, tick] {
    for (;;) {
      RunOnce();
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, tick, [this] { return stopping_; })) return;
    }
  });
}

void Upkeep::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Upkeep::RunOnce() {
  auto leader = store_.TryAcquireLeadership(kUpkeepLock);
  if (!leader.ok() || !*leader) return 0;  // another process leads (or the store is down)
  int ran = 0;
  for (size_t i = 0; i < jobs_.size(); ++i) {
    const SteadyTime now = clock_.SteadyNow();
    if (last_run_[i] && now - *last_run_[i] < jobs_[i].every) continue;
    last_run_[i] = now;
    ++ran;
    if (Status st = jobs_[i].run(); !st.ok())
      log::Get("app.upkeep")->warn("{}: {}", jobs_[i].name, st.ToString());
  }
  return ran;
}

}  // namespace tandem::app
