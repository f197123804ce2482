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

int64_t LimitShare::AliveSince() const { return ToEpochMillis(clock_.Now()) - 3 * every_.count(); }

void LimitShare::AwaitCounted(const Result<std::map<std::string, int64_t>>& at_join) {
  // Beats counted, not stamps compared: the peers' clocks may disagree. One not seen for
  // three heartbeats is dead (Beat's ttl) and waited for no longer.
  if (!at_join.ok()) return;  // a store that fails: the beats will tell
  const Millis poll = std::max(Millis(10), every_ / 20);
  // A live peer beats twice within about two `every`; one whose count never moves (a process
  // of an earlier version during a rolling upgrade keeps no count) is waited for no longer than
  // four.
  const SteadyTime give_up = clock_.SteadyNow() + 4 * every_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (clock_.SteadyNow() >= give_up) {
      log::Get("app")->warn("limit share: other processes did not count this one in {} ms",
                            (4 * every_).count());
      return;
    }
    lock.unlock();
    auto now = store_.ProcessBeats(AliveSince());
    lock.lock();
    if (!now.ok()) return;
    bool counted = true;
    for (const auto& [id, beats] : *at_join) {
      auto it = now->find(id);
      if (id != process_id_ && it != now->end() && it->second < beats + 2) counted = false;
    }
    if (counted) return;
    cv_.wait_for(lock, poll, [this] { return stopping_; });
  }
}

bool LimitShare::CountChanged() {
  auto beats = store_.ProcessBeats(AliveSince());
  return beats.ok() && static_cast<int>(beats->size()) != processes_.load();
}

void LimitShare::Start() {
  auto first = Beat();
  if (!first.ok()) log::Get("app")->warn("limit share: {}", first.status().ToString());
  const bool joining = first.ok() && *first > 1;
  // The others' beats, read at once: a prompt beat one makes on seeing this process must come
  // after this read to count (AwaitCounted).
  Result<std::map<std::string, int64_t>> at_join =
      joining ? store_.ProcessBeats(AliveSince()) : std::map<std::string, int64_t>{};
  // Beating on while it waits: processes starting together wait for each other's beats.
  thread_ = StartThread("limit-share", [this, joining] {
    // A joiner waits for two beats of each other process (AwaitCounted). Beats come every
    // `every`, but sooner when the count changed (one joined or left) and then twice more half
    // a heartbeat apart (a joiner that read the others' beats after the prompt one still waits
    // only a heartbeat): a joiner waits about half a heartbeat, not two. Two beats are never
    // less than half a heartbeat apart, counted from the end of the one before: the calls in
    // flight at the old share (Salesforce's and Stripe's take well under that) have ended by
    // the second.
    const Millis half = every_ / 2;
    const Millis poll = std::max(Millis(10), every_ / 8);
    int quick = joining ? 2 : 0;  // beats still to come half a heartbeat apart
    SteadyTime last = clock_.SteadyNow();
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, poll, [this] { return stopping_; })) {
      lock.unlock();
      const SteadyTime now = clock_.SteadyNow();
      const bool may = now >= last + half;
      const bool due = now >= last + (quick > 0 ? half : every_);
      const bool prompt = may && !due && CountChanged();
      if (due || prompt) {
        if (auto n = Beat(); !n.ok())
          log::Get("app")->warn("limit share: {}", n.status().ToString());
        last = clock_.SteadyNow();
        quick = prompt ? 2 : std::max(0, quick - 1);
      }
      lock.lock();
    }
  });
  if (joining) {
    log::Get("app")->info("limit share: waiting for the {} other process(es) to count this one",
                          *first - 1);
    AwaitCounted(at_join);
  }
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
