#include "app/runtime.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/json.h"

namespace tandem::app {

namespace {

// Reads a file the config names: relative paths are taken from the config file's folder,
// then the working directory. Returns the text; *resolved is the path read.
Result<std::string> ReadBesideConfig(const std::string& path, const std::string& config_source,
                                     const char* what, std::string* resolved) {
  namespace fs = std::filesystem;
  *resolved = path;
  if (!fs::path(path).is_absolute() && !config_source.empty()) {
    const fs::path beside = fs::path(config_source).parent_path() / path;
    if (fs::exists(beside)) *resolved = beside.string();
  }
  std::ifstream in(*resolved);
  if (!in) return Status::InvalidArgument(std::string("cannot read the ") + what + " " + *resolved);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<mapping::Mapping> LoadMappingFile(const std::string& path,
                                         const std::string& config_source) {
  std::string resolved;
  auto text = ReadBesideConfig(path, config_source, "mapping file", &resolved);
  if (!text.ok()) return text.status();
  return mapping::ParseMapping(*text, resolved);
}

Result<workorders::Templates> LoadTemplatesFile(const std::string& path,
                                                const std::string& config_source) {
  std::string resolved;
  auto text = ReadBesideConfig(path, config_source, "work-order templates", &resolved);
  if (!text.ok()) return text.status();
  return workorders::ParseTemplates(*text, resolved);
}

Result<std::unique_ptr<Runtime>> BuildRuntime(const Config& c, RedactorPtr redactor) {
  auto rt = std::make_unique<Runtime>(std::move(redactor));
  store::StoreOptions so;
  so.url = c.store.url;
  so.pool_size = c.store.pool_size;
  so.schema = c.store.schema;
  auto store = store::Store::Open(so);
  if (!store.ok()) return store.status();
  rt->store = std::move(store).value();
  auto mapping = LoadMappingFile(ResolveDataPath(c.mapping_path), c.source);
  if (!mapping.ok()) return mapping.status();
  rt->mapping = std::move(mapping).value();
  // Work-order templates: required when the config names them; the default file is optional
  // (a migration or a manual sync needs none), and without it every order fails with
  // "no template", which the CRM shows.
  auto templates = LoadTemplatesFile(ResolveDataPath(c.workorders_path), c.source);
  if (templates.ok()) {
    rt->templates = std::move(templates).value();
  } else if (c.workorders_path_set ||
             templates.status().message().rfind("cannot read", 0) != 0) {  // a broken file
    return templates.status();
  } else {
    rt->templates.source = c.workorders_path + " (missing)";
  }

  if (c.crm.remote.base_url.empty()) return Status::InvalidArgument("crm.base_url is not set");
  connector::crm::salesforce::ConnectionOptions co;
  co.instance_url = c.crm.remote.base_url;
  co.login_url = c.crm.login_url;
  co.oauth.flow = c.crm.auth_flow;
  co.oauth.client_id = c.crm.client_id;
  co.oauth.client_secret = c.crm.client_secret;
  co.oauth.username = c.crm.username;
  co.oauth.private_key = c.crm.private_key;
  co.oauth.refresh_token = c.crm.refresh_token;
  co.api.api_version = c.crm.api_version;
  co.api.daily_api_floor = c.crm.daily_api_floor;
  co.timeout = Millis(c.crm.remote.timeout_ms);
  co.rate_per_second = c.crm.remote.rate_per_second;
  co.burst = c.crm.remote.burst;
  co.max_attempts = c.crm.remote.max_attempts;
  const connector::http::RestClientDeps deps{rt->clock, rt->sleeper, rt->random, rt->counter};
  rt->crm = std::make_unique<connector::crm::salesforce::SalesforceConnection>(
      co, deps, *rt->redactor, rt->sleeper);
  if (c.billing.remote.base_url.empty())
    return Status::InvalidArgument("billing.base_url is not set");
  connector::billing::stripe::StripeConnectionOptions bo;
  bo.base_url = c.billing.remote.base_url;
  bo.api_key = c.billing.api_key;
  bo.api.api_version = c.billing.api_version;
  bo.api.webhook_secret = c.billing.webhook_secret;
  bo.api.webhook_tolerance_s = c.billing.webhook_tolerance_s;
  bo.timeout = Millis(c.billing.remote.timeout_ms);
  bo.rate_per_second = c.billing.remote.rate_per_second;
  bo.burst = c.billing.remote.burst;
  bo.max_attempts = c.billing.remote.max_attempts;
  rt->billing =
      std::make_unique<connector::billing::stripe::StripeConnection>(bo, deps, *rt->redactor);
  rt->actions = std::make_unique<actions::Actions>(
      actions::ActionDeps{rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping,
                          rt->clock},
      "api");
  rt->callbacks = std::make_unique<actions::Callbacks>(actions::ActionDeps{
      rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping, rt->clock});
  rt->catalog = std::make_unique<catalog_sync::CatalogSync>(
      catalog_sync::CatalogDeps{rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping,
                                rt->clock, c.catalog_pricebooks});
  rt->scheduler =
      std::make_unique<Scheduler>(*rt->catalog, *rt->store, Millis(c.schedules.catalog_sync_ms));
  Scheduler* scheduler = rt->scheduler.get();
  rt->callbacks->OnCatalogChanged([scheduler] { scheduler->Trigger(); });
  return rt;
}

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

std::string Error(const std::string& code, const std::string& message) {
  Json e = Json::MakeObject();
  Json inner = Json::MakeObject();
  inner.Set("code", code);
  inner.Set("message", message);
  e.Set("error", inner);
  return e.Dump();
}

int HttpStatus(const Status& st) {
  if (st.IsNotFound()) return 404;
  if (st.IsInvalidArgument()) return 400;
  if (st.IsRateLimited()) return 429;
  if (st.IsUnavailable() || st.IsTimeout()) return 503;
  return 500;
}

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

}  // namespace

void RegisterActionRoutes(ApiServer& server, Runtime& rt) {
  server.SetMetrics(&rt.metrics);
  rt.metrics.Describe("tandem_sync_outcomes_total", "counter",
                      "Records synced, by object and outcome.");
  actions::Callbacks* callbacks = rt.callbacks.get();
  server.PublicRoute("POST", "/api/v1/callbacks/billing",
                     [callbacks](const std::string& body, const HeaderMap& headers) {
                       auto sig = headers.find("stripe-signature");
                       auto r = callbacks->Receive(body, sig == headers.end() ? "" : sig->second);
                       Json out = Json::MakeObject();
                       if (r.http_status == 200) {
                         out.Set("received", true);
                         out.Set("duplicate", r.duplicate);
                         out.Set("event", r.event_id);
                         return ApiReply{200, out.Dump()};
                       }
                       return ApiReply{r.http_status, Error("webhook_refused", r.message)};
                     });
  for (const auto& o : rt.mapping.objects) {
    if (o.billing != "customer") continue;
    const std::string name = o.name;
    const std::string base = "/api/v1/actions/" + name + "/";
    actions::Actions* actions = rt.actions.get();
    Metrics* metrics = &rt.metrics;
    server.Route("POST", base + "sync", [actions, name, metrics](const std::string& body) {
      auto ids = ParseIds(body);
      if (!ids.ok()) return ApiReply{400, Error("bad_request", ids.status().message())};
      auto report = actions->Sync(name, *ids);
      if (!report.ok())
        return ApiReply{HttpStatus(report.status()),
                        Error("sync_failed", report.status().ToString())};
      const std::string object = "object=\"" + name + "\",outcome=";
      metrics->Count("tandem_sync_outcomes_total", object + "\"created\"", report->created);
      metrics->Count("tandem_sync_outcomes_total", object + "\"updated\"", report->updated);
      metrics->Count("tandem_sync_outcomes_total", object + "\"unchanged\"", report->unchanged);
      metrics->Count("tandem_sync_outcomes_total", object + "\"failed\"", report->failed);
      return ApiReply{200, SyncReportJson(name, *report)};
    });
    server.Route("POST", base + "open", [actions, name](const std::string& body) {
      auto ids = ParseIds(body);
      if (!ids.ok()) return ApiReply{400, Error("bad_request", ids.status().message())};
      auto open = actions->Open(name, *ids);
      if (!open.ok())
        return ApiReply{HttpStatus(open.status()), Error("open_failed", open.status().ToString())};
      Json out = Json::MakeArray();
      for (const auto& r : *open) {
        Json j = Json::MakeObject();
        j.Set("id", r.crm_id);
        if (!r.billing_id.empty()) j.Set("billing_id", r.billing_id);
        if (!r.url.empty()) j.Set("url", r.url);
        if (!r.error.empty()) j.Set("error", r.error);
        out.Push(std::move(j));
      }
      Json wrap = Json::MakeObject();
      wrap.Set("results", out);
      return ApiReply{200, wrap.Dump()};
    });
    server.Route("POST", base + "query", [actions, name](const std::string& body) {
      auto ids = ParseIds(body);
      if (!ids.ok()) return ApiReply{400, Error("bad_request", ids.status().message())};
      auto query = actions->Query(name, *ids);
      if (!query.ok())
        return ApiReply{HttpStatus(query.status()),
                        Error("query_failed", query.status().ToString())};
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
      Json wrap = Json::MakeObject();
      wrap.Set("results", out);
      return ApiReply{200, wrap.Dump()};
    });
  }
}

}  // namespace tandem::app
