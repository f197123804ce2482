#include "app/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "connector/billing/gtv/connection.h"
#include "connector/billing/stripe/connection.h"

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

// Work-order templates: required when the config names them; the default file is optional
// (a migration or a manual sync needs none), and without it every order fails with
// "no template", which the CRM shows.
Status LoadTemplatesInto(const Config& c, Runtime& rt) {
  auto templates = LoadTemplatesFile(ResolveDataPath(c.workorders_path), c.source);
  if (templates.ok()) {
    rt.templates = std::move(templates).value();
  } else if (c.workorders_path_set ||
             templates.status().message().rfind("cannot read", 0) != 0) {  // a broken file
    return templates.status();
  } else {
    rt.templates.source = c.workorders_path + " (missing)";
  }
  return Status::Ok();
}

connector::crm::salesforce::ConnectionOptions CrmOptions(const Config& c) {
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
  co.max_concurrent = c.crm.max_concurrent_requests;
  co.max_attempts = c.crm.remote.max_attempts;
  return co;
}

connector::billing::stripe::StripeConnectionOptions BillingOptions(const Config& c) {
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
  return bo;
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

Result<std::unique_ptr<store::Store>> OpenStore(const Config& config, bool migrate,
                                                CrashPoints* crash) {
  store::StoreOptions so;
  so.url = config.store.url;
  so.pool_size = config.store.pool_size;
  so.schema = config.store.schema;
  so.migrate = migrate;
  so.crash_points = crash;
  return store::Store::Open(so);
}

Result<connector::billing::BillingConnectionPtr> ConnectBilling(
    const Config& c, const connector::http::RestClientDeps& deps, Redactor& redactor,
    connector::billing::KeyLock* key_lock) {
  if (c.billing.remote.base_url.empty())
    return Status::InvalidArgument("billing.base_url is not set");
  if (c.billing.system == "stripe")
    return connector::billing::BillingConnectionPtr(
        std::make_unique<connector::billing::stripe::StripeConnection>(BillingOptions(c), deps,
                                                                       redactor));
  if (c.billing.system == "gotransverse") {
    connector::billing::gtv::GtvConnectionOptions go;
    go.base_url = c.billing.remote.base_url;
    go.api_key = c.billing.api_key;
    go.api.notification_token = c.billing.webhook_secret;
    go.api.account_category = c.billing.account_category;
    go.api.default_bill_cycle = c.billing.bill_cycle;
    go.api.key_lock = key_lock;
    if (!c.billing.ui_url.empty()) go.api.ui_url = c.billing.ui_url;
    go.timeout = Millis(c.billing.remote.timeout_ms);
    go.rate_per_second = c.billing.remote.rate_per_second;
    go.burst = c.billing.remote.burst;
    go.max_attempts = c.billing.remote.max_attempts;
    return connector::billing::BillingConnectionPtr(
        std::make_unique<connector::billing::gtv::GtvConnection>(go, deps, redactor));
  }
  return Status::InvalidArgument("billing.system: unknown billing system '" + c.billing.system +
                                 "'");
}

Result<std::unique_ptr<Runtime>> BuildRuntime(const Config& c, RedactorPtr redactor) {
  auto rt = std::make_unique<Runtime>(std::move(redactor));
  auto store = OpenStore(c, /*migrate=*/true, nullptr);
  if (!store.ok()) return store.status();
  rt->store = std::move(store).value();
  auto mapping = LoadMappingFile(ResolveDataPath(c.mapping_path), c.source);
  if (!mapping.ok()) return mapping.status();
  rt->mapping = std::move(mapping).value();
  if (Status st = LoadTemplatesInto(c, *rt); !st.ok()) return st;

  if (c.crm.remote.base_url.empty()) return Status::InvalidArgument("crm.base_url is not set");
  const connector::http::RestClientDeps deps{rt->clock, rt->sleeper, rt->random, rt->counter};
  rt->crm = std::make_unique<connector::crm::salesforce::SalesforceConnection>(
      CrmOptions(c), deps, *rt->redactor, rt->sleeper);
  rt->key_lock = std::make_unique<StoreKeyLock>(*rt->store, rt->clock);
  auto billing = ConnectBilling(c, deps, *rt->redactor, rt->key_lock.get());
  if (!billing.ok()) return billing.status();
  rt->billing = std::move(billing).value();
  rt->action_options.billing_in_flight = BillingInFlight(c.billing);
  rt->action_options.retry = store::RetryPolicy{c.sync_retry.first_ms, c.sync_retry.max_interval_ms,
                                                c.sync_retry.give_up_after_ms};
  rt->actions = NewActions(*rt, "api");
  rt->task_crm = std::make_unique<connector::crm::CoalescingCrmClient>(rt->crm->client());
  rt->task_actions =
      std::make_unique<actions::Actions>(actions::ActionDeps{*rt->task_crm, rt->billing->billing(),
                                                             *rt->store, rt->mapping, rt->clock},
                                         "api", rt->action_options);
  rt->callbacks = std::make_unique<actions::Callbacks>(ActionDepsOf(*rt));
  rt->catalog = NewCatalogSync(*rt, c.catalog_pricebooks);
  rt->scheduler = std::make_unique<Scheduler>(*rt->catalog, *rt->store, rt->clock,
                                              Millis(c.schedules.catalog_sync_ms));
  Scheduler* scheduler = rt->scheduler.get();
  rt->callbacks->OnCatalogChanged([scheduler] { scheduler->Trigger(); });
  return rt;
}

std::unique_ptr<actions::Actions> NewActions(Runtime& rt, const std::string& actor) {
  return std::make_unique<actions::Actions>(ActionDepsOf(rt), actor, rt.action_options);
}

std::string ProcessId() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

void ShareLimits(Runtime& rt, int processes) {
  if (rt.crm) rt.crm->rest().SetShare(processes);
  if (rt.billing) rt.billing->ShareLimits(processes);
}

actions::ActionDeps ActionDepsOf(Runtime& rt) {
  return {rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping, rt.clock};
}

workorders::TaskDeps TaskDepsOf(Runtime& rt) {
  return workorders::TaskDeps{*rt.task_crm, rt.billing->billing(), *rt.store, rt.mapping,
                              rt.clock,     *rt.task_actions};
}

std::unique_ptr<workorders::Engine> NewEngine(Runtime& rt, workorders::EngineOptions options,
                                              CrashPoints* crash) {
  return std::make_unique<workorders::Engine>(TaskDepsOf(rt), rt.templates, std::move(options),
                                              crash);
}

OrderIntake NewOrderIntake(Runtime& rt, std::function<void()> on_tasks_added) {
  OrderIntake intake;
  workorders::EngineOptions options;
  options.on_tasks_added = std::move(on_tasks_added);
  intake.engine = NewEngine(rt, std::move(options));
  workorders::OrderEligibility eligible;
  if (const mapping::ObjectMap* order = rt.mapping.Find("order"))
    eligible = {order->eligible_when, order->eligible_since, order->eligible_record_types};
  intake.poller = std::make_unique<workorders::OrderPoller>(rt.crm->client(), *rt.store,
                                                            *intake.engine, eligible);
  intake.renewals =
      std::make_unique<workorders::RenewalScan>(rt.crm->client(), *rt.store, rt.clock);
  return intake;
}

std::unique_ptr<catalog_sync::CatalogSync> NewCatalogSync(Runtime& rt,
                                                          std::vector<std::string> pricebooks) {
  return std::make_unique<catalog_sync::CatalogSync>(
      catalog_sync::CatalogDeps{rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping,
                                rt.clock, std::move(pricebooks)});
}

std::unique_ptr<migration::Migrator> NewMigrator(Runtime& rt, Random& random, CrashPoints* crash) {
  return std::make_unique<migration::Migrator>(migration::MigrationDeps{
      rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping, rt.clock, random, crash});
}

namespace {

// The revenue repairs' work orders, run by an engine of this process — one more worker: it
// takes whatever task is due, as any worker does — until none of their tasks is pending, or
// until a minute passes without one finishing (the `serve` workers finish them then).
reconcile::RunWorkOrders WorkOrderRunner(Runtime& rt) {
  workorders::EngineOptions options;
  options.worker_id = "reconcile";
  std::shared_ptr<workorders::Engine> engine = NewEngine(rt, options);
  return [&rt, engine](const std::vector<std::string>& groups) -> Status {
    std::set<std::string> open(groups.begin(), groups.end());
    int64_t progress_ms = ToEpochMillis(rt.clock.Now());
    while (!open.empty()) {
      for (auto it = open.begin(); it != open.end();) {
        auto tasks = rt.store->TasksInGroup(*it);
        if (!tasks.ok()) return tasks.status();
        const bool pending = std::any_of(tasks->begin(), tasks->end(), [](const store::Task& t) {
          return t.state != "done" && t.state != "failed";
        });
        it = pending ? std::next(it) : open.erase(it);
      }
      if (open.empty()) break;
      auto ran = engine->RunOnce();
      if (!ran.ok()) return ran.status();
      const int64_t now = ToEpochMillis(rt.clock.Now());
      if (ran->done + ran->failed > 0) progress_ms = now;
      if (now - progress_ms > 60'000) break;
      if (ran->ran == 0) rt.sleeper.Sleep(Millis(100));  // a retry's backoff, or another worker
    }
    return Status::Ok();
  };
}

}  // namespace

std::unique_ptr<reconcile::Reconciler> NewReconciler(Runtime& rt, reconcile::Report& report,
                                                     actions::Actions* actions) {
  return std::make_unique<reconcile::Reconciler>(ActionDepsOf(rt), actions ? *actions : *rt.actions,
                                                 report, WorkOrderRunner(rt));
}

std::unique_ptr<DescribeConnection> ConnectCrmForDescribe(const Config& config,
                                                          const std::string& sandbox_url,
                                                          Redactor& redactor) {
  auto d = std::make_unique<DescribeConnection>();
  connector::crm::salesforce::ConnectionOptions co;
  if (!sandbox_url.empty()) {
    co.instance_url = sandbox_url;
    co.oauth.client_id = "tandem-sandbox";
    co.oauth.client_secret = "sandbox-secret";
  } else {
    co.instance_url = config.crm.remote.base_url;
    co.login_url = config.crm.login_url;
    co.oauth = {config.crm.auth_flow,
                config.crm.client_id,
                config.crm.client_secret,
                config.crm.username,
                config.crm.private_key,
                config.crm.refresh_token,
                ""};
    co.api.api_version = config.crm.api_version;
  }
  d->instance_url = co.instance_url;
  d->crm = std::make_unique<connector::crm::salesforce::SalesforceConnection>(
      co, connector::http::RestClientDeps{d->clock, d->sleeper, d->random, d->counter}, redactor,
      d->sleeper);
  return d;
}

}  // namespace tandem::app
