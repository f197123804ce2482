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
  for (const auto& o : report.outcomes) results.Push(OutcomeJson(o));
  out.Set("results", results);
  return out.Dump();
}

namespace {

// {"ids":[...], "async": bool?}: at most 2,000 ids per call.
struct IdsRequest {
  std::vector<std::string> ids;
  bool async = false;
};
Result<IdsRequest> ParseIdsRequest(const std::string& body) {
  auto j = Json::Parse(body);
  if (!j.ok()) return j.status();
  if (!(*j)["ids"].is_array()) return Status::InvalidArgument("the body must be {\"ids\":[...]}");
  IdsRequest out;
  for (const auto& v : (*j)["ids"].array()) {
    if (!v.is_string()) return Status::InvalidArgument("ids must be strings");
    out.ids.push_back(v.as_string());
  }
  if (out.ids.size() > 2000) return Status::InvalidArgument("at most 2000 ids per call");
  const Json& async = (*j)["async"];
  if (!async.is_null() && !async.is_bool())
    return Status::InvalidArgument("async must be true or false");
  out.async = async.as_bool();
  return out;
}

Result<std::vector<std::string>> ParseIds(const std::string& body) {
  auto r = ParseIdsRequest(body);
  if (!r.ok()) return r.status();
  return std::move(r->ids);
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

void CountOutcomes(Metrics& metrics, const std::string& name, const actions::SyncReport& report) {
  const std::string object = "object=\"" + name + "\",outcome=";
  metrics.Count("tandem_sync_outcomes_total", object + "\"created\"", report.created);
  metrics.Count("tandem_sync_outcomes_total", object + "\"updated\"", report.updated);
  metrics.Count("tandem_sync_outcomes_total", object + "\"unchanged\"", report.unchanged);
  metrics.Count("tandem_sync_outcomes_total", object + "\"failed\"", report.failed);
}

// Answers at once (200 with every outcome), or, over `jobs.async_after` ids or when asked,
// 202 with a job to poll.
ApiReply SyncAction(actions::Actions& actions, Metrics& metrics, const AsyncSyncs& jobs,
                    const std::string& name, const std::string& body) {
  auto request = ParseIdsRequest(body);
  if (!request.ok()) return ApiReply{400, ErrorJson("bad_request", request.status().message())};
  if (jobs.jobs && !request->ids.empty() &&
      (request->async || request->ids.size() > jobs.async_after)) {
    auto id = jobs.jobs->StartSync(name, std::move(request->ids));
    if (!id.ok())
      return ApiReply{HttpStatusOf(id.status()), ErrorJson("sync_failed", id.status().ToString())};
    Json out = Json::MakeObject();
    out.Set("job_id", *id);
    out.Set("state", "running");
    out.Set("status_url", "/api/v1/jobs/" + *id);
    return ApiReply{202, out.Dump()};
  }
  auto report = actions.Sync(name, request->ids);
  if (!report.ok())
    return ApiReply{HttpStatusOf(report.status()),
                    ErrorJson("sync_failed", report.status().ToString())};
  CountOutcomes(metrics, name, *report);
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

// {"links":[{"id":"001…","billing_id":"cus_…"},...]}: at most 2,000 pairs per call.
Result<std::vector<actions::LinkPair>> ParseLinks(const std::string& body) {
  auto j = Json::Parse(body);
  if (!j.ok()) return j.status();
  if (!(*j)["links"].is_array())
    return Status::InvalidArgument(
        "the body must be {\"links\":[{\"id\":\"...\",\"billing_id\":\"...\"}]}");
  std::vector<actions::LinkPair> out;
  for (const auto& v : (*j)["links"].array()) {
    if (!v["id"].is_string() || !v["billing_id"].is_string())
      return Status::InvalidArgument("each link needs \"id\" and \"billing_id\" as strings");
    out.push_back(actions::LinkPair{v["id"].as_string(), v["billing_id"].as_string()});
  }
  if (out.size() > 2000) return Status::InvalidArgument("at most 2000 links per call");
  return out;
}

ApiReply LinkResults(const Result<std::vector<actions::LinkResult>>& done,
                     const std::string& error_code) {
  if (!done.ok())
    return ApiReply{HttpStatusOf(done.status()), ErrorJson(error_code, done.status().ToString())};
  Json out = Json::MakeArray();
  for (const auto& r : *done) {
    Json j = Json::MakeObject();
    j.Set("id", r.crm_id);
    if (!r.billing_id.empty()) j.Set("billing_id", r.billing_id);
    if (!r.outcome.empty()) j.Set("outcome", r.outcome);
    if (!r.error.empty()) j.Set("error", r.error);
    out.Push(std::move(j));
  }
  return ApiReply{200, Results(std::move(out))};
}

ApiReply LinkAction(actions::Actions& actions, const std::string& name, const std::string& body) {
  auto pairs = ParseLinks(body);
  if (!pairs.ok()) return ApiReply{400, ErrorJson("bad_request", pairs.status().message())};
  return LinkResults(actions.Link(name, *pairs), "link_failed");
}

ApiReply UnlinkAction(actions::Actions& actions, const std::string& name, const std::string& body) {
  auto ids = ParseIds(body);
  if (!ids.ok()) return ApiReply{400, ErrorJson("bad_request", ids.status().message())};
  return LinkResults(actions.Unlink(name, *ids), "unlink_failed");
}

ApiReply InvoicesAction(actions::Actions& actions, const std::string& name,
                        const std::string& body) {
  auto ids = ParseIds(body);
  if (!ids.ok()) return ApiReply{400, ErrorJson("bad_request", ids.status().message())};
  if (ids->size() > 200)
    return ApiReply{400, ErrorJson("bad_request",
                                   "at most 200 ids per call: each reads every "
                                   "invoice of its account")};
  auto done = actions.RefreshInvoices(name, *ids);
  if (!done.ok())
    return ApiReply{HttpStatusOf(done.status()),
                    ErrorJson("invoices_failed", done.status().ToString())};
  Json out = Json::MakeArray();
  for (const auto& r : *done) {
    Json j = Json::MakeObject();
    j.Set("id", r.crm_id);
    if (!r.billing_id.empty()) j.Set("billing_id", r.billing_id);
    j.Set("invoices", r.invoices);
    j.Set("payments", r.payments);
    if (!r.error.empty()) j.Set("error", r.error);
    out.Push(std::move(j));
  }
  return ApiReply{200, Results(std::move(out))};
}

}  // namespace

void RegisterActionRoutes(ApiServer& server, Runtime& rt, AsyncSyncs async) {
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
                 [actions, name, metrics, async](const std::string& body) {
                   return SyncAction(*actions, *metrics, async, name, body);
                 });
    server.Route("POST", base + "open", kScopeActions, [actions, name](const std::string& body) {
      return OpenAction(*actions, name, body);
    });
    server.Route("POST", base + "query", kScopeActions, [actions, name](const std::string& body) {
      return QueryAction(*actions, name, body);
    });
    server.Route("POST", base + "link", kScopeActions, [actions, name](const std::string& body) {
      return LinkAction(*actions, name, body);
    });
    server.Route("POST", base + "unlink", kScopeActions, [actions, name](const std::string& body) {
      return UnlinkAction(*actions, name, body);
    });
    if (o.crm == "Account")  // invoices belong to accounts
      server.Route("POST", base + "invoices", kScopeActions,
                   [actions, name](const std::string& body) {
                     return InvoicesAction(*actions, name, body);
                   });
  }
}

std::function<void(const std::string&, const actions::SyncReport&)> CountSyncOutcomes(
    Metrics& metrics) {
  return [&metrics](const std::string& name, const actions::SyncReport& report) {
    CountOutcomes(metrics, name, report);
  };
}

void RegisterJobRoutes(ApiServer& server, Runtime& rt) {
  Runtime* runtime = &rt;
  server.RouteWithId(
      "GET", "/api/v1/jobs/", "", std::string(kScopeActions) + "|" + kScopeOperator,
      [runtime](const std::string& id, const std::map<std::string, std::string>& query,
                const std::string&) {
        auto number = [&](const char* name, int64_t fallback) {
          return QueryNumber(query, name, fallback);
        };
        const int64_t after = number("after", 0), limit = number("limit", 200);
        if (after < 0 || limit < 1 || limit > 2000)
          return ApiReply{
              400, ErrorJson("bad_request", "after must be a number >= 0 and limit 1 to 2000")};
        auto job = JobJson(*runtime->store, id, after, static_cast<int>(limit), runtime->clock);
        if (!job.ok())
          return ApiReply{HttpStatusOf(job.status()), ErrorJson("job", job.status().message())};
        return ApiReply{200, job->Dump()};
      });
}

}  // namespace tandem::app
