#include "workorders/recovery.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>

#include "util/log.h"

namespace tandem::workorders {
namespace {

bool Unfinished(const std::string& state) {
  return state == "pending" || state == "running" || state == "failed";
}

// FNV-1a, 64 bits: stable across builds and machines (the key it names is stored).
uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

Result<std::string> Salesforce18(const std::string& id) {
  bool alnum = true;
  for (unsigned char c : id) alnum = alnum && std::isalnum(c);
  if (!alnum || (id.size() != 15 && id.size() != 18))
    return Status::InvalidArgument("'" + id.substr(0, 40) +
                                   "' is not a Salesforce id (15 or 18 letters and digits)");
  if (id.size() == 18) return id;
  // The 3-character suffix says which of the 15 are upper case, 5 per character.
  static const char kSuffix[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  std::string out = id;
  for (int chunk = 0; chunk < 3; ++chunk) {
    int bits = 0;
    for (int i = 0; i < 5; ++i)
      if (std::isupper(static_cast<unsigned char>(id[static_cast<size_t>(chunk * 5 + i)])))
        bits |= 1 << i;
    out += kSuffix[bits];
  }
  return out;
}

std::string ContentOf(const std::string& payload) {
  auto p = Json::Parse(payload);
  if (!p.ok()) return payload;
  p->Erase("planned_at");
  return p->Dump();
}

std::string ReplannedKey(const std::string& base, const std::string& content) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(Fnv1a(content)));
  return base + "~r" + hex;
}

Result<std::vector<store::GroupSummary>> Recovery::List(const store::GroupFilter& filter) {
  if (!filter.state.empty() && filter.state != "failed" && filter.state != "open" &&
      filter.state != "done")
    return Status::InvalidArgument("state '" + filter.state + "' is not one of failed, open, done");
  if (!filter.account_id.empty()) {
    store::GroupFilter f = filter;
    auto id = Salesforce18(filter.account_id);
    if (!id.ok()) return id.status();
    f.account_id = *id;
    return deps_.store.ListGroups(f);
  }
  return deps_.store.ListGroups(filter);
}

Result<std::vector<store::Task>> Recovery::Show(const std::string& order_id) {
  auto tasks = deps_.store.TasksInGroup(order_id);
  if (!tasks.ok()) return tasks;
  // An Order's work order only: a revenue repair's tasks are reconcile's own.
  if (tasks->empty() || tasks->front().key.rfind("tandem:wo:", 0) != 0)
    return Status::NotFound("no work order for an Order " + order_id);
  return tasks;
}

void Recovery::Audit(const char* action, const RecoveryRequest& r, const Status& outcome,
                     const std::string& detail) {
  store::AuditEntry e;
  e.at_ms = ToEpochMillis(deps_.clock.Now());
  e.actor = "operator:" + r.by;
  e.object = "workorder";
  e.record_id = r.order_id;
  e.action = action;
  e.outcome = outcome.ok() ? "ok" : "refused";
  e.detail = outcome.ok() ? detail : outcome.ToString();
  if (Status s = deps_.store.AppendAudit({e}); !s.ok())
    log::Get("workorders")
        ->warn("work order {}: audit of {}: {}", r.order_id, action, s.ToString());
}

void Recovery::ReportNow(const std::string& order_id) {
  // The store already records the report as owed: a failed write here is the sweep's to redo.
  for (const auto& [id, s] : engine_.ReportNow({order_id}))
    if (!s.ok()) log::Get("workorders")->warn("work order {}: report: {}", id, s.ToString());
}

Result<int> Recovery::Change(const char* action, const RecoveryRequest& r,
                             const store::TaskChange& c) {
  Result<int> changed = Status::InvalidArgument("who asks (by) is required");
  if (!r.by.empty() && !r.order_id.empty()) {
    auto tasks = Show(r.order_id);
    changed = tasks.ok() ? deps_.store.ChangeTasks(r.order_id, c, ToEpochMillis(deps_.clock.Now()))
                         : Result<int>(tasks.status());
  } else if (r.order_id.empty())
    changed = Status::InvalidArgument("an order id is required");
  std::string detail = std::to_string(changed.ok() ? *changed : 0) + " task(s)";
  if (c.task_id) detail += ", task " + std::to_string(c.task_id);
  if (!r.reason.empty()) detail += ": " + r.reason;
  Audit(action, r, changed.status(), detail);
  if (changed.ok()) ReportNow(r.order_id);
  return changed;
}

Result<int> Recovery::Retry(const RecoveryRequest& r) {
  return Change("retry", r, store::TaskChange{store::TaskAction::kRetry, r.task_id, ""});
}

Result<int> Recovery::Dismiss(const RecoveryRequest& r) {
  if (r.reason.empty()) {
    const Status refused =
        Status::InvalidArgument("a reason is required to dismiss order " + r.order_id);
    Audit("dismiss", r, refused, "");
    return refused;
  }
  // The whole order: a dismissed task's successors could never run.
  if (r.task_id != 0) {
    const Status refused = Status::InvalidArgument(
        "dismiss gives up a whole order (a dismissed task's successors could never run): "
        "leave out the task");
    Audit("dismiss", r, refused, "");
    return refused;
  }
  return Change("dismiss", r,
                store::TaskChange{store::TaskAction::kDismiss, 0, "by " + r.by + ": " + r.reason});
}

Result<int> Recovery::Complete(const RecoveryRequest& r) {
  Json result = Json::MakeObject();
  if (!r.result_json.empty()) {
    auto parsed = Json::Parse(r.result_json);
    if (!parsed.ok() || !parsed->is_object()) {
      const Status refused = Status::InvalidArgument("the result must be a JSON object, got '" +
                                                     r.result_json.substr(0, 80) + "'");
      Audit("complete", r, refused, "");
      return refused;
    }
    result = *parsed;
  }
  if (r.task_id == 0) {
    const Status refused = Status::InvalidArgument(
        "name the task a person did in billing (task id, from `workorder show`)");
    Audit("complete", r, refused, "");
    return refused;
  }
  // What the tasks after it read from its result (workorders/tasks.cpp).
  auto tasks = Show(r.order_id);
  if (!tasks.ok()) {
    Audit("complete", r, tasks.status(), "");
    return tasks.status();
  }
  for (const auto& t : *tasks) {
    if (t.id != r.task_id) continue;
    const char* needs = t.kind == "sync_account"                                 ? "billing_id"
                        : t.kind == "create_subscription" || t.kind == "replace" ? "subscription_id"
                                                                                 : nullptr;
    if (needs && result[needs].ToText().empty()) {
      const Status refused = Status::InvalidArgument(
          std::string("a ") + t.kind + " task's result must name what billing holds: " + "{\"" +
          needs + "\": \"…\"} (the tasks after it read it)");
      Audit("complete", r, refused, "");
      return refused;
    }
  }
  result.Set("manual", true);
  result.Set("completed_by", r.by);
  if (!r.reason.empty()) result.Set("note", r.reason);
  return Change("complete", r,
                store::TaskChange{store::TaskAction::kComplete, r.task_id, result.Dump()});
}

Result<RestartResult> Recovery::Restart(const RecoveryRequest& r) {
  auto fail = [&](Status s) -> Result<RestartResult> {
    Audit("restart", r, s, "");
    return s;
  };
  if (r.by.empty()) return fail(Status::InvalidArgument("who asks (by) is required"));
  auto tasks = Show(r.order_id);
  if (!tasks.ok()) return fail(tasks.status());
  bool open = false;
  for (const auto& t : *tasks) {
    open = open || Unfinished(t.state);
    if (t.state == "running")
      return fail(Status::Conflict("task " + std::to_string(t.id) + " of order " + r.order_id +
                                   " is running now; wait for its attempt to end"));
  }
  if (!open)
    return fail(Status::Conflict("order " + r.order_id +
                                 " has no unfinished task: there is nothing to restart"));
  auto order = ReadOrder(deps_.crm, r.order_id, deps_.mapping.Find("order"));
  if (!order.ok()) return fail(order.status());
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  auto plan = PlanOrder(*order, templates_, now / 1000);
  if (!plan.ok()) return fail(plan.status());

  std::map<std::string, const store::Task*> by_key;
  for (const auto& t : *tasks) by_key[t.key] = &t;
  // The row that stands for a planned key now: its own, or a restart's replacement of it.
  auto current = [&](const std::string& base) -> const store::Task* {
    for (auto it = by_key.lower_bound(base); it != by_key.end(); ++it) {
      if (it->first != base && it->first.rfind(base + "~r", 0) != 0) break;
      if (it->second->state != "superseded") return it->second;
    }
    return nullptr;
  };
  RestartResult out;
  std::map<std::string, std::string> actual;  // planned key -> the key it runs under
  std::vector<store::KeptTask> kept;
  std::vector<store::TaskSpec> add;
  for (const auto& planned : *plan) {
    const std::string& base = planned.spec.key;
    const store::Task* now_row = current(base);
    if (now_row && !Unfinished(now_row->state)) {  // done or dismissed: never redone
      actual[base] = now_row->key;
      ++out.finished;
      continue;
    }
    const std::string content = ContentOf(planned.spec.payload);
    if (now_row && ContentOf(now_row->payload) == content) {
      actual[base] = now_row->key;
      kept.push_back({now_row->key, planned.spec.depends_on});
      ++out.kept;
      continue;
    }
    // A changed task gets a new key; the old one must not have reached billing unanswered
    // (timeouts, lost answers): billing may hold its result under the old key, where a look
    // under the new one would not find it. A refusal (a failure before its last attempt) is safe.
    if (now_row && now_row->attempts > 0 &&
        !(now_row->state == "failed" && now_row->attempts < now_row->max_attempts))
      return fail(Status::Conflict(
          "order " + r.order_id + ": task " + std::to_string(now_row->id) + " (" + now_row->kind +
          ") ran " + std::to_string(now_row->attempts) + " time(s) under key " + now_row->key +
          " without a definite answer, so billing may hold its result; check billing, then " +
          "complete the task with what billing holds, retry it unchanged, or dismiss the order"));
    // The planned key's first content, or a key of this content's own.
    auto first = by_key.find(base);
    store::TaskSpec spec = planned.spec;
    if (first != by_key.end() && ContentOf(first->second->payload) != content)
      spec.key = ReplannedKey(base, content);
    actual[base] = spec.key;
    add.push_back(std::move(spec));
    ++out.replanned;
  }
  // Dependencies name planned keys: each runs under the key chosen above (kept tasks too: the
  // task a kept one waits for may have a new key).
  auto remap = [&](std::string* dep) {
    if (!dep->empty() && actual.count(*dep)) *dep = actual[*dep];
  };
  for (auto& spec : add) remap(&spec.depends_on);
  for (auto& k : kept) remap(&k.depends_on);
  std::set<std::string> seen_open;
  for (const auto& t : *tasks)
    if (Unfinished(t.state)) seen_open.insert(t.key);
  out.superseded = static_cast<int>(seen_open.size()) - out.kept;
  Status s = deps_.store.Replan(r.order_id, kept, add, seen_open, now);
  Audit("restart", r, s,
        std::to_string(out.kept) + " kept, " + std::to_string(out.replanned) + " re-planned, " +
            std::to_string(out.superseded) + " superseded, " + std::to_string(out.finished) +
            " finished" + (r.reason.empty() ? "" : ": " + r.reason));
  if (!s.ok()) return s;
  ReportNow(r.order_id);
  return out;
}

}  // namespace tandem::workorders
