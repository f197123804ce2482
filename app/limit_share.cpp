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

void LimitShare::AwaitBeatsSince(int64_t since_ms) {
  const Millis poll = std::max(Millis(10), every_ / 20);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // One not seen for three heartbeats is dead (Beat's ttl): it is waited for no longer.
    const int64_t alive = ToEpochMillis(clock_.Now()) - 3 * every_.count();
    auto behind = store_.ProcessesNotSeenSince(process_id_, since_ms, alive);
    lock.lock();
    if (!behind.ok() || *behind == 0) return;  // a store that fails: the beats will tell
    cv_.wait_for(lock, poll, [this] { return stopping_; });
  }
}

void LimitShare::Start() {
  const int64_t joined = ToEpochMillis(clock_.Now());
  auto first = Beat();
  if (!first.ok()) {
    log::Get("app")->warn("limit share: {}", first.status().ToString());
  } else if (*first > 1) {
    log::Get("app")->info("limit share: waiting for the {} other process(es) to count this one",
                          *first - 1);
    AwaitBeatsSince(joined + 1);
    AwaitBeatsSince(ToEpochMillis(clock_.Now()) + 1);
    (void)Beat();
  }
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
