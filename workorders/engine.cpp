#include "workorders/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "connector/crm/soql.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/thread.h"

namespace tandem::workorders {

Engine::Engine(TaskDeps deps, const Templates& templates, EngineOptions options, CrashPoints* crash)
    : deps_(deps),
      library_(deps),
      templates_(templates),
      options_(std::move(options)),
      crash_(crash) {
  // Unique to this engine among every process sharing the store: each write's rows carry it.
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::ostringstream id;
  id << options_.worker_id << "@" << host << ":" << ::getpid() << ":" << this;
  writer_ = id.str();
}

SteadyTime RefillEnd(SteadyTime claimed_at, Millis period, double phase) {
  if (period.count() <= 0) return claimed_at;
  phase -= std::floor(phase);  // [0, 1)
  const auto offset = std::chrono::duration_cast<Millis>(period * phase);
  const auto earliest =
      std::chrono::duration_cast<Millis>((claimed_at + period / 2).time_since_epoch()) - offset;
  // The first phase point at or after `earliest` (a ceiling: `earliest` may be negative).
  int64_t cycles = earliest.count() / period.count();
  if (cycles * period.count() < earliest.count()) ++cycles;
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(offset + cycles * period));
}

Millis Engine::Backoff(int attempts) const {
  Millis wait = options_.backoff_base;
  for (int i = 1; i < attempts && wait < options_.backoff_max; ++i) wait *= 2;
  return std::min(wait, options_.backoff_max);
}

Result<EnqueueResult> Engine::Enqueue(const std::string& order_id) {
  return std::move(Enqueue(std::vector<std::string>{order_id}).results.front());
}

EnqueueBatch Engine::Enqueue(const std::vector<std::string>& order_ids) {
  EnqueueBatch out;
  if (order_ids.empty()) return out;
  out.crm_calls += 2;
  auto orders = ReadOrders(deps_.crm, order_ids, deps_.mapping.Find("order"));
  if (!orders.ok()) {
    out.results.assign(order_ids.size(), orders.status());
    return out;
  }
  // The CRM answers with 18-character ids; a caller may name an order by its 15.
  std::map<std::string, const Order*> by_short_id;
  for (const auto& [id, order] : *orders) by_short_id[id.substr(0, 15)] = &order;
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  std::vector<Json> refused;            // orders that cannot be planned: Failed, with the reason
  std::vector<std::string> report;      // orders whose state the CRM must be told
  std::map<std::string, size_t> index;  // by 18-character id: its result
  std::vector<std::pair<size_t, size_t>> repeated;  // an id named twice: (its place, the first)
  // The plans first, then every planned order's tasks in one transaction (see EnqueueTasks).
  struct Planned {
    const Order* order;
    size_t result;                // its place in out.results
    size_t first = 0, count = 0;  // its tasks in `specs`
  };
  std::vector<Planned> planned;
  std::vector<store::TaskSpec> specs;
  for (const auto& asked : order_ids) {
    auto found = by_short_id.find(asked.substr(0, 15));
    if (found == by_short_id.end()) {
      out.results.push_back(Status::NotFound("no Order " + asked));
      continue;
    }
    const Order& order = *found->second;
    const std::string& order_id = order.id;
    if (auto first = index.find(order_id); first != index.end()) {
      repeated.emplace_back(out.results.size(), first->second);
      out.results.push_back(Status::Internal("named twice"));  // replaced below
      continue;
    }
    index[order_id] = out.results.size();
    // An order that cannot be planned (no template for an item, a field the order map cannot
    // map) fails as a whole, with the reason on the Order.
    auto plan = PlanOrder(order, templates_, now / 1000);
    if (!plan.ok()) {
      Json fields = Json::MakeObject();
      fields.Set("Id", order_id);
      fields.Set("Automation_Status__c", "Failed");
      fields.Set("Automation_Error__c", plan.status().message().substr(0, 1000));
      refused.push_back(std::move(fields));
      out.results.push_back(plan.status());
      continue;
    }
    planned.push_back({&order, out.results.size(), specs.size(), plan->size()});
    for (const auto& t : *plan) specs.push_back(t.spec);
    EnqueueResult enqueued;
    enqueued.plan = std::move(plan).value();
    out.results.push_back(std::move(enqueued));
  }
  // One transaction for the page. Unavailable whatever the store said (its errors do not tell
  // a passing one from a lasting one): the poller then keeps its cursor and reads the page
  // again (the enqueue is keyed), where moving on would leave orders never stored for the
  // lookback alone. Order by order instead stored some and moved the cursor past the rest, or
  // waited out a locked store's timeout once per order.
  std::vector<bool> added(specs.size(), false);
  Status stored = Status::Ok();
  if (auto all = deps_.store.EnqueueTasks(specs, now); all.ok())
    added = std::move(all).value();
  else
    stored = Status::Unavailable("storing the orders' tasks: " + all.status().ToString());
  if (options_.on_tasks_added && std::find(added.begin(), added.end(), true) != added.end())
    options_.on_tasks_added();
  for (const Planned& p : planned) {
    if (!stored.ok()) {
      out.results[p.result] = stored;
      continue;
    }
    EnqueueResult& enqueued = *out.results[p.result];
    for (size_t k = p.first; k < p.first + p.count; ++k)
      if (added[k]) ++enqueued.added;
    const std::string& order_id = p.order->id;
    if (enqueued.added > 0) {
      report.push_back(order_id);
    } else {
      // Already enqueued: a process killed between finishing the order's last task and
      // writing that to the CRM left the Order behind its tasks; write it now (only when it
      // differs, so the write does not bring the order back to the poller again and again).
      auto state = State(order_id);
      if (!state.ok()) {
        out.results[p.result] = state.status();
        continue;
      }
      if (state->status != p.order->automation_status) report.push_back(order_id);
    }
  }
  if (!refused.empty()) {
    out.crm_calls += static_cast<int>((refused.size() + 199) / 200);
    (void)deps_.crm.UpdateMany("Order", refused);  // the poll takes it again if this failed
  }
  for (const auto& [order_id, reported] : Report(report, &out.crm_calls))
    if (!reported.ok()) out.results[index[order_id]] = reported;
  for (const auto& [place, first] : repeated) out.results[place] = out.results[first];
  return out;
}

Result<OrderState> Engine::State(const std::string& order_id) {
  auto tasks = deps_.store.TasksInGroup(order_id);
  if (!tasks.ok()) return tasks.status();
  // A restart's superseded tasks are history, not part of the order.
  tasks->erase(std::remove_if(tasks->begin(), tasks->end(),
                              [](const store::Task& t) { return t.state == "superseded"; }),
               tasks->end());
  OrderState s;
  s.total = static_cast<int>(tasks->size());
  int dismissed = 0;
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
    if (t.state == "done" && t.kind == "record_subscription") {
      auto p = Json::Parse(t.payload);
      auto r = Json::Parse(t.result);
      const std::string crm_id = r.ok() ? (*r)["crm_id"].ToText() : "";
      if (p.ok() && !crm_id.empty() && (*p)["subscription_crm_id"].ToText() != crm_id)
        s.item_links[(*p)["item_id"].ToText()] = crm_id;
    }
    if (t.state == "failed") {
      ++s.failed;
      if (s.error.empty()) s.error = t.kind + ": " + t.last_error;
    }
    if (t.state == "dismissed") {
      ++dismissed;
      if (s.error.empty()) s.error = "dismissed: " + t.last_error;
      continue;
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
  s.status = s.total == 0                                     ? "Pending"
             : s.failed > 0                                   ? "Failed"
             : dismissed > 0 && s.done + dismissed == s.total ? "Dismissed"
             : scheduled                                      ? "Scheduled"
             : s.done == s.total                              ? "Completed"
             : s.done > 0                                     ? "In Progress"
                                                              : "Pending";
  return s;
}

std::map<std::string, Status> Engine::Report(const std::vector<std::string>& order_ids,
                                             int* crm_calls) {
  // Read before the tasks' state: a task that finishes after this read raises the row's seq,
  // so the clear below leaves its row for the report that task's worker writes.
  std::map<std::string, Status> out;
  std::map<std::string, std::optional<store::ReportDue>> owed;
  std::vector<std::string> to_write;
  for (const auto& id : order_ids) {
    if (owed.count(id) || out.count(id)) continue;
    auto row = deps_.store.ReportOwed(id);
    if (!row.ok()) {
      out[id] = row.status();
      continue;
    }
    owed[id] = *row;
    to_write.push_back(id);
  }
  for (auto& [id, written] : WriteReports(to_write, crm_calls)) {
    if (written.ok() && owed[id]) written = deps_.store.ClearReport(*owed[id]);
    out[id] = written;
  }
  return out;
}

Status Engine::SweepReports(int64_t now_ms) {
  // A report whose worker died after the task's result (or whose CRM write failed) is owed
  // for longer than a lease; any worker writes it then, at most once per third of a lease.
  if (now_ms - last_sweep_ms_ < options_.lease.count() / 3) return Status::Ok();
  last_sweep_ms_ = now_ms;
  // A failure here must not hold up the reports owed: the next sweep tries again.
  if (auto freed = deps_.store.FreeWaitingTasks(); !freed.ok())
    log::Get("workorders")->warn("freeing waiting tasks: {}", freed.status().ToString());
  auto due = deps_.store.ReportsDue(now_ms - options_.lease.count(), 20);
  if (!due.ok()) return due.status();
  std::vector<std::string> orders;
  for (const auto& d : *due) orders.push_back(d.group_id);
  auto reports = WriteReports(orders, nullptr);
  for (const auto& d : *due) {
    const Status& written = reports[d.group_id];
    if (!written.ok()) {
      // Tried again later, behind the others: an Order the CRM keeps refusing (deleted, a
      // validation rule) must not hold up every report after it.
      log::Get("workorders")
          ->warn("work order {}: status not written to the CRM: {}", d.group_id,
                 written.ToString());
      if (!d.writing) {
        TANDEM_RETURN_IF_ERROR(deps_.store.DeferReport(d, now_ms + 4 * options_.lease.count()));
        continue;
      }
    }
    // A dead writer's row becomes its order's, owed again: its request may land after ours.
    TANDEM_RETURN_IF_ERROR(d.writing ? deps_.store.TakeOverReportWrite(d, now_ms)
                                     : deps_.store.ClearReport(d));
  }
  return Status::Ok();
}

namespace {
// Calls `beat` every `every` on a thread of its own until destroyed: what a caller holds (task
// leases, report writes in flight) is kept fresh while its remote calls block its own thread.
class Heartbeat {
 public:
  Heartbeat(Millis every, std::function<void()> beat)
      : thread_([this, every, beat = std::move(beat)] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_cv_.wait_for(lock, every, [this] { return stop_; })) {
            lock.unlock();
            try {
              beat();
            } catch (const std::exception& e) {  // the next beat tries again
              log::Get("workorders")->error("heartbeat: {}", e.what());
            }
            lock.lock();
          }
        }) {}
  ~Heartbeat() {
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
  bool stop_ = false;   // GUARDED_BY(mu_)
  std::thread thread_;  // last: started once the members above exist
};

// An order item pointed at the inventory record its order created.
Json ItemLink(const std::string& item_id, const std::string& subscription_crm_id) {
  Json r = Json::MakeObject();
  Json type = Json::MakeObject();
  type.Set("type", "OrderItem");
  r.Set("attributes", type);
  r.Set("Id", item_id);
  r.Set("Service_Subscription__c", subscription_crm_id);
  return r;
}
}  // namespace

std::map<std::string, Status> Engine::WriteReports(const std::vector<std::string>& order_ids,
                                                   int* crm_calls) {
  std::map<std::string, Status> out;
  std::map<std::string, std::string> written;  // the state last written, per order
  std::vector<std::string> open;
  for (const auto& id : order_ids) {
    out[id] = Status::Ok();
    // Renewals (and other groups that are not CRM orders) have no Order to report to.
    if (connector::crm::IsSalesforceId(id) && !written.count(id)) {
      written[id] = "";
      open.push_back(id);
    }
  }
  // Workers of several processes finish an order's tasks concurrently and each reports; a
  // report read before another's task finished could land last and leave the Order "In
  // Progress" for good. So after writing, read again and write again until the state holds
  // still: the last write then never trails the last finished task. A writer that dies before
  // it reads again cannot do that, and another may have cleared what the store owed: rows of
  // this write's own say it is in flight until the state held, and outlive a death.
  if (open.empty()) return out;
  auto writes = deps_.store.BeginReportWrites(open, writer_ + ":" + std::to_string(++writes_),
                                              ToEpochMillis(deps_.clock.Now()));
  if (!writes.ok()) {
    for (const auto& id : open) out[id] = writes.status();
    return out;
  }
  // Alive, this keeps its rows from the sweep (a round may outlast a lease at the CRM's
  // latency); dead, it leaves them due a lease later.
  auto keep_fresh = std::make_unique<Heartbeat>(
      std::max(Millis(1), options_.lease / 3), [this, rows = *writes, beat = int64_t{1}]() mutable {
        Status st = deps_.store.RefreshReportWrites(rows, ++beat, ToEpochMillis(deps_.clock.Now()));
        if (!st.ok())
          log::Get("workorders")->warn("report writes in flight not refreshed: {}", st.ToString());
      });
  std::set<std::string> held;   // orders whose state read back is the one this wrote
  std::set<std::string> tried;  // orders whose state this sent
  for (int round = 0; round < 5 && !open.empty(); ++round) {
    std::vector<Json> records, links;
    std::vector<std::string> sent, states, link_owners;
    for (const auto& id : open) {
      auto s = State(id);
      if (!s.ok()) {
        out[id] = s.status();
        continue;
      }
      const std::string progress =
          std::to_string(s->done) + " of " + std::to_string(s->total) + " tasks done";
      const std::string now = s->status + "|" + progress + "|" + s->error;
      if (now == written[id]) {
        held.insert(id);
        // A scheduled order is reported again on its date (by the sweep, from the store: no
        // CRM polling), when it reads Completed or its waiting tasks have started.
        if (s->status == "Scheduled") out[id] = deps_.store.RemindReport(id, s->scheduled_until_ms);
        continue;
      }
      if (crash_ && s->status == "Completed") crash_->Hit("workorders.before_completed_report");
      Json fields = Json::MakeObject();
      fields.Set("Id", id);
      fields.Set("Automation_Status__c", s->status);
      fields.Set("Automation_Progress__c", progress);
      fields.Set("Automation_Error__c", s->error.empty() ? Json() : Json(s->error.substr(0, 1000)));
      records.push_back(std::move(fields));
      sent.push_back(id);
      tried.insert(id);
      states.push_back(now);
      // Once the order has ended or waits for its date (not with every progress report: each
      // write of an order item fires the org's triggers on it).
      if (s->status == "Completed" || s->status == "Failed" || s->status == "Scheduled" ||
          s->status == "Dismissed")
        for (const auto& [item, crm_id] : s->item_links) {
          links.push_back(ItemLink(item, crm_id));
          link_owners.push_back(id);
        }
    }
    open.clear();
    if (records.empty()) break;
    // After the Orders, so that their results keep their places. A link that fails leaves
    // its order's report owed: the sweep writes both again.
    records.insert(records.end(), links.begin(), links.end());
    if (crm_calls) *crm_calls += static_cast<int>((records.size() + 199) / 200);
    auto saved = deps_.crm.UpdateMany("Order", records);
    for (size_t k = 0; saved.ok() && k < links.size(); ++k) {
      const auto& r = (*saved)[sent.size() + k];
      if (!r.success && out[link_owners[k]].ok())
        out[link_owners[k]] = r.ToStatus("OrderItem " + links[k]["Id"].ToText() +
                                         " (its link to the inventory record)");
    }
    for (size_t k = 0; k < sent.size(); ++k) {
      if (!saved.ok()) {
        out[sent[k]] = saved.status();
      } else if (!(*saved)[k].success) {
        out[sent[k]] = (*saved)[k].ToStatus("Order " + sent[k]);
      } else {
        written[sent[k]] = states[k];
        if (out[sent[k]].ok()) open.push_back(sent[k]);
      }
    }
    if (crash_ && !sent.empty()) crash_->Hit("workorders.after_report_write");
  }
  // An order whose write failed may still see it land (a lost answer), after a newer one: it
  // is owed again, as is one whose state never held still; the sweep writes them.
  std::vector<std::string> owe_again;
  for (const auto& id : tried)
    if (!held.count(id)) owe_again.push_back(id);
  keep_fresh.reset();  // before the rows go: a beat after would make them again
  if (Status st = deps_.store.EndReportWrites(*writes, owe_again, ToEpochMillis(deps_.clock.Now()));
      !st.ok())
    log::Get("workorders")
        ->warn("report writes not ended (the sweep writes them again): {}", st.ToString());
  return out;
}

namespace {
// Renews the leases of the tasks a batch holds every third of their length until each task is
// done, so a task whose remote calls outlast the lease (or that waits for a thread) is not
// claimed again while it is still this worker's.
class LeaseKeeper {
 public:
  LeaseKeeper(store::Store& store, const Clock& clock, Millis length)
      : beat_(std::max(Millis(1), length / 3),
              [this, &store, &clock, length] { RenewAll(store, clock, length); }) {}
  void Hold(const store::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    held_[lease.task_id] = lease;
  }
  void Release(const store::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    held_.erase(lease.task_id);
  }
  // Whether the task's lease passed to another claim (it waited for a thread too long): it
  // must not start, the other claim runs it.
  bool Lost(const store::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_.count(lease.task_id) > 0;
  }

 private:
  void RenewAll(store::Store& store, const Clock& clock, Millis length) {
    std::vector<store::Lease> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, lease] : held_) held.push_back(lease);
    }
    for (const auto& lease : held) {
      Status st = Renew(store, clock, lease, length);
      if (st.ok()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      // A task that ended since the copy above (its lease released) is not a lease lost.
      const auto still = held_.find(lease.task_id);
      if (still == held_.end() || still->second.token != lease.token) continue;
      log::Get("workorders")->warn("task {}: lease not renewed: {}", lease.task_id, st.ToString());
      if (st.IsConflict()) lost_.insert(lease.task_id);
    }
  }
  static Status Renew(store::Store& store, const Clock& clock, const store::Lease& lease,
                      Millis length) {
    try {
      const int64_t now = ToEpochMillis(clock.Now());
      return store.RenewLease(lease, now + length.count(), now);
    } catch (const std::exception& e) {  // not a lease lost: the next beat tries again
      return Status::Internal(std::string("lease renewal: ") + e.what());
    }
  }

  std::mutex mu_;
  std::map<int64_t, store::Lease> held_;  // GUARDED_BY(mu_)
  std::set<int64_t> lost_;                // GUARDED_BY(mu_)
  Heartbeat beat_;                        // last: beats once the members above exist
};
}  // namespace

Result<Engine::Outcome> Engine::RunTask(const store::Task& task, const store::Lease& lease,
                                        bool* settles) {
  auto logger = log::Get("workorders");
  // The results of the tasks done before this one in its order, by kind.
  std::map<std::string, Json> earlier;
  auto group = deps_.store.TasksInGroup(task.group_id);
  if (!group.ok()) return group.status();
  *settles = true;  // unless it is done and another task of the order is not
  const std::string chain = task.key.substr(0, task.key.rfind(':', task.key.rfind(':') - 1));
  for (const auto& t : *group)
    if (t.state == "done" && (t.kind == "sync_account" || t.key.rfind(chain + ":", 0) == 0))
      earlier[t.kind] = Json::Parse(t.result).value_or(Json());
  if (crash_) crash_->Hit("workorders.before_task");
  Result<Json> result = library_.Run(task, earlier);
  if (crash_) crash_->Hit("workorders.after_task");
  const int64_t end = ToEpochMillis(deps_.clock.Now());
  if (result.ok()) {
    Status completed = deps_.store.CompleteTask(lease, result->Dump(), end);
    if (completed.IsConflict()) {  // another claim holds it: its result counts, not ours
      logger->warn("work order {}: {}", task.group_id, completed.ToString());
      return Outcome::kLost;
    }
    TANDEM_RETURN_IF_ERROR(completed);
    // Read after the result is recorded: of two last tasks ending at once, the later to
    // record sees the other's (both may report; that is harmless).
    auto after = deps_.store.TasksInGroup(task.group_id);
    *settles = after.ok() && std::all_of(after->begin(), after->end(), [](const store::Task& t) {
                 return t.state == "done" || t.state == "failed" || t.state == "dismissed" ||
                        t.state == "superseded";
               });
    return Outcome::kDone;
  }
  const bool transient = result.status().IsTransient();
  auto state = deps_.store.FailTask(lease, result.status().ToString(),
                                    end + Backoff(task.attempts).count(), end,
                                    /*permanent=*/!transient);
  if (state.status().IsConflict()) {
    logger->warn("work order {}: {}", task.group_id, state.status().ToString());
    return Outcome::kLost;
  }
  if (!state.ok()) return state.status();
  if (*state == "failed") {
    logger->warn("work order {}: task {} failed: {}", task.group_id, task.kind,
                 result.status().ToString());
    return Outcome::kFailed;
  }
  logger->info("work order {}: task {} will be retried (attempt {}): {}", task.group_id, task.kind,
               task.attempts, result.status().ToString());
  return Outcome::kRetried;
}

std::vector<std::string> Engine::StillToReport(const std::set<std::string>& orders) {
  std::vector<std::string> out;
  for (const auto& id : orders) {
    auto owed = deps_.store.ReportOwed(id);  // none: a later task's report went out
    if (owed.ok() && !owed->has_value()) continue;
    auto state = State(id);
    if (state.ok() && state->status == "In Progress") continue;
    out.push_back(id);
  }
  return out;
}

namespace {
// The least time between two report writes of a batch: one Collections call a second carries
// all the orders settled in it (an order settling a second after the last write goes at once).
constexpr auto kReportSpacing = std::chrono::milliseconds(1000);

void LogUnreported(const std::map<std::string, Status>& reported) {
  for (const auto& [order_id, status] : reported)
    if (!status.ok())
      log::Get("workorders")
          ->warn("work order {}: status not written to the CRM: {}", order_id, status.ToString());
}
}  // namespace

void Engine::FlushReports() {
  LogUnreported(Report(StillToReport(carried_)));
  carried_.clear();
}

Result<RunStats> Engine::RunOnce() {
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  TANDEM_RETURN_IF_ERROR(SweepReports(now));
  RunStats stats;
  if (stop_claiming_) {
    FlushReports();
    return stats;
  }
  auto batch_size = [this] {
    return std::max(1, options_.claim_limit ? options_.claim_limit() : options_.claim_batch);
  };
  const int batch = batch_size();
  // The lease counts from the claim, not from before the sweep: a sweep writing reports at the
  // CRM's latency took seconds of a 2 s lease, and its tasks were taken over while they ran.
  auto claimed = deps_.store.ClaimTasks(options_.worker_id, batch, ToEpochMillis(deps_.clock.Now()),
                                        options_.lease.count());
  if (!claimed.ok()) return claimed.status();
  if (claimed->empty()) {
    idle_ = true;
    FlushReports();
    return stats;
  }
  const SteadyTime claimed_at = deps_.clock.SteadyNow();
  const SteadyTime refill_until =
      idle_ ? claimed_at + std::chrono::duration_cast<Millis>(options_.refill_for *
                                                              options_.first_refill_share)
            : RefillEnd(claimed_at, options_.refill_for,
                        options_.first_refill_share + options_.refill_phase);
  idle_ = false;
  log::Get("workorders")
      ->debug("{}: {} tasks claimed, more taken for {} ms", options_.worker_id, claimed->size(),
              std::chrono::duration_cast<Millis>(refill_until - claimed_at).count());
  std::mutex mu;
  Status first_error = Status::Ok();  // GUARDED_BY(mu)
  // An order whose last task ended (or whose task failed or waits to be retried) is reported
  // while the batch runs on, by a thread of its own: at most one write a kReportSpacing, and
  // the orders that settle meanwhile go in the next. Holding them to the batch's end left
  // billing idle while several workers wrote hundreds of reports at once (a second in a run's
  // seven); writing them from the task threads took those threads from their tasks.
  // The other orders a batch touched are reported when it ends. A refilling batch leaves them
  // to the next one's reporter (or to the worker finding nothing to do), which writes only
  // those still owed and not in progress (waiting for their date, say): an order in progress
  // is reported by its next task, or by the sweep once it has been owed a lease. Writing every
  // order a batch touched, "In Progress" and again as each moved on, kept a worker from its
  // next claim for a second or more.
  std::set<std::string> settled;  // GUARDED_BY(mu): to report now
  std::set<std::string> later;    // GUARDED_BY(mu): to report when the batch ends
  std::set<std::string> carried;  // GUARDED_BY(mu): the last batch's, in the first report
  bool batch_over = false;        // GUARDED_BY(mu)
  std::condition_variable to_report;
  std::thread reporter = StartThread("workorders-report", [&] {
    std::unique_lock<std::mutex> lock(mu);
    std::chrono::steady_clock::time_point next_write{};
    for (;;) {
      to_report.wait(lock, [&] { return batch_over || !settled.empty() || !carried.empty(); });
      to_report.wait_until(lock, next_write, [&] { return batch_over; });
      if (settled.empty() && carried.empty()) {
        if (batch_over) return;
        continue;
      }
      std::vector<std::string> orders(settled.begin(), settled.end());
      std::set<std::string> left;
      left.swap(carried);
      settled.clear();
      next_write = std::chrono::steady_clock::now() + kReportSpacing;
      lock.unlock();
      try {
        for (auto& id : StillToReport(left)) orders.push_back(std::move(id));
        LogUnreported(Report(orders));
      } catch (...) {  // owed in the store: the sweep writes them
        log::Get("workorders")->error("work-order reports: an unexpected exception");
      }
      lock.lock();
    }
  });
  // Whatever ends the batch (an exception from a task thread, say), the reporter ends first.
  class EndReports {
   public:
    EndReports(std::mutex& mu, bool& over, std::condition_variable& cv, std::thread& thread)
        : mu_(mu), over_(over), cv_(cv), thread_(thread) {}
    ~EndReports() { End(); }
    void End() {
      if (!thread_.joinable()) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        over_ = true;
      }
      cv_.notify_one();
      thread_.join();  // it writes what is left of `settled` and `carried` first
    }

   private:
    std::mutex& mu_;
    bool& over_;
    std::condition_variable& cv_;
    std::thread& thread_;
  } end_reports(mu, batch_over, to_report, reporter);
  {
    std::lock_guard<std::mutex> lock(mu);
    carried.swap(carried_);
  }
  to_report.notify_one();
  {
    LeaseKeeper keeper(deps_.store, deps_.clock, options_.lease);
    for (const auto& task : *claimed) keeper.Hold(store::Lease::Of(task));
    // One thread per claimed task: they wait on remotes (the billing client's flow control and
    // rate limiter pace their calls), and a claimed task should not wait out its lease. A thread
    // whose task ended takes another, and one more for each thread the batch is short of its
    // limit (run on threads of their own): tasks that became runnable while the batch ran
    // (each order's next) join it at once rather than one after another on its few threads.
    std::function<void(std::deque<store::Task>)> run;
    ThreadGroup threads(batch);  // after `run`: its threads end before `run` does
    run = [&](std::deque<store::Task> mine) {
      bool refill = true;
      // After a thread of the batch threw, the rest is left to the leases (as when a batch's
      // tasks ran on ParallelFor): Join raises the exception without waiting for them.
      while (!mine.empty() && !threads.failed()) {
        const store::Task task = std::move(mine.front());
        mine.pop_front();
        const store::Lease lease = store::Lease::Of(task);
        bool settles = false;
        auto outcome =
            keeper.Lost(lease) ? Result<Outcome>(Outcome::kLost) : RunTask(task, lease, &settles);
        keeper.Release(lease);
        {
          std::lock_guard<std::mutex> lock(mu);
          ++stats.ran;
          if (!outcome.ok()) {
            if (first_error.ok()) first_error = outcome.status();
            refill = false;
            continue;
          }
          switch (*outcome) {
            case Outcome::kDone:
              ++stats.done;
              break;
            case Outcome::kRetried:
              ++stats.retried;
              break;
            case Outcome::kFailed:
              ++stats.failed;
              break;
            case Outcome::kLost:
              ++stats.lost;
              break;
          }
          if (*outcome == Outcome::kDone && !settles) {
            later.insert(task.group_id);
          } else if (*outcome != Outcome::kLost) {  // a lost task's claim reports
            later.erase(task.group_id);
            settled.insert(task.group_id);
            to_report.notify_one();
          }
        }
        if (!mine.empty() || !refill || stop_claiming_ || threads.failed() ||
            deps_.clock.SteadyNow() >= refill_until)
          continue;
        // The batch's size follows billing: after 429s no thread is added until fewer run.
        const int limit = batch_size();
        const int spare = threads.Reserve(limit, limit);
        const int64_t at = ToEpochMillis(deps_.clock.Now());
        auto next =
            deps_.store.ClaimTasks(options_.worker_id, 1 + spare, at, options_.lease.count());
        if (!next.ok()) {
          threads.Unreserve(spare);
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = next.status();
          return;
        }
        const int extra = std::min(spare, std::max(0, static_cast<int>(next->size()) - 1));
        threads.Unreserve(spare - extra);
        for (size_t k = 0; k < next->size(); ++k) {
          store::Task& t = (*next)[k];
          keeper.Hold(store::Lease::Of(t));
          const bool started = k >= 1 && static_cast<int>(k) <= extra &&
                               threads.StartReserved([&run, t] { run({t}); });
          if (!started) mine.push_back(std::move(t));  // this thread runs it
        }
      }
    };
    const int slots = threads.Reserve(static_cast<int>(claimed->size()));  // the claim's: all
    std::deque<store::Task> unstarted;
    for (size_t i = 0; i < claimed->size(); ++i) {
      const store::Task& task = (*claimed)[i];
      if (static_cast<int>(i) >= slots || !threads.StartReserved([&run, task] { run({task}); }))
        unstarted.push_back(task);
    }
    if (!unstarted.empty()) {
      // No thread to be had (a pids limit): this one runs them, in a slot when one is free.
      const int mine = threads.Reserve(1);
      run(std::move(unstarted));
      threads.Unreserve(mine);
    }
    threads.Join();
  }
  end_reports.End();
  log::Get("workorders")
      ->debug("{}: batch ended after {} tasks, {} orders touched and not settled",
              options_.worker_id, stats.ran, later.size());
  if (options_.refill_for.count() == 0) {
    LogUnreported(Report(std::vector<std::string>(later.begin(), later.end())));
  } else {
    carried_ = std::move(later);
    if (stop_claiming_) FlushReports();
  }
  // The tasks that failed to record stay claimed and go back when their lease ends; the
  // counts of the rest still reach the caller (its metrics).
  if (!first_error.ok())
    log::Get("workorders")->warn("work-order batch: {}", first_error.ToString());
  return stats;
}

}  // namespace tandem::workorders
