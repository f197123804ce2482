#include "app/limit_share.h"

#include "util/log.h"
#include "util/thread.h"

namespace tandem::app {

LimitShare::LimitShare(store::LeadershipStore& store, const Clock& clock, std::string process_id,
                       std::function<void(int)> apply, Millis every)
    : store_(store),
      clock_(clock),
      process_id_(std::move(process_id)),
      apply_(std::move(apply)),
      every_(every) {}

LimitShare::~LimitShare() { Stop(); }

Result<int> LimitShare::Beat() {
  auto n = store_.Heartbeat(process_id_, ToEpochMillis(clock_.Now()), 3 * every_.count());
  if (!n.ok()) return n.status();  // the last share holds until the store answers again
  const int count = std::max(1, *n);
  if (processes_.exchange(count) != count) {
    apply_(count);
    log::Get("app")->info(
        "{} process(es) share this store: each keeps 1/{} of the remotes' "
        "limits",
        count, count);
  }
  return count;
}

void LimitShare::Start() {
  if (auto first = Beat(); !first.ok())
    log::Get("app")->warn("limit share: {}", first.status().ToString());
  thread_ = StartThread("limit-share", [this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, every_, [this] { return stopping_; })) {
      lock.unlock();
      if (auto n = Beat(); !n.ok()) log::Get("app")->warn("limit share: {}", n.status().ToString());
      lock.lock();
    }
  });
}

void LimitShare::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    (void)store_.LeaveProcesses(process_id_);
  }
}

void LimitShare::Describe(Metrics& metrics) {
  metrics.Describe("tandem_limit_share_processes", "gauge",
                   "processes sharing this store and so the remotes' rate and concurrency "
                   "limits (each keeps 1/N)");
  metrics.Gauge("tandem_limit_share_processes",
                [this] { return static_cast<double>(processes_.load()); });
}

}  // namespace tandem::app
