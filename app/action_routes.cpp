#include "app/action_routes.h"

#include "app/tokens.h"
#include "util/json.h"

namespace tandem::app {

std::string SyncReportJson(const std::string& object, const actions::SyncReport& report) {
  Json out = Json::MakeObject();
  out.Set("object", object);
  out.Set("created", report.created);
  out.Set("updated", report.updated);
  out.Set("unchanged", report.unchanged);
  out.Set("failed", report.failed);
  Json results = Json::MakeArray();
  for (const auto& o : report.outcomes) {
    Json r = Json::MakeObject();
    r.Set("id", o.record_id);
    r.Set("outcome", Outcome::KindName(o.kind));
    if (!o.remote_id.empty()) r.Set("billing_id", o.remote_id);
    if (!o.field.empty()) r.Set("field", o.field);
    if (!o.reason.empty()) r.Set("reason", o.reason);
    results.Push(std::move(r));
  }
  out.Set("results", results);
  return out.Dump();
}

namespace {

// {"ids":[...]}: at most 2,000 per call.
Result<std::vector<std::string>> ParseIds(const std::string& body) {
  auto j = Json::Parse(body);
  if (!j.ok()) return j.status();
  if (!(*j)["ids"].is_array()) return Status::InvalidArgument("the body must be {\"ids\":[...]}");
  std::vector<std::string> ids;
  for (const auto& v : (*j)["ids"].array()) {
    if (!v.is_string()) return Status::InvalidArgument("ids must be strings");
    ids.push_back(v.as_string());
  }
  if (ids.size() > 2000) return Status::InvalidArgument("at most 2000 ids per call");
  return ids;
}

// {"results":[...]}: the open and query answers.
std::string Results(Json results) {
  Json wrap = Json::MakeObject();
  wrap.Set("results", results);
  return wrap.Dump();
}

ApiReply ReceiveCallback(actions::Callbacks& callbacks, const std::string& body,
                         const HeaderMap& headers) {
  auto sig = headers.find(callbacks.SignatureHeader());
  auto r = callbacks.Receive(body, sig == headers.end() ? "" : sig->second);
  Json out = Json::MakeObject();
  if (r.http_status == 200) {
    out.Set("received", true);
    out.Set("duplicate", r.duplicate);
    out.Set("event", r.event_id);
    return ApiReply{200, out.Dump()};
  }
  return ApiReply{r.http_status, ErrorJson("webhook_refused", r.message)};
}

ApiReply SyncAction(actions::Actions& actions, Metrics& metrics, const std::string& name,
                    const std::string& body) {
  auto ids = ParseIds(body);
  if (!ids.ok()) return ApiReply{400, ErrorJson("bad_request", ids.status().message())};
  auto report = actions.Sync(name, *ids);
  if (!report.ok())
    return ApiReply{HttpStatusOf(report.status()),
                    ErrorJson("sync_failed", report.status().ToString())};
  const std::string object = "object=\"" + name + "\",outcome=";
  metrics.Count("tandem_sync_outcomes_total", object + "\"created\"", report->created);
  metrics.Count("tandem_sync_outcomes_total", object + "\"updated\"", report->updated);
  metrics.Count("tandem_sync_outcomes_total", object + "\"unchanged\"", report->unchanged);
  metrics.Count("tandem_sync_outcomes_total", object + "\"failed\"", report->failed);
  return ApiReply{200, SyncReportJson(name, *report)};
}

ApiReply OpenAction(actions::Actions& actions, const std::string& name, const std::string& body) {
  auto ids = ParseIds(body);
  if (!ids.ok()) return ApiReply{400, ErrorJson("bad_request", ids.status().message())};
  auto open = actions.Open(name, *ids);
  if (!open.ok())
    return ApiReply{HttpStatusOf(open.status()),
                    ErrorJson("open_failed", open.status().ToString())};
  Json out = Json::MakeArray();
  for (const auto& r : *open) {
    Json j = Json::MakeObject();
    j.Set("id", r.crm_id);
    if (!r.billing_id.empty()) j.Set("billing_id", r.billing_id);
    if (!r.url.empty()) j.Set("url", r.url);
    if (!r.error.empty()) j.Set("error", r.error);
    out.Push(std::move(j));
  }
  return ApiReply{200, Results(std::move(out))};
}

ApiReply QueryAction(actions::Actions& actions, const std::string& name, const std::string& body) {
  auto ids = ParseIds(body);
  if (!ids.ok()) return ApiReply{400, ErrorJson("bad_request", ids.status().message())};
  auto query = actions.Query(name, *ids);
  if (!query.ok())
    return ApiReply{HttpStatusOf(query.status()),
                    ErrorJson("query_failed", query.status().ToString())};
  Json out = Json::MakeArray();
  for (const auto& q : *query) {
    Json j = Json::MakeObject();
    j.Set("id", q.crm_id);
    if (!q.billing_id.empty()) j.Set("billing_id", q.billing_id);
    if (!q.error.empty()) j.Set("error", q.error);
    if (!q.billing_state.is_null()) j.Set("billing", q.billing_state);
    Json diffs = Json::MakeArray();
    for (const auto& d : q.diffs) {
      Json dj = Json::MakeObject();
      dj.Set("field", d.field);
      dj.Set("crm", d.crm_value);
      dj.Set("billing", d.billing_value);
      diffs.Push(std::move(dj));
    }
    j.Set("diffs", diffs);
    out.Push(std::move(j));
  }
  return ApiReply{200, Results(std::move(out))};
}

}  // namespace

void RegisterActionRoutes(ApiServer& server, Runtime& rt) {
  server.SetMetrics(&rt.metrics);
  rt.metrics.Describe("tandem_sync_outcomes_total", "counter",
                      "Records synced, by object and outcome.");
  actions::Callbacks* callbacks = rt.callbacks.get();
  server.PublicRoute("POST", "/api/v1/callbacks/billing",
                     [callbacks](const std::string& body, const HeaderMap& headers) {
                       return ReceiveCallback(*callbacks, body, headers);
                     });
  for (const auto& o : rt.mapping.objects) {
    if (o.billing != "account") continue;
    const std::string name = o.name;
    const std::string base = "/api/v1/actions/" + name + "/";
    actions::Actions* actions = rt.actions.get();
    Metrics* metrics = &rt.metrics;
    server.Route("POST", base + "sync", kScopeActions,
                 [actions, name, metrics](const std::string& body) {
                   return SyncAction(*actions, *metrics, name, body);
                 });
    server.Route("POST", base + "open", kScopeActions, [actions, name](const std::string& body) {
      return OpenAction(*actions, name, body);
    });
    server.Route("POST", base + "query", kScopeActions, [actions, name](const std::string& body) {
      return QueryAction(*actions, name, body);
    });
  }
}

}  // namespace tandem::app
