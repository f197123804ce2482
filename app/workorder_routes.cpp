#include "app/workorder_routes.h"

#include "app/tokens.h"

namespace tandem::app {
namespace {

Json TaskJson(const store::Task& t) {
  Json j = Json::MakeObject();
  j.Set("id", t.id);
  j.Set("key", t.key);
  j.Set("kind", t.kind);
  j.Set("state", t.state);
  j.Set("attempts", t.attempts);
  j.Set("max_attempts", t.max_attempts);
  if (!t.depends_on.empty()) j.Set("depends_on", t.depends_on);
  if (t.next_run_ms > 0 && t.state == "pending")
    j.Set("next_run_at", FormatRfc3339(FromEpochMillis(t.next_run_ms)));
  if (!t.last_error.empty()) j.Set("last_error", t.last_error);
  if (!t.result.empty()) {
    auto r = Json::Parse(t.result);
    j.Set("result", r.ok() ? *r : Json(t.result));
  }
  return j;
}

Json GroupJson(const store::GroupSummary& g) {
  Json j = Json::MakeObject();
  j.Set("order_id", g.group_id);
  j.Set("tasks", g.total);
  j.Set("done", g.done);
  j.Set("failed", g.failed);
  j.Set("pending", g.pending);
  j.Set("running", g.running);
  j.Set("dismissed", g.dismissed);
  j.Set("updated_at", FormatRfc3339(FromEpochMillis(g.updated_ms)));
  if (!g.first_error.empty()) j.Set("error", g.first_error);
  return j;
}

// The order's state after a change, as the CRM now shows it.
void SetStatus(workorders::Recovery& recovery, const std::string& order_id, Json* out) {
  auto s = recovery.State(order_id);
  if (!s.ok()) return;
  out->Set("status", s->status);
  out->Set("done", s->done);
  out->Set("total", s->total);
  if (!s->error.empty()) out->Set("error", s->error);
}

RecoveryAnswer Failed(const Status& s) { return RecoveryAnswer{s, Json()}; }

workorders::RecoveryRequest RequestOf(const Json& j, int64_t task_id) {
  workorders::RecoveryRequest r;
  r.order_id = j["order_id"].ToText();
  r.task_id = task_id;
  r.by = j["by"].ToText();
  r.reason = j["reason"].ToText();
  if (j.Has("result"))
    r.result_json = j["result"].is_string() ? j["result"].as_string() : j["result"].Dump();
  return r;
}

}  // namespace

Result<int64_t> IntMember(const Json& request, const char* name, int64_t fallback) {
  const Json* v = request.Find(name);
  if (!v || v->is_null()) return fallback;
  if (v->is_number() && v->as_number() == static_cast<double>(v->as_int())) return v->as_int();
  if (v->is_string() && !v->as_string().empty() && v->as_string().size() < 19 &&
      v->as_string().find_first_not_of("0123456789") == std::string::npos)
    return static_cast<int64_t>(std::stoll(v->as_string()));
  return Status::InvalidArgument(std::string(name) + " must be a whole number, got " +
                                 v->Dump().substr(0, 40));
}

RecoveryAnswer RecoveryCall(workorders::Recovery& recovery, const Clock& clock,
                            const std::string& verb, const Json& request) {
  if (!request.is_object())
    return Failed(Status::InvalidArgument("the body must be a JSON object"));
  auto task_id = IntMember(request, "task_id", 0);
  auto limit = IntMember(request, "limit", 50);
  auto age = IntMember(request, "older_than_s", 0);
  for (const auto* n : {&task_id, &limit, &age})
    if (!n->ok()) return Failed(n->status());
  const workorders::RecoveryRequest r = RequestOf(request, *task_id);
  if (verb != "list" && r.order_id.empty())
    return Failed(Status::InvalidArgument("order_id is required"));
  Json out = Json::MakeObject();
  if (verb == "list") {
    store::GroupFilter f;
    f.state = request["state"].ToText();
    f.account_id = request["account_id"].ToText();
    f.group_id = r.order_id;
    f.after = request["after"].ToText();
    if (*limit < 1 || *limit > 500)
      return Failed(Status::InvalidArgument("limit must be 1 to 500"));
    f.limit = static_cast<int>(*limit);
    if (*age < 0) return Failed(Status::InvalidArgument("older_than_s must be 0 or more"));
    if (*age > 0) f.changed_before_ms = ToEpochMillis(clock.Now()) - *age * 1000;
    auto groups = recovery.List(f);
    if (!groups.ok()) return Failed(groups.status());
    Json orders = Json::MakeArray();
    for (const auto& g : *groups) orders.Push(GroupJson(g));
    out.Set("orders", orders);
    // Keyset paging: the next page starts after the last order of a full one.
    if (static_cast<int>(groups->size()) == f.limit) out.Set("next", groups->back().group_id);
    return RecoveryAnswer{Status::Ok(), out};
  }
  out.Set("order_id", r.order_id);
  if (verb == "show") {
    auto tasks = recovery.Show(r.order_id);
    if (!tasks.ok()) return Failed(tasks.status());
    SetStatus(recovery, r.order_id, &out);
    Json list = Json::MakeArray();
    for (const auto& t : *tasks) list.Push(TaskJson(t));
    out.Set("tasks", list);
    return RecoveryAnswer{Status::Ok(), out};
  }
  if (verb == "restart") {
    auto done = recovery.Restart(r);
    if (!done.ok()) return Failed(done.status());
    out.Set("kept", done->kept);
    out.Set("replanned", done->replanned);
    out.Set("superseded", done->superseded);
    out.Set("finished", done->finished);
    SetStatus(recovery, r.order_id, &out);
    return RecoveryAnswer{Status::Ok(), out};
  }
  Result<int> changed = Status::InvalidArgument(
      "'" + verb + "' is not one of list, show, retry, restart, dismiss, complete");
  if (verb == "retry") changed = recovery.Retry(r);
  if (verb == "dismiss") changed = recovery.Dismiss(r);
  if (verb == "complete") changed = recovery.Complete(r);
  if (!changed.ok()) return Failed(changed.status());
  out.Set("changed", *changed);
  SetStatus(recovery, r.order_id, &out);
  return RecoveryAnswer{Status::Ok(), out};
}

ApiReply ReplyOf(const RecoveryAnswer& a, const std::string& error_code) {
  if (!a.status.ok())
    return ApiReply{HttpStatusOf(a.status), ErrorJson(error_code, a.status.message())};
  return ApiReply{200, a.body.Dump()};
}

void JsonPostRoute(ApiServer& server, const std::string& path, const std::string& error_code,
                   std::function<RecoveryAnswer(const Json&)> call) {
  server.Route(
      "POST", path, kScopeOperator, [call = std::move(call), error_code](const std::string& body) {
        auto request = Json::Parse(body.empty() ? "{}" : body);
        if (!request.ok())
          return ApiReply{
              400, ErrorJson("bad_request", "the body is not JSON: " + request.status().message())};
        return ReplyOf(call(*request), error_code);
      });
}

RecoveryParts NewRecovery(Runtime& rt) {
  RecoveryParts p;
  p.engine = NewEngine(rt, {});
  p.recovery = std::make_unique<workorders::Recovery>(TaskDepsOf(rt), rt.templates, *p.engine);
  return p;
}

void RegisterWorkOrderRoutes(ApiServer& server, Runtime& rt) {
  auto parts = std::make_shared<RecoveryParts>(NewRecovery(rt));
  const Clock* clock = &rt.clock;
  for (const char* verb : {"list", "show", "retry", "restart", "dismiss", "complete"}) {
    const std::string v = verb;
    JsonPostRoute(server, "/api/v1/workorders/" + v, "workorder_" + v + "_refused",
                  [parts, clock, v](const Json& request) {
                    return RecoveryCall(*parts->recovery, *clock, v, request);
                  });
  }
}

}  // namespace tandem::app
