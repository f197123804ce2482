#include "workorders/engine.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "connector/crm/soql.h"
#include "util/log.h"

namespace tandem::workorders {

Engine::Engine(TaskDeps deps, const Templates& templates, EngineOptions options, CrashPoints* crash)
    : deps_(deps),
      library_(deps),
      templates_(templates),
      options_(std::move(options)),
      crash_(crash) {}

Millis Engine::Backoff(int attempts) const {
  Millis wait = options_.backoff_base;
  for (int i = 1; i < attempts && wait < options_.backoff_max; ++i) wait *= 2;
  return std::min(wait, options_.backoff_max);
}

Result<EnqueueResult> Engine::Enqueue(const std::string& order_id) {
  auto order = ReadOrder(deps_.crm, order_id, deps_.mapping.Find("order"));
  if (!order.ok()) return order.status();
  // An order that cannot be planned (no template for an item, a field the order map cannot
  // map) fails as a whole, with the reason on the Order.
  auto plan = PlanOrder(*order, templates_, ToEpochMillis(deps_.clock.Now()) / 1000);
  if (!plan.ok()) {
    Json fields = Json::MakeObject();
    fields.Set("Automation_Status__c", "Failed");
    fields.Set("Automation_Error__c", plan.status().message().substr(0, 1000));
    (void)deps_.crm.Update("Order", order_id, fields);
    return plan.status();
  }
  EnqueueResult out;
  out.plan = *plan;
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  for (const auto& t : *plan) {
    auto added = deps_.store.EnqueueTask(t.spec, now);
    if (!added.ok()) return added.status();
    if (*added) ++out.added;
  }
  if (out.added > 0) {
    TANDEM_RETURN_IF_ERROR(Report(order_id));
  } else {
    // Already enqueued: a process killed between finishing the order's last task and writing
    // that to the CRM left the Order behind its tasks; write it now (only when it differs, so
    // the write does not bring the order back to the poller again and again).
    auto state = State(order_id);
    if (!state.ok()) return state.status();
    if (state->status != order->automation_status) TANDEM_RETURN_IF_ERROR(Report(order_id));
  }
  return out;
}

Result<OrderState> Engine::State(const std::string& order_id) {
  auto tasks = deps_.store.TasksInGroup(order_id);
  if (!tasks.ok()) return tasks.status();
  OrderState s;
  s.total = static_cast<int>(tasks->size());
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  std::map<std::string, const store::Task*> by_key;
  for (const auto& t : *tasks) by_key[t.key] = &t;
  // Whether an unfinished task waits for a later run time, itself or through the task it
  // depends on (a chain is short: the walk ends at its first task).
  std::function<bool(const store::Task&)> waits_for_date = [&](const store::Task& t) {
    if (t.state != "pending") return false;
    if (t.next_run_ms > now) return true;
    auto before = by_key.find(t.depends_on);
    return before != by_key.end() && before->second->state != "done" &&
           waits_for_date(*before->second);
  };
  bool all_waiting = true;  // every unfinished task waits for its date
  for (const auto& t : *tasks) {
    if (t.state == "done") ++s.done;
    if (t.state == "failed") {
      ++s.failed;
      if (s.error.empty()) s.error = t.kind + ": " + t.last_error;
    }
    if (t.state != "done") all_waiting = all_waiting && waits_for_date(t);
  }
  // Every task of an order carries its effective date.
  if (!tasks->empty()) {
    auto payload = Json::Parse(tasks->front().payload);
    const int64_t effective =
        payload.ok() ? DateToEpoch((*payload)["effective_date"].ToText()) : -1;
    if (effective > 0 && effective * 1000 > now) s.scheduled_until_ms = effective * 1000;
  }
  const bool scheduled = s.scheduled_until_ms > 0 && s.failed == 0 && all_waiting;
  s.status = s.total == 0        ? "Pending"
             : s.failed > 0      ? "Failed"
             : scheduled         ? "Scheduled"
             : s.done == s.total ? "Completed"
             : s.done > 0        ? "In Progress"
                                 : "Pending";
  return s;
}

Status Engine::Report(const std::string& order_id) {
  // Read before the tasks' state: a task that finishes after this read raises the row's seq,
  // so the clear below leaves its row for the report that task's worker writes.
  auto owed = deps_.store.ReportOwed(order_id);
  if (!owed.ok()) return owed.status();
  TANDEM_RETURN_IF_ERROR(WriteReport(order_id));
  return *owed ? deps_.store.ClearReport(**owed) : Status::Ok();
}

Status Engine::SweepReports(int64_t now_ms) {
  // A report whose worker died after the task's result (or whose CRM write failed) is owed
  // for longer than a lease; any worker writes it then, at most once per third of a lease.
  if (now_ms - last_sweep_ms_ < options_.lease.count() / 3) return Status::Ok();
  last_sweep_ms_ = now_ms;
  auto due = deps_.store.ReportsDue(now_ms - options_.lease.count(), 20);
  if (!due.ok()) return due.status();
  for (const auto& d : *due) {
    Status written = WriteReport(d.group_id);
    if (!written.ok()) {
      // Tried again later, behind the others: an Order the CRM keeps refusing (deleted, a
      // validation rule) must not hold up every report after it.
      log::Get("workorders")
          ->warn("work order {}: status not written to the CRM: {}", d.group_id,
                 written.ToString());
      TANDEM_RETURN_IF_ERROR(deps_.store.DeferReport(d, now_ms + 4 * options_.lease.count()));
      continue;
    }
    TANDEM_RETURN_IF_ERROR(deps_.store.ClearReport(d));
  }
  return Status::Ok();
}

Status Engine::WriteReport(const std::string& order_id) {
  // Renewals (and other groups that are not CRM orders) have no Order to report to.
  if (!connector::crm::IsSalesforceId(order_id)) return Status::Ok();
  // Workers of several processes finish an order's tasks concurrently and each reports; a
  // report read before another's task finished could land last and leave the Order "In
  // Progress" for good. So after writing, read again and write again until the state holds
  // still: the last write then never trails the last finished task.
  std::string written;
  for (int round = 0; round < 5; ++round) {
    auto s = State(order_id);
    if (!s.ok()) return s.status();
    const std::string progress =
        std::to_string(s->done) + " of " + std::to_string(s->total) + " tasks done";
    const std::string now = s->status + "|" + progress + "|" + s->error;
    if (now == written) {
      // A scheduled order is reported again on its date (by the sweep, from the store: no
      // CRM polling), when it reads Completed or its waiting tasks have started.
      if (s->status == "Scheduled")
        TANDEM_RETURN_IF_ERROR(deps_.store.RemindReport(order_id, s->scheduled_until_ms));
      return Status::Ok();
    }
    // The state moved while this worker wrote: another worker wrote too, and may have cleared
    // the row before this one's older write landed. Owe the report again first, so that if
    // this process dies before the write below, the sweep still writes the final state.
    if (!written.empty())
      TANDEM_RETURN_IF_ERROR(deps_.store.OweReport(order_id, ToEpochMillis(deps_.clock.Now())));
    if (crash_ && s->status == "Completed") crash_->Hit("workorders.before_completed_report");
    Json fields = Json::MakeObject();
    fields.Set("Automation_Status__c", s->status);
    fields.Set("Automation_Progress__c", progress);
    fields.Set("Automation_Error__c", s->error.empty() ? Json() : Json(s->error.substr(0, 1000)));
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Order", order_id, fields));
    written = now;
  }
  return Status::Ok();
}

namespace {
// Renews a running task's lease every third of its length until destroyed, so a task whose
// remote calls outlast the lease is not claimed again while it still runs. Renewal is on a
// thread of its own: the task's calls block the worker.
class LeaseKeeper {
 public:
  LeaseKeeper(store::Store& store, const Clock& clock, store::Lease lease, Millis length)
      : thread_([this, &store, &clock, lease, length] {
          const auto every = std::max(Millis(1), length / 3);
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_cv_.wait_for(lock, every, [this] { return stop_; })) {
            lock.unlock();
            try {
              const int64_t now = ToEpochMillis(clock.Now());
              Status st = store.RenewLease(lease, now + length.count(), now);
              if (!st.ok())
                log::Get("workorders")
                    ->warn("task {}: lease not renewed: {}", lease.task_id, st.ToString());
            } catch (const std::exception& e) {
              log::Get("workorders")->error("task {}: lease renewal: {}", lease.task_id, e.what());
            }
            lock.lock();
          }
        }) {}
  ~LeaseKeeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};
}  // namespace

Result<RunStats> Engine::RunOnce() {
  auto logger = log::Get("workorders");
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  TANDEM_RETURN_IF_ERROR(SweepReports(now));
  auto claimed =
      deps_.store.ClaimTasks(options_.worker_id, options_.claim_batch, now, options_.lease.count());
  if (!claimed.ok()) return claimed.status();
  RunStats stats;
  for (const auto& task : *claimed) {
    ++stats.ran;
    // The results of the tasks done before this one in its order, by kind.
    std::map<std::string, Json> earlier;
    auto group = deps_.store.TasksInGroup(task.group_id);
    if (!group.ok()) return group.status();
    const std::string chain = task.key.substr(0, task.key.rfind(':', task.key.rfind(':') - 1));
    for (const auto& t : *group)
      if (t.state == "done" && (t.kind == "sync_account" || t.key.rfind(chain + ":", 0) == 0))
        earlier[t.kind] = Json::Parse(t.result).value_or(Json());
    const store::Lease lease = store::Lease::Of(task);
    // The batch was claimed under one lease; tasks that waited behind a slow one (more than a
    // third of the lease) renew theirs first, and one whose lease passed to another worker
    // meanwhile is left to it. A task run soon after the claim costs no extra write.
    const int64_t start = ToEpochMillis(deps_.clock.Now());
    if (start - now >= options_.lease.count() / 3) {
      Status held = deps_.store.RenewLease(lease, start + options_.lease.count(), start);
      if (held.IsConflict()) {
        ++stats.lost;
        logger->warn("work order {}: {}", task.group_id, held.ToString());
        continue;
      }
      TANDEM_RETURN_IF_ERROR(held);
    }
    if (crash_) crash_->Hit("workorders.before_task");
    Result<Json> result = Status::Internal("not run");
    {
      LeaseKeeper keeper(deps_.store, deps_.clock, lease, options_.lease);
      result = library_.Run(task, earlier);
    }
    if (crash_) crash_->Hit("workorders.after_task");
    const int64_t end = ToEpochMillis(deps_.clock.Now());
    if (result.ok()) {
      Status completed = deps_.store.CompleteTask(lease, result->Dump(), end);
      if (completed.IsConflict()) {  // another claim holds it: its result counts, not ours
        ++stats.lost;
        logger->warn("work order {}: {}", task.group_id, completed.ToString());
        continue;
      }
      TANDEM_RETURN_IF_ERROR(completed);
      ++stats.done;
    } else {
      const bool transient = result.status().IsTransient();
      auto state = deps_.store.FailTask(lease, result.status().ToString(),
                                        end + Backoff(task.attempts).count(), end,
                                        /*permanent=*/!transient);
      if (state.status().IsConflict()) {
        ++stats.lost;
        logger->warn("work order {}: {}", task.group_id, state.status().ToString());
        continue;
      }
      if (!state.ok()) return state.status();
      if (*state == "failed") {
        ++stats.failed;
        logger->warn("work order {}: task {} failed: {}", task.group_id, task.kind,
                     result.status().ToString());
      } else {
        ++stats.retried;
        logger->info("work order {}: task {} will be retried (attempt {}): {}", task.group_id,
                     task.kind, task.attempts, result.status().ToString());
      }
    }
    Status reported = Report(task.group_id);
    if (!reported.ok())
      logger->warn("work order {}: status not written to the CRM: {}", task.group_id,
                   reported.ToString());
  }
  return stats;
}

}  // namespace tandem::workorders
