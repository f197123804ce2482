#include "store/tasks.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "store/db.h"

namespace tandem::store {
namespace {

const char* kTaskColumns =
    "id, task_key, group_id, kind, payload, depends_on, state, attempts, max_attempts, "
    "next_run_ms, claimed_by, result, last_error, lease_token";
Task TaskFromRow(const Row& r) {
  Task t;
  t.id = AsInt(r[0]);
  t.key = AsText(r[1]);
  t.group_id = AsText(r[2]);
  t.kind = AsText(r[3]);
  t.payload = AsText(r[4]);
  t.depends_on = AsText(r[5]);
  t.state = AsText(r[6]);
  t.attempts = static_cast<int>(AsInt(r[7]));
  t.max_attempts = static_cast<int>(AsInt(r[8]));
  t.next_run_ms = AsInt(r[9]);
  t.claimed_by = AsText(r[10]);
  t.result = AsText(r[11]);
  t.last_error = AsText(r[12]);
  t.lease_token = AsInt(r[13]);
  return t;
}

// In the transaction that finished the task: its group owes the CRM a report.
void OweReportFor(soci::session& sql, const Lease& lease, int64_t now_ms) {
  Exec(sql,
       "INSERT INTO order_reports (group_id, seq, due_ms) SELECT group_id, 1, :d FROM tasks "
       "WHERE id = :i ON CONFLICT (group_id) DO UPDATE SET seq = order_reports.seq + 1, "
       "due_ms = excluded.due_ms",
       {Int(now_ms), Int(lease.task_id)});
}

void OweGroupReport(soci::session& sql, const std::string& group_id, int64_t due_ms) {
  Exec(sql,
       "INSERT INTO order_reports (group_id, seq, due_ms) VALUES (:g, 1, :d) ON CONFLICT "
       "(group_id) DO UPDATE SET seq = order_reports.seq + 1, due_ms = excluded.due_ms",
       {Text(group_id), Int(due_ms)});
}

// Whether a task must wait: 1 while its dependency is not done. Claims read only tasks not
// waiting (an index range); whatever makes a task done frees its dependents in its transaction.
constexpr const char* kWaitingOf =
    "CASE WHEN tasks.depends_on IS NULL OR EXISTS (SELECT 1 FROM tasks d WHERE d.task_key = "
    "tasks.depends_on AND d.state = 'done') THEN 0 ELSE 1 END";

// A group's rows locked in the order a completion locks them (its task, then dependents made
// after it), so an operator's change beside a task finishing waits instead of deadlocking.
constexpr const char* kLockInIdOrder = " ORDER BY id FOR UPDATE";

// The dependents of the tasks `ids` (a list for IN) run once these are done.
void FreeDependents(soci::session& sql, const std::string& ids) {
  Exec(sql,
       "UPDATE tasks SET waiting = 0 WHERE waiting = 1 AND depends_on IN (SELECT task_key "
       "FROM tasks WHERE id IN (" +
           ids + ") AND state = 'done')");
}

// A group's tasks waiting again for what they depend on now (its plan or states changed).
void RecomputeWaiting(soci::session& sql, const std::string& group_id) {
  Exec(sql, std::string("UPDATE tasks SET waiting = ") + kWaitingOf + " WHERE group_id = :g",
       {Text(group_id)});
}

// A date reminder's row: the group's id and this (order_reports is keyed by the row).
constexpr std::string_view kReminder = "@date";
// A write in flight's row: the group's id, this and the writer's id.
constexpr std::string_view kWriting = "@writing:";

// A cleared row's due time. An order's own row is never deleted: owed again, it would start
// its seq over, and a writer holding the old row's seq would then clear what it never wrote.
// A write's rows are (their seq is the writer's beat, which only grows).
constexpr int64_t kNeverDue = INT64_MAX;

// The group owes a report again from `now_ms` (a write whose state may land after a newer
// one): a new seq always, so a writer that read the row before cannot clear it; a due time
// only where it was cleared, so the sweep's deferral of a refused order still holds.
void OweAgain(soci::session& sql, const std::string& group_id, int64_t now_ms) {
  Exec(sql,
       "INSERT INTO order_reports (group_id, seq, due_ms) VALUES (:g, 1, :d) ON CONFLICT "
       "(group_id) DO UPDATE SET seq = order_reports.seq + 1, due_ms = CASE WHEN "
       "order_reports.due_ms = :n THEN excluded.due_ms ELSE order_reports.due_ms END",
       {Text(group_id), Int(now_ms), Int(kNeverDue)});
}

Status LeaseLost(const char* what, const Lease& lease) {
  return Status::Conflict(std::string(what) + " task " + std::to_string(lease.task_id) +
                          ": its lease " + std::to_string(lease.token) +
                          " ran out and another claim holds it now");
}

}  // namespace

Result<bool> TaskStore::EnqueueTask(const TaskSpec& t, int64_t now_ms) {
  auto added = EnqueueTasks({t}, now_ms);
  if (!added.ok()) return added.status();
  return static_cast<bool>(added->front());
}

Result<std::vector<bool>> TaskStore::EnqueueTasks(const std::vector<TaskSpec>& tasks,
                                                  int64_t now_ms) {
  if (tasks.empty()) return std::vector<bool>{};
  return pool_.With("enqueue tasks", [&](soci::session& sql) -> Result<std::vector<bool>> {
    // By group, each group's tasks as given: two transactions inserting some of the same
    // tasks wait for each other's in one order, never in a cycle (PostgreSQL would abort
    // one), and a group's ids keep its plan's order, the order its rows are locked in
    // (kLockInIdOrder: a task before the tasks that wait for it).
    std::vector<size_t> order(tasks.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return tasks[a].group_id < tasks[b].group_id; });
    Tx tr(sql, pool_.pg());
    // Many rows per statement (one per task cost 0.3 s of a 200-order page on loopback),
    // each told apart by RETURNING; those waiting for a dependency already done are freed
    // below, among the rows this inserted only (other rows are other transactions' to lock).
    std::set<std::string> inserted;
    std::vector<std::string> waiting;
    std::vector<TaskSpec> rows;
    for (size_t i : order) rows.push_back(tasks[i]);
    constexpr size_t kCols = 11;
    const size_t per_statement = kParamsPerStatement / kCols;
    for (size_t start = 0; start < rows.size(); start += per_statement) {
      const size_t n = std::min(per_statement, rows.size() - start);
      std::vector<Value> params;
      for (size_t i = start; i < start + n; ++i) {
        const TaskSpec& t = rows[i];
        for (Value v :
             {Text(t.key), Text(t.group_id), Text(t.kind), Text(t.payload), OptText(t.depends_on),
              Text("pending"), Int(0), Int(std::max(1, t.max_attempts)), Int(t.run_at_ms),
              Int(now_ms), Int(t.depends_on.empty() ? 0 : 1)})
          params.push_back(std::move(v));
      }
      for (const Row& r : Query(
               sql,
               "INSERT INTO tasks (task_key, group_id, kind, payload, depends_on, state, "
               "attempts, max_attempts, next_run_ms, updated_ms, waiting) VALUES " +
                   Placeholders(n, kCols) + " ON CONFLICT (task_key) DO NOTHING RETURNING task_key",
               params))
        inserted.insert(AsText(r[0]));
    }
    for (const TaskSpec& t : rows)
      if (!t.depends_on.empty() && inserted.count(t.key)) waiting.push_back(t.key);
    (void)QueryInChunks(sql, waiting, {}, [](size_t n) {
      return std::string("UPDATE tasks SET waiting = ") + kWaitingOf + " WHERE task_key IN (" +
             InList(n) + ") RETURNING id";
    });
    tr.Commit();
    // A key named twice was added once: at its first place.
    std::vector<bool> added(tasks.size(), false);
    for (size_t i = 0; i < tasks.size(); ++i) added[i] = inserted.erase(tasks[i].key) > 0;
    return added;
  });
}

Result<std::vector<Task>> TaskStore::ClaimTasks(const std::string& worker, int limit,
                                                int64_t now_ms, int64_t lease_ms) {
  return pool_.With("claim tasks", [&](soci::session& sql) -> Result<std::vector<Task>> {
    Tx tr(sql, pool_.pg());
    // Two index ranges, each as long as what can be taken: tasks whose lease ran out (their
    // worker died; they ran, so their dependency is done), then tasks not waiting.
    const std::string lock = pool_.pg() ? " FOR UPDATE SKIP LOCKED" : "";
    auto ids = Query(sql,
                     "SELECT id FROM tasks WHERE state = 'running' AND lease_until_ms < :now "
                     "ORDER BY next_run_ms, id LIMIT :n" +
                         lock,
                     {Int(now_ms), Int(limit)});
    if (static_cast<int>(ids.size()) < limit)
      for (Row& r :
           Query(sql,
                 // The dependency is checked again on these rows only: a process
                 // of the version before, during a rolling upgrade, inserts tasks
                 // not waiting whatever their dependency.
                 "SELECT id FROM tasks WHERE state = 'pending' AND waiting = 0 AND "
                 "next_run_ms <= :now AND " +
                     std::string(kWaitingOf) + " = 0 ORDER BY next_run_ms, id LIMIT :n" + lock,
                 {Int(now_ms), Int(limit - static_cast<int>(ids.size()))}))
        ids.push_back(std::move(r));
    std::vector<Task> out;
    if (ids.empty()) {
      tr.Commit();
      return out;
    }
    std::string in;
    for (const Row& r : ids) in += (in.empty() ? "" : ", ") + std::to_string(AsInt(r[0]));
    Exec(sql,
         "UPDATE tasks SET state = 'running', claimed_by = :w, lease_until_ms = :l, "
         "attempts = attempts + 1, lease_token = lease_token + 1, updated_ms = :u "
         "WHERE id IN (" +
             in + ")",
         {Text(worker), Int(now_ms + lease_ms), Int(now_ms)});
    for (const Row& r :
         Query(sql, std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id IN (" + in +
                        ") ORDER BY next_run_ms, id"))
      out.push_back(TaskFromRow(r));
    tr.Commit();
    return out;
  });
}

Status TaskStore::CompleteTask(const Lease& lease, const std::string& result, int64_t now_ms) {
  return pool_.With("complete task", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    const long long n = Exec(
        sql,
        "UPDATE tasks SET state = 'done', result = :r, claimed_by = NULL, lease_until_ms = NULL, "
        "updated_ms = :u WHERE id = :i AND state = 'running' AND lease_token = :t",
        {OptText(result), Int(now_ms), Int(lease.task_id), Int(lease.token)});
    if (n != 1) return LeaseLost("complete", lease);
    FreeDependents(sql, std::to_string(lease.task_id));
    OweReportFor(sql, lease, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::string> TaskStore::FailTask(const Lease& lease, const std::string& error,
                                        int64_t retry_at_ms, int64_t now_ms, bool permanent) {
  return pool_.With("fail task", [&](soci::session& sql) -> Result<std::string> {
    Tx tr(sql, pool_.pg());
    auto rows = Query(sql,
                      "SELECT attempts, max_attempts FROM tasks WHERE id = :i AND "
                      "state = 'running' AND lease_token = :t",
                      {Int(lease.task_id), Int(lease.token)});
    if (rows.empty()) return LeaseLost("fail", lease);
    const std::string state =
        permanent || AsInt(rows[0][0]) >= AsInt(rows[0][1]) ? "failed" : "pending";
    const long long n =
        Exec(sql,
             "UPDATE tasks SET state = :s, last_error = :e, next_run_ms = :n, claimed_by = NULL, "
             "lease_until_ms = NULL, updated_ms = :u WHERE id = :i AND lease_token = :t",
             {Text(state), OptText(error), Int(retry_at_ms), Int(now_ms), Int(lease.task_id),
              Int(lease.token)});
    if (n != 1) return LeaseLost("fail", lease);
    OweReportFor(sql, lease, now_ms);
    tr.Commit();
    return state;
  });
}

Result<int> TaskStore::FreeWaitingTasks() {
  return pool_.With("free waiting tasks", [&](soci::session& sql) -> Result<int> {
    return static_cast<int>(
        Exec(sql, std::string("UPDATE tasks SET waiting = 0 WHERE state = 'pending' AND "
                              "waiting = 1 AND ") +
                      kWaitingOf + " = 0"));
  });
}

Status TaskStore::RenewLease(const Lease& lease, int64_t until_ms, int64_t now_ms) {
  return pool_.With("renew lease", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql,
             "UPDATE tasks SET lease_until_ms = :l, updated_ms = :u WHERE id = :i AND "
             "state = 'running' AND lease_token = :t",
             {Int(until_ms), Int(now_ms), Int(lease.task_id), Int(lease.token)});
    if (n == 1) return Status::Ok();
    // Ended under this lease (a renewal racing the task's result): nothing left to renew.
    if (!Query(sql, "SELECT 1 FROM tasks WHERE id = :i AND lease_token = :t",
               {Int(lease.task_id), Int(lease.token)})
             .empty())
      return Status::Ok();
    return LeaseLost("renew", lease);
  });
}

Status TaskStore::ReleaseTasks(const std::string& worker, int64_t now_ms) {
  return pool_.With("release tasks", [&](soci::session& sql) -> Status {
    // The attempt did not run to an end; give it back so it is not counted against the task.
    Exec(sql,
         "UPDATE tasks SET state = 'pending', attempts = attempts - 1, claimed_by = NULL, "
         "lease_until_ms = NULL, next_run_ms = :n, updated_ms = :u "
         "WHERE state = 'running' AND claimed_by = :w",
         {Int(now_ms), Int(now_ms), Text(worker)});
    return Status::Ok();
  });
}

Result<std::vector<Task>> TaskStore::TasksInGroup(const std::string& group_id) {
  return pool_.With("tasks in group", [&](soci::session& sql) -> Result<std::vector<Task>> {
    std::vector<Task> out;
    for (const Row& r : Query(
             sql,
             std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE group_id = :g ORDER BY id",
             {Text(group_id)}))
      out.push_back(TaskFromRow(r));
    return out;
  });
}

Result<std::vector<GroupSummary>> TaskStore::ListGroups(const GroupFilter& f) {
  return pool_.With("list groups", [&](soci::session& sql) -> Result<std::vector<GroupSummary>> {
    // Work orders of Orders only (a revenue repair's tasks are reconcile's own).
    std::string where = "state <> 'superseded' AND task_key LIKE 'tandem:wo:%'";
    std::vector<Value> params;
    if (!f.group_id.empty()) {
      where += " AND group_id = :g";
      params.push_back(Text(f.group_id));
    }
    if (!f.after.empty()) {
      where += " AND group_id > :a";
      params.push_back(Text(f.after));
    }
    if (!f.account_id.empty()) {
      // Every task of an order carries its account in the payload (workorders/plan.cpp), as
      // JSON we wrote: the exact member text, matched case-sensitively (Salesforce ids are)
      // and without wildcards (the caller checked the id's form).
      where += pool_.pg() ? " AND strpos(payload, :acc) > 0" : " AND instr(payload, :acc) > 0";
      params.push_back(Text("\"account_id\":\"" + f.account_id + "\""));
    }
    std::string having;
    if (f.state == "failed") having = "SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) > 0";
    if (f.state == "open")
      having = "SUM(CASE WHEN state IN ('pending', 'running', 'failed') THEN 1 ELSE 0 END) > 0";
    if (f.state == "done")
      having = "SUM(CASE WHEN state IN ('pending', 'running', 'failed') THEN 1 ELSE 0 END) = 0";
    if (f.changed_before_ms > 0) {
      having += std::string(having.empty() ? "" : " AND ") + "MAX(updated_ms) < :c";
      params.push_back(Int(f.changed_before_ms));
    }
    params.push_back(Int(std::max(1, f.limit)));
    std::vector<GroupSummary> out;
    for (const Row& r :
         Query(sql,
               "SELECT group_id, COUNT(*), "
               "SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), "
               "SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), "
               "SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), "
               "SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), "
               "SUM(CASE WHEN state = 'dismissed' THEN 1 ELSE 0 END), MAX(updated_ms), "
               "MIN(CASE WHEN state = 'failed' THEN kind || ': ' || last_error END) "
               "FROM tasks WHERE " +
                   where + " GROUP BY group_id" + (having.empty() ? "" : " HAVING " + having) +
                   " ORDER BY group_id LIMIT :n",
               params)) {
      GroupSummary g;
      g.group_id = AsText(r[0]);
      g.total = static_cast<int>(AsInt(r[1]));
      g.done = static_cast<int>(AsInt(r[2]));
      g.failed = static_cast<int>(AsInt(r[3]));
      g.pending = static_cast<int>(AsInt(r[4]));
      g.running = static_cast<int>(AsInt(r[5]));
      g.dismissed = static_cast<int>(AsInt(r[6]));
      g.updated_ms = AsInt(r[7]);
      g.first_error = AsText(r[8]);
      out.push_back(std::move(g));
    }
    return out;
  });
}

Result<int> TaskStore::ChangeTasks(const std::string& group_id, const TaskChange& change,
                                   int64_t now_ms) {
  return pool_.With("change tasks", [&](soci::session& sql) -> Result<int> {
    Tx tr(sql, pool_.pg());
    std::string which = "group_id = :g";
    std::vector<Value> params{Text(group_id)};
    if (change.task_id != 0) {
      which += " AND id = :i";
      params.push_back(Int(change.task_id));
    }
    auto rows = Query(sql,
                      "SELECT id, state, lease_until_ms FROM tasks WHERE " + which +
                          (pool_.pg() ? kLockInIdOrder : ""),
                      params);
    if (rows.empty())
      return Status::NotFound(change.task_id != 0 ? "order " + group_id + " has no task " +
                                                        std::to_string(change.task_id)
                                                  : "no work order " + group_id);
    const bool retry = change.action == TaskAction::kRetry;
    std::string in;
    for (const Row& r : rows) {
      const std::string state = AsText(r[1]);
      // Running, even past its lease: its worker may be in a call to billing right now.
      if (state == "running")
        return Status::Conflict("task " + std::to_string(AsInt(r[0])) + " of order " + group_id +
                                " is running now; wait for its attempt to end");
      if (state == "failed" || (!retry && state == "pending"))
        in += (in.empty() ? "" : ", ") + std::to_string(AsInt(r[0]));
    }
    if (in.empty())
      return Status::Conflict(std::string(change.task_id != 0 ? "the task" : "order " + group_id) +
                              (retry ? " has no failed task to retry" : " has no unfinished task"));
    long long n = 0;
    const std::string ids = " WHERE id IN (" + in + ")";
    const std::string released = "claimed_by = NULL, lease_until_ms = NULL, updated_ms = :u";
    switch (change.action) {
      case TaskAction::kRetry:
        // Attempts are kept: a task that ran before looks in billing for what it may have made
        // there (keys expire). It gets as many attempts again as it had.
        n = Exec(sql,
                 "UPDATE tasks SET state = 'pending', max_attempts = attempts + max_attempts, "
                 "next_run_ms = :n, " +
                     released + ids,
                 {Int(now_ms), Int(now_ms)});
        break;
      case TaskAction::kDismiss:
        n = Exec(sql, "UPDATE tasks SET state = 'dismissed', last_error = :e, " + released + ids,
                 {Text(change.note), Int(now_ms)});
        break;
      case TaskAction::kComplete:
        n = Exec(sql, "UPDATE tasks SET state = 'done', result = :r, " + released + ids,
                 {Text(change.note), Int(now_ms)});
        FreeDependents(sql, in);
        break;
    }
    OweGroupReport(sql, group_id, now_ms);
    tr.Commit();
    return static_cast<int>(n);
  });
}

Status TaskStore::Replan(const std::string& group_id, const std::vector<KeptTask>& keep,
                         const std::vector<TaskSpec>& add, const std::set<std::string>& seen_open,
                         int64_t now_ms) {
  return pool_.With("replan", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    auto rows = Query(sql,
                      "SELECT id, task_key, state FROM tasks WHERE group_id = :g" +
                          std::string(pool_.pg() ? kLockInIdOrder : ""),
                      {Text(group_id)});
    if (rows.empty()) return Status::NotFound("no work order " + group_id);
    std::map<std::string, std::string> state_of;
    for (const Row& r : rows) {
      const std::string key = AsText(r[1]), state = AsText(r[2]);
      if (state == "running")
        return Status::Conflict("task " + std::to_string(AsInt(r[0])) + " of order " + group_id +
                                " is running now; wait for its attempt to end");
      // The plan was made from what the caller read: a task that finished since must not be
      // replaced by one that would do it again.
      if (seen_open.count(key) && state != "pending" && state != "failed")
        return Status::Conflict("order " + group_id + ": task " + key + " became " + state +
                                " during the restart; look again and restart again if needed");
      state_of[key] = state;
    }
    std::set<std::string> kept;
    for (const KeptTask& k : keep) {
      kept.insert(k.key);
      // Attempts are kept (see ChangeTasks' retry); its dependency may have a new key.
      Exec(sql,
           "UPDATE tasks SET state = 'pending', max_attempts = attempts + max_attempts, "
           "depends_on = :d, next_run_ms = :n, claimed_by = NULL, lease_until_ms = NULL, "
           "updated_ms = :u WHERE task_key = :k AND state IN ('pending', 'failed')",
           {OptText(k.depends_on), Int(now_ms), Int(now_ms), Text(k.key)});
    }
    for (const auto& [key, state] : state_of)
      if ((state == "pending" || state == "failed") && !kept.count(key))
        Exec(sql,
             "UPDATE tasks SET state = 'superseded', claimed_by = NULL, lease_until_ms = NULL, "
             "updated_ms = :u WHERE task_key = :k",
             {Int(now_ms), Text(key)});
    for (const TaskSpec& t : add) {
      auto existing = state_of.find(t.key);
      if (existing != state_of.end() && existing->second != "superseded" &&
          existing->second != "pending" && existing->second != "failed")
        return Status::Conflict("order " + group_id + ": task " + t.key + " exists already as " +
                                existing->second);
      if (existing != state_of.end())
        Exec(sql,
             // Its payload and attempts stay: the key was sent with them (the caller revives a
             // key only for the same content).
             "UPDATE tasks SET state = 'pending', depends_on = :d, "
             "max_attempts = attempts + :m, next_run_ms = :r, result = NULL, last_error = NULL, "
             "updated_ms = :u WHERE task_key = :k",
             {OptText(t.depends_on), Int(std::max(1, t.max_attempts)),
              Int(std::max(now_ms, t.run_at_ms)), Int(now_ms), Text(t.key)});
      else
        Exec(sql,
             "INSERT INTO tasks (task_key, group_id, kind, payload, depends_on, state, attempts, "
             "max_attempts, next_run_ms, updated_ms) VALUES (:k, :g, :kind, :p, :d, 'pending', "
             "0, :m, :r, :u)",
             {Text(t.key), Text(t.group_id), Text(t.kind), Text(t.payload), OptText(t.depends_on),
              Int(std::max(1, t.max_attempts)), Int(std::max(now_ms, t.run_at_ms)), Int(now_ms)});
    }
    RecomputeWaiting(sql, group_id);  // kept and added tasks may depend on other keys now
    OweGroupReport(sql, group_id, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::optional<ReportDue>> TaskStore::ReportOwed(const std::string& group_id) {
  return pool_.With("report owed", [&](soci::session& sql) -> Result<std::optional<ReportDue>> {
    auto rows = Query(sql, "SELECT seq FROM order_reports WHERE group_id = :g AND due_ms < :n",
                      {Text(group_id), Int(kNeverDue)});
    if (rows.empty()) return std::optional<ReportDue>();
    return std::optional<ReportDue>(ReportDue{group_id, AsInt(rows[0][0]), group_id});
  });
}

Result<std::vector<ReportDue>> TaskStore::ReportsDue(int64_t due_before_ms, int limit) {
  return pool_.With("reports due", [&](soci::session& sql) -> Result<std::vector<ReportDue>> {
    std::vector<ReportDue> out;
    for (const Row& r : Query(sql,
                              "SELECT group_id, seq FROM order_reports WHERE due_ms < :d "
                              "ORDER BY due_ms, group_id LIMIT :n",
                              {Int(due_before_ms), Int(limit)})) {
      const std::string row = AsText(r[0]);
      const bool reminder =
          row.size() > kReminder.size() &&
          row.compare(row.size() - kReminder.size(), kReminder.size(), kReminder) == 0;
      const size_t writing = row.find(kWriting);
      if (writing != std::string::npos) {
        out.push_back(ReportDue{row.substr(0, writing), AsInt(r[1]), row, true});
        continue;
      }
      out.push_back(ReportDue{reminder ? row.substr(0, row.size() - kReminder.size()) : row,
                              AsInt(r[1]), row});
    }
    return out;
  });
}

Status TaskStore::ClearReport(const ReportDue& due) {
  return pool_.With("clear report", [&](soci::session& sql) -> Status {
    // A write's row goes, unless its writer beat since it was read: alive, it may still land.
    Exec(sql,
         due.writing ? "DELETE FROM order_reports WHERE group_id = :g AND seq = :s"
                     : "UPDATE order_reports SET due_ms = " + std::to_string(kNeverDue) +
                           " WHERE group_id = :g AND seq = :s",
         {Text(due.row), Int(due.seq)});
    return Status::Ok();
  });
}

Result<std::vector<ReportDue>> TaskStore::BeginReportWrites(
    const std::vector<std::string>& group_ids, const std::string& writer, int64_t now_ms) {
  std::vector<ReportDue> out;
  for (const auto& g : group_ids)
    out.push_back(ReportDue{g, 1, g + std::string(kWriting) + writer, true});
  return pool_.With("begin report writes",
                    [&](soci::session& sql) -> Result<std::vector<ReportDue>> {
                      // A plain insert: the writer's id is its own, so a clash is a bug to hear of.
                      Tx tr(sql, pool_.pg());
                      InsertRows(sql, out, 3, "INSERT INTO order_reports (group_id, seq, due_ms)",
                                 "", [&](const ReportDue& w, std::vector<Value>* p) {
                                   p->push_back(Text(w.row));
                                   p->push_back(Int(w.seq));
                                   p->push_back(Int(now_ms));
                                 });
                      tr.Commit();
                      return out;
                    });
}

Status TaskStore::TakeOverReportWrite(const ReportDue& due, int64_t now_ms) {
  return pool_.With("take over report write", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    if (Exec(sql, "DELETE FROM order_reports WHERE group_id = :g AND seq = :s",
             {Text(due.row), Int(due.seq)}) == 1) {
      OweAgain(sql, due.group_id, now_ms);
      // Due a lease from now at the earliest, even where the row was owed already: the
      // sweep's next write must come after the dead writer's request.
      Exec(sql, "UPDATE order_reports SET due_ms = :d WHERE group_id = :g AND due_ms < :d2",
           {Int(now_ms), Text(due.group_id), Int(now_ms)});
    }
    tr.Commit();
    return Status::Ok();
  });
}

Status TaskStore::RefreshReportWrites(const std::vector<ReportDue>& writes, int64_t beat,
                                      int64_t now_ms) {
  if (writes.empty()) return Status::Ok();
  return pool_.With("refresh report writes", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    InsertRows(sql, writes, 3, "INSERT INTO order_reports (group_id, seq, due_ms)",
               " ON CONFLICT (group_id) DO UPDATE SET seq = excluded.seq, due_ms = "
               "excluded.due_ms",
               [&](const ReportDue& w, std::vector<Value>* p) {
                 p->push_back(Text(w.row));
                 p->push_back(Int(beat));
                 p->push_back(Int(now_ms));
               });
    tr.Commit();
    return Status::Ok();
  });
}

Status TaskStore::EndReportWrites(const std::vector<ReportDue>& writes,
                                  const std::vector<std::string>& owe_again, int64_t now_ms) {
  if (writes.empty() && owe_again.empty()) return Status::Ok();
  return pool_.With("end report writes", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    for (const auto& g : owe_again) OweAgain(sql, g, now_ms);
    std::vector<std::string> rows;
    for (const auto& w : writes) rows.push_back(w.row);
    (void)QueryInChunks(sql, rows, {}, [](size_t n) {
      return "DELETE FROM order_reports WHERE group_id IN (" + InList(n) + ") RETURNING group_id";
    });
    tr.Commit();
    return Status::Ok();
  });
}

Status TaskStore::OweReport(const std::string& group_id, int64_t due_ms) {
  return pool_.With("owe report", [&](soci::session& sql) -> Status {
    OweGroupReport(sql, group_id, due_ms);
    return Status::Ok();
  });
}

Status TaskStore::RemindReport(const std::string& group_id, int64_t due_ms) {
  return OweReport(group_id + std::string(kReminder), due_ms);
}

Status TaskStore::DeferReport(const ReportDue& due, int64_t due_ms) {
  return pool_.With("defer report", [&](soci::session& sql) -> Status {
    // Whatever its seq now (a failed write owes it again under a new one), but not cleared.
    Exec(sql, "UPDATE order_reports SET due_ms = :d WHERE group_id = :g AND due_ms < :n",
         {Int(due_ms), Text(due.row), Int(kNeverDue)});
    return Status::Ok();
  });
}

}  // namespace tandem::store
