// Step 5's engine: work orders as durable task rows. Enqueue reads activated orders (a page of
// them in 2 CRM calls), plans each from the templates and stores its tasks (keys make this
// idempotent). RunOnce claims a batch of runnable tasks (FOR UPDATE SKIP LOCKED on
// PostgreSQL; SQLite has one writer) and runs them at once: each waits mostly on a remote, and
// the billing client's flow control keeps its calls within the rate. Each result is recorded —
// or, on a transient error, the next attempt after a backoff; on a permanent error or the last
// attempt, the failure. Once an order has no task to run now (its last is done, or one failed
// or waits for its retry) its Automation_Status__c / _Progress__c / _Error__c in the CRM say
// where it stands, written while the batch runs on (RunOnce); each task's result records in
// the store that this is owed, so a report lost to a crash or a failed CRM write is written
// by any worker's sweep a lease later. A crash leaves
// claimed tasks leased; another worker takes them when the lease ends, and their idempotency keys
// make the billing calls replay, not repeat. Thread-safety: one Engine per worker thread; any
// number of engines may share a store. Enqueue alone changes no Engine state and may be called
// from several threads at once (the order poll takes a page's orders in together).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "util/crash_point.h"
#include "workorders/plan.h"
#include "workorders/tasks.h"

namespace tandem::workorders {

struct EngineOptions {
  std::string worker_id = "worker";
  // A claimed task is another worker's after this, unless renewed: the engine renews it every
  // third of it while the task runs, so only a worker that died (or hangs) loses its tasks.
  Millis lease{Millis(60'000)};
  Millis backoff_base{Millis(1'000)};   // transient failure n waits base × 2^(n-1) …
  Millis backoff_max{Millis(300'000)};  // … up to this
  // Tasks claimed and run at once: `claim_limit()` when set (read before each claim; it
  // follows the remote), else `claim_batch`.
  int claim_batch = 10;
  std::function<int()> claim_limit;
  // For this long after the claim, each of the batch's threads takes another runnable task as
  // its own finishes (a task's successor among them), and one more for each thread the batch
  // is short of its size (`claim_limit()` then), run on threads of their own: no thread waits
  // for the batch's slowest task, and tasks that became runnable meanwhile join the batch at
  // once. 0: the batch alone, and the orders it touched and did not settle are reported when
  // it ends; with a refill, those still in progress are left to their next task (RunOnce).
  Millis refill_for{0};
  // The first batch after an idle spell takes tasks for this share of `refill_for` [0, 1];
  // later ones until the next time this share of a `refill_for` cycle comes round (of the
  // steady clock; at least half a cycle on). Workers that go busy together would otherwise end
  // their windows together and wait for their last tasks at once, leaving billing short every
  // window: each keeps its own phase. Windows of a fixed length drifted back into step (three
  // of four workers ending within 10 ms: billing at 53 calls in a second of 93).
  double first_refill_share = 1.0;
  // Added to that share for the later batches' phase: a process's own offset, so that worker k
  // of every process on a host does not end its windows with the others' worker k.
  double refill_phase = 0;
  // Called once an Enqueue has stored new tasks, before it writes the orders' state to the CRM:
  // idle workers look for work at once rather than at their next look (up to 200 ms later).
  std::function<void()> on_tasks_added;
};

struct EnqueueResult {
  std::vector<PlannedTask> plan;
  int added = 0;  // tasks new to the store (0: the order was enqueued before)
};

struct EnqueueBatch {
  std::vector<Result<EnqueueResult>> results;  // one per order id, in their order
  int crm_calls = 0;
};

struct RunStats {
  int ran = 0, done = 0, retried = 0, failed = 0;
  int lost = 0;  // ran, but the lease had passed to another claim: its result was not recorded
};

// The state of an order's tasks: Pending | In Progress | Scheduled | Completed | Failed.
// Scheduled: everything that can be done is done, and the rest (or the billing itself) waits
// for the order's effective date, `scheduled_until_ms`.
struct OrderState {
  std::string status;
  int total = 0, done = 0, failed = 0;
  std::string error;  // the first permanent failure
  int64_t scheduled_until_ms = 0;
  // Order items whose new inventory record is done, by item id: the report points each at it
  // (OrderItem.Service_Subscription__c) in the same Collections call as the Order's state.
  std::map<std::string, std::string> item_links;
};

// When a refilling batch claimed at `claimed_at` stops taking tasks: at the first time at least
// half a `period` on whose place in the cycles of `period` (counted from the steady clock's
// epoch) is `phase` of a period (its fraction: 1.25 is 0.25).
SteadyTime RefillEnd(SteadyTime claimed_at, Millis period, double phase);

class Engine {
 public:
  Engine(TaskDeps deps, const Templates& templates, EngineOptions options,
         CrashPoints* crash = nullptr);

  // Reads, plans and stores the orders' tasks. A plan that cannot be made (no template for
  // an item) marks the order Failed in the CRM with the reason: InvalidArgument. An id with
  // no Order: NotFound.
  EnqueueBatch Enqueue(const std::vector<std::string>& order_ids);
  Result<EnqueueResult> Enqueue(const std::string& order_id);
  // Claims a batch of tasks (EngineOptions::claim_limit) and runs them at once.
  Result<RunStats> RunOnce();
  // Ends the refill of a running RunOnce (the tasks started finish): a stopping process.
  void StopClaiming() { stop_claiming_ = true; }
  // Writes what the last refilling batch left for the next one to report (see RunOnce): a
  // stopped worker's. Not while RunOnce runs.
  void FlushReports();
  // Where the order stands, from its task rows.
  Result<OrderState> State(const std::string& order_id);
  // Writes the orders' states to the CRM now (an operator changed their tasks); the outcome
  // per order. A failed write stays owed: the sweep writes it later.
  std::map<std::string, Status> ReportNow(const std::vector<std::string>& order_ids) {
    return Report(order_ids);
  }

 private:
  enum class Outcome { kDone, kRetried, kFailed, kLost };
  // `settles`: this run leaves the order with no task to run now (its last task is done, or
  // this one failed or waits to be retried): it is reported at once.
  Result<Outcome> RunTask(const store::Task& task, const store::Lease& lease, bool* settles);
  // Writes the orders' states to the CRM (Collections of 200) and clears what the store says
  // they owe. The outcome per order; `crm_calls` counts the calls spent.
  std::map<std::string, Status> Report(const std::vector<std::string>& order_ids,
                                       int* crm_calls = nullptr);
  std::map<std::string, Status> WriteReports(const std::vector<std::string>& order_ids,
                                             int* crm_calls);
  // Writes the reports owed for longer than a lease (their worker died or the write failed).
  Status SweepReports(int64_t now_ms);
  Millis Backoff(int attempts) const;
  // Of orders a batch touched: those still owed a report and not in progress.
  std::vector<std::string> StillToReport(const std::set<std::string>& orders);

  TaskDeps deps_;
  TaskLibrary library_;
  const Templates& templates_;
  EngineOptions options_;
  CrashPoints* crash_;
  int64_t last_sweep_ms_ = 0;
  bool idle_ = true;               // the last claim found nothing (RunOnce runs on one thread)
  std::set<std::string> carried_;  // orders the last batch left to report (RunOnce's thread)
  std::atomic<bool> stop_claiming_{false};
  std::string writer_;               // this engine's id in its report writes' rows
  std::atomic<uint64_t> writes_{0};  // report writes so far (Enqueue's may run at once)
};

}  // namespace tandem::workorders
