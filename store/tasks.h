// Tasks: a durable queue of work-order steps, claimed under a lease by any worker of any
// process, and the reports each work order owes the CRM once its tasks finish.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

struct TaskSpec {
  std::string key;       // unique and deterministic: also the billing idempotency key
  std::string group_id;  // the work order / job the task belongs to
  std::string kind;
  std::string payload;
  std::string depends_on;  // key of a task that must be done first; empty for none
  int max_attempts = 5;
  int64_t run_at_ms = 0;
};

struct Task {
  int64_t id = 0;
  std::string key, group_id, kind, payload, depends_on, state;
  int attempts = 0;
  int max_attempts = 0;
  int64_t next_run_ms = 0;
  std::string claimed_by;
  std::string result, last_error;
  int64_t lease_token = 0;  // the claim that holds it (a new one on every claim)
};

// A work order (a group of tasks) as an operator sees it.
struct GroupSummary {
  std::string group_id;
  int total = 0, done = 0, failed = 0, pending = 0, running = 0, dismissed = 0;
  int64_t updated_ms = 0;  // the last change to any of its tasks
  std::string first_error;
};

struct GroupFilter {
  // "failed": a task failed for good; "open": a task not yet done (pending, running or
  // failed); "done": every task done or dismissed; "": any.
  std::string state;
  std::string group_id;           // this group alone
  std::string account_id;         // groups whose tasks were planned for this CRM account
  int64_t changed_before_ms = 0;  // last changed before this (age); 0: any
  std::string after;              // keyset paging: groups after this id
  int limit = 50;
};

// What an operator does to a group's unfinished tasks (workorders/recovery.h says when).
enum class TaskAction {
  kRetry,     // failed -> pending, now, with as many attempts again
  kDismiss,   // failed or pending -> dismissed (`note`: the reason)
  kComplete,  // failed or pending -> done (`note`: the result: a person did it in billing)
};
struct TaskChange {
  TaskAction action = TaskAction::kRetry;
  int64_t task_id = 0;  // 0: every task of the group the action applies to
  std::string note;
};

// A task a restart keeps: its key, and the key it now depends on.
struct KeptTask {
  std::string key;
  std::string depends_on;
};

// A claim on a running task: the fencing token that completing, failing or renewing it must
// present, so a worker whose lease ran out cannot record a result over the next claim's.
struct Lease {
  int64_t task_id = 0;
  int64_t token = 0;
  static Lease Of(const Task& t) { return Lease{t.id, t.lease_token}; }
};

// A work order whose state is owed to the CRM (see store/migrations/0006_order_reports.sql).
struct ReportDue {
  std::string group_id;
  int64_t seq = 0;
  std::string row;       // the row's key: group_id, or a date reminder's or a write's own
  bool writing = false;  // a write in flight (BeginReportWrites), not a state owed
};

class TaskStore {
 public:
  explicit TaskStore(Pool& pool) : pool_(pool) {}

  // Enqueues a task; returns false when a task with the same key exists (nothing doubled).
  Result<bool> EnqueueTask(const TaskSpec& spec, int64_t now_ms);
  // Enqueues the tasks in one transaction: a claim sees all of them or none (workers claiming
  // while a poll page's hundreds of tasks went in one by one took the first few and ran
  // batches of one or two for seconds). Per task, whether it was added.
  Result<std::vector<bool>> EnqueueTasks(const std::vector<TaskSpec>& tasks, int64_t now_ms);
  // Claims up to `limit` runnable tasks (running with an expired lease, or pending, due and
  // not waiting for their dependency) for `worker` until now + lease. PostgreSQL: FOR UPDATE
  // SKIP LOCKED, so concurrent workers never claim the same task. Its cost follows `limit`,
  // not the tasks in the store: a task is marked waiting while its dependency is not done and
  // freed in the transaction that makes the dependency done.
  Result<std::vector<Task>> ClaimTasks(const std::string& worker, int limit, int64_t now_ms,
                                       int64_t lease_ms);
  // Frees waiting tasks whose dependency is done, which their dependency's transaction did
  // not see: a dependent inserted on PostgreSQL while its dependency completed. Returns how
  // many. The engine calls it with its sweep.
  Result<int> FreeWaitingTasks();
  // Completing, failing and renewing take the claim's Lease and fail with Conflict when the
  // task is no longer held by it (the lease ran out and the task was claimed again).
  Status CompleteTask(const Lease& lease, const std::string& result, int64_t now_ms);
  // Records the error; the task runs again at retry_at_ms, or is failed for good when it
  // has used all its attempts. Returns the new state.
  // `permanent`: failed for good now (retrying cannot help).
  Result<std::string> FailTask(const Lease& lease, const std::string& error, int64_t retry_at_ms,
                               int64_t now_ms, bool permanent = false);
  // Extends a running task's lease to until_ms (a worker whose task outlasts the lease). Ok
  // when the task ended under this lease; Conflict when another claim holds it.
  Status RenewLease(const Lease& lease, int64_t until_ms, int64_t now_ms);
  // Gives claimed tasks back (graceful shutdown), so another worker picks them up at once.
  Status ReleaseTasks(const std::string& worker, int64_t now_ms);
  Result<std::vector<Task>> TasksInGroup(const std::string& group_id);

  // --- recovery by an operator ---
  // Groups matching `filter`, by group id (keyset paged). Superseded tasks do not count.
  Result<std::vector<GroupSummary>> ListGroups(const GroupFilter& filter);
  // Applies `change` in one transaction and records that the group owes its report. Returns the
  // tasks changed. Conflict, nothing changed, when a task it would change is running, or when
  // no task is in a state the action applies to; NotFound for an unknown group or task.
  Result<int> ChangeTasks(const std::string& group_id, const TaskChange& change, int64_t now_ms);
  // A restart, in one transaction: the group's unfinished tasks (pending or failed) become
  // `superseded`, except those `keep` names (they run again under their key, with their
  // dependency as given), and `add` is enqueued — a superseded row `add` names is revived, its
  // payload and attempts kept. Conflict, nothing changed, when a task is running or when one
  // of `seen_open` (the unfinished tasks the plan was made from) has finished since.
  Status Replan(const std::string& group_id, const std::vector<KeptTask>& keep,
                const std::vector<TaskSpec>& add, const std::set<std::string>& seen_open,
                int64_t now_ms);

  // --- reports owed to the CRM (completing or failing a task records one for its group) ---
  // The group's report row, if one is owed.
  Result<std::optional<ReportDue>> ReportOwed(const std::string& group_id);
  // Groups owed a report since before `due_before_ms`, oldest first.
  Result<std::vector<ReportDue>> ReportsDue(int64_t due_before_ms, int limit);
  // Clears the group's row if no task finished since `due` was read (its seq is unchanged). A
  // row once owed keeps its seq for good, so a seq is never read twice for different rows. A
  // write's row (BeginReportWrites) is deleted unless its writer beat since (it is alive).
  Status ClearReport(const ReportDue& due);
  // Records (again) that the group owes a report, due at `due_ms` (a writer that saw the state
  // move under it: the sweep checks it once more).
  Status OweReport(const std::string& group_id, int64_t due_ms);
  // A report whose write failed waits until `due_ms`, so it does not hold up the others (under
  // whatever seq it has now: the failed write owed it again). A cleared row stays cleared.
  Status DeferReport(const ReportDue& due, int64_t due_ms);
  // The group owes a report again on a date (a Scheduled order, on its effective date), in a
  // row of its own: it never moves the due time of a report a finished task owes now.
  Status RemindReport(const std::string& group_id, int64_t due_ms);
  // `writer` (unique to one write: see Engine::WriteReports) is about to send these groups'
  // states to the CRM: a row of its own per group, due at `now_ms`. A writer that dies with its
  // write in flight may have sent a state older than another writer's, landing after it; its
  // rows outlive it, so the sweep writes those groups again a lease later.
  Result<std::vector<ReportDue>> BeginReportWrites(const std::vector<std::string>& group_ids,
                                                   const std::string& writer, int64_t now_ms);
  // The writer of `writes` is alive with them in flight (it beats every third of a lease):
  // their rows are due from `now_ms` under the seq `beat` (above any before), and made again
  // where the sweep took one over, so a write in flight has its row for as long as it may land.
  Status RefreshReportWrites(const std::vector<ReportDue>& writes, int64_t beat, int64_t now_ms);
  // The sweep has written the group of a write whose writer stopped beating (dead, or stalled
  // for two thirds of a lease): the write's row goes, unless its writer beat since `due` was
  // read, and the group owes a report again from `now_ms`, as EndReportWrites' `owe_again`, in
  // the same transaction. The dead writer's request may still be at the CRM (its timeout can
  // exceed a lease): the sweep writes the order once more a lease later, after that request.
  Status TakeOverReportWrite(const ReportDue& due, int64_t now_ms);
  // The writes are over: their rows go. The groups in `owe_again` (a write that failed, whose
  // answer may have been lost, or whose state never held still) are owed a report again from
  // `now_ms` where no row owes one, in the same transaction: one row per group, however often
  // the CRM refuses it; a row owed already gets a new seq, its due time kept. ClearReport of a
  // write's row deletes it if its writer did not beat since.
  Status EndReportWrites(const std::vector<ReportDue>& writes,
                         const std::vector<std::string>& owe_again, int64_t now_ms);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
