#include "app/demo.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>

#include "actions/billing_records.h"
#include "app/cli.h"
#include "app/runtime.h"
#include "app/server.h"
#include "connector/crm/soql.h"
#include "migration/migrator.h"
#include "reconcile/reconciler.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/json.h"
#include "util/log.h"
#include "util/net.h"
#include "workorders/engine.h"

namespace tandem::app {
namespace {

void Step(const std::string& title) { std::cout << "\n== " << title << " ==\n"; }

// Counts the warnings and errors logged, for the report's last line.
class LevelCounter final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  int warnings() const { return warnings_; }
  int errors() const { return errors_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    warnings_ += msg.level == spdlog::level::warn;
    errors_ += msg.level >= spdlog::level::err && msg.level != spdlog::level::off;
  }
  void flush_() override {}

 private:
  std::atomic<int> warnings_{0}, errors_{0};
};

}  // namespace

int RunDemo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.workdir, ec);
  const std::string db = (fs::path(options.workdir) / "tandem-demo.db").string();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix, ec);
  int failures = 0;
  auto expect = [&](bool ok, const std::string& what) {
    std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
    if (!ok) ++failures;
  };

  // Log lines would cut the report's lines in half: they go to a file beside the outputs.
  const std::string log_path = (fs::path(options.workdir) / "tandem.log").string();
  auto counter = std::make_shared<LevelCounter>();
  auto log_sinks = std::make_shared<spdlog::sinks::dist_sink_mt>();
  try {
    log_sinks->add_sink(std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path, true));
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "demo: cannot write " << log_path << ": " << e.what() << "\n";
    return kExitFailures;
  }
  log_sinks->add_sink(counter);
  log::Setup(options.log, options.redactor, log_sinks);

  std::cout << "Tandem demo — embedded default (SQLite " << db << ") and the sandboxes\n"
            << "Log: " << log_path << "\n";
  SystemClock clock;
  sandbox::salesforce::SalesforceSandbox crm_sandbox({}, clock);
  sandbox::stripe::StripeSandbox billing_sandbox({}, clock);
  if (!crm_sandbox.Start().ok() || !billing_sandbox.Start().ok()) {
    std::cerr << "demo: cannot start the sandboxes\n";
    return kExitFailures;
  }
  std::cout << "Salesforce sandbox " << crm_sandbox.base_url() << ", Stripe sandbox "
            << billing_sandbox.base_url() << "\n";

  // The API's port is chosen first so the billing sandbox can be told where to send webhooks.
  const int api_port = FreeLoopbackPort();
  const std::string webhook_secret = billing_sandbox.AddWebhookEndpoint(
      "http://127.0.0.1:" + std::to_string(api_port) + "/api/v1/callbacks/billing");
  Config config;
  config.source = "demo";
  config.billing.webhook_secret = webhook_secret;
  config.store.url = "sqlite:" + db;
  config.crm.remote.base_url = crm_sandbox.base_url();
  config.crm.client_id = "tandem-sandbox";
  config.crm.client_secret = "sandbox-secret";
  config.billing.remote.base_url = billing_sandbox.base_url();
  config.billing.api_key = "sk_test_sandbox";
  config.mapping_path = "config/mapping.yaml";
  auto redactor = std::make_shared<Redactor>();
  auto built = BuildRuntime(config, redactor);
  if (!built.ok()) {
    std::cerr << "demo: " << built.status().ToString() << "\n";
    return kExitFailures;
  }
  Runtime& rt = **built;

  Step("Store: SQLite through SOCI, schema migrations");
  auto tables = rt.store->TableNames();
  std::cout << "  schema version " << rt.store->SchemaVersion().value_or(-1) << "; tables:";
  if (tables.ok())
    for (const auto& t : *tables) std::cout << " " << t;
  std::cout << "\n";

  Step("Steps 1-2: object and field mapping (config/mapping.yaml), checked against describe");
  std::map<std::string, Json> describe;
  for (const auto& o : rt.mapping.objects) {
    auto d = rt.crm->client().Describe(o.crm);
    if (d.ok()) describe[o.crm] = *d;
    std::cout << "  " << o.name << ": " << o.crm << " -> billing " << o.billing << ", "
              << o.fields.size() << " field maps, master " << o.master << "\n";
  }
  const auto problems = mapping::Validate(rt.mapping, describe);
  for (const auto& p : problems) std::cout << "  " << p << "\n";
  expect(problems.empty(), "the mapping fits the CRM schema and the billing objects");

  Step("Step 3: manual sync actions through the HTTP API (as a Salesforce quick action calls it)");
  std::vector<Json> seed;
  for (const char* name : {"Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries"}) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    a.Set("Type", "Customer - Direct");
    a.Set("BillingCity", "Lisbon");
    a.Set("AnnualRevenue", 125000.5);
    a.Set("CurrencyIsoCode", "EUR");
    seed.push_back(a);
  }
  std::vector<std::string> ids;
  auto created = rt.crm->client().CreateMany("Account", seed);
  if (created.ok())
    for (const auto& r : *created) ids.push_back(r.id);
  std::cout << "  5 Accounts in the CRM\n";

  SeededRandom random(7);
  const std::string token = "demo-" + std::to_string(random.Uniform(1'000'000'000));
  redactor->AddSecret(token);
  ApiServer server(ServerOptions{"127.0.0.1", api_port, token, nullptr}, *rt.store, rt.counter,
                   clock);
  RegisterActionRoutes(server, rt);
  if (Status st = server.Start(); !st.ok()) {
    std::cerr << "demo: " << st.ToString() << "\n";
    return kExitFailures;
  }
  RealSleeper sleeper;
  connector::http::CallCounter api_counter;
  connector::http::RestClientOptions ro;
  ro.remote = "tandem-api";
  ro.base_url = server.base_url();
  connector::http::RestClient api(
      ro, {clock, sleeper, random, api_counter},
      std::make_shared<connector::http::BearerTokenAuth>(token, *redactor));
  Json body = Json::MakeObject();
  Json list = Json::MakeArray();
  for (const auto& id : ids) list.Push(id);
  body.Set("ids", list);
  auto call = [&](const std::string& path) -> Json {
    auto r = api.PostJson(path, body.Dump());
    if (!r.ok() || r->status != 200) {
      std::cout << "  " << path << " -> "
                << (r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString())
                << "\n";
      return Json();
    }
    return Json::Parse(r->body).value_or(Json());
  };
  const int64_t billing_before = billing_sandbox.requests();
  Json first = call("/api/v1/actions/account/sync");
  std::cout << "  sync: " << first["created"].as_int() << " created, " << first["failed"].as_int()
            << " failed\n";
  expect(first["created"].as_int() == 5,
         "five customers created in billing, linked, audited, written back");
  const int64_t billing_after_first = billing_sandbox.requests();
  Json second = call("/api/v1/actions/account/sync");
  expect(second["unchanged"].as_int() == 5 && billing_sandbox.requests() == billing_after_first,
         "a second sync: 5 unchanged, 0 billing calls (Tandem's write-back does not echo)");
  Json change = Json::MakeObject();
  change.Set("Name", "Globex Corporation");
  (void)rt.crm->client().Update("Account", ids[1], change);
  Json third = call("/api/v1/actions/account/sync");
  expect(third["updated"].as_int() == 1 && third["unchanged"].as_int() == 4,
         "one record renamed in the CRM: 1 updated, 4 unchanged");
  Json open = call("/api/v1/actions/account/open");
  std::cout << "  open: " << open["results"].array().at(0)["url"].as_string() << "\n";
  connector::billing::BillingAccount edit;
  edit.name = "Initech (edited in billing)";
  (void)rt.billing->billing().UpdateAccount(
      first["results"].array().at(2)["billing_id"].as_string(), edit, "demo-edit");
  Json query = call("/api/v1/actions/account/query");
  const Json& drift = query["results"].array().at(2)["diffs"];
  for (const auto& d : drift.array())
    std::cout << "  query drift on " << d["field"].as_string() << ": CRM '" << d["crm"].as_string()
              << "' vs billing '" << d["billing"].as_string() << "'\n";
  expect(drift.size() == 1, "query shows the drift made behind Tandem's back, before any sync");
  auto unauthorized =
      connector::http::RestClient(ro, {clock, sleeper, random, api_counter}, nullptr)
          .PostJson("/api/v1/actions/account/sync", body.Dump());
  expect(unauthorized.ok() && unauthorized->status == 401,
         "a call without the bearer token gets 401");

  Step("Billing callbacks: a bill run in billing reaches the CRM through signed webhooks");
  const std::string failing = first["results"].array().at(4)["billing_id"].as_string();
  connector::billing::Product product;
  product.name = "Virtual Server";
  auto prod = rt.billing->billing().CreateProduct(product, "demo-product");
  connector::billing::Price price;
  price.product_id = prod.ok() ? prod->id : "";
  price.currency = "eur";
  price.unit_amount_minor = 4900;
  price.interval = "month";
  auto monthly = rt.billing->billing().CreatePrice(price, "demo-price");
  for (const auto& r : first["results"].array()) {
    connector::billing::SubscriptionSpec spec;
    spec.account_id = r["billing_id"].as_string();
    spec.items.push_back(
        connector::billing::SubscriptionItem{"", monthly.ok() ? monthly->id : "", 1, {}});
    auto sub = rt.billing->billing().CreateSubscription(spec, "demo-sub-" + spec.account_id);
    if (!sub.ok()) continue;
    // The service inventory records it, as a work order does.
    Json fields = actions::SubscriptionStateFields(rt.mapping.Find("subscription"), *sub);
    fields.Set("Name", "Virtual Server");
    fields.Set("Account__c", r["id"].as_string());
    auto saved = rt.crm->client().Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey,
                                         sub->id, fields);
    if (saved.ok() && saved->success)
      (void)rt.store->UpsertLinks({store::Link{"subscription", saved->id, sub->id, "", "", 0}});
  }
  const auto run = billing_sandbox.BillRun("", {failing});
  std::cout << "  bill run: " << run.invoices << " invoices, " << run.paid << " paid, "
            << run.failed << " failed\n";
  billing_sandbox.FlushWebhooks();
  int64_t invoices = 0;
  for (int i = 0; i < 40; ++i) {
    auto applied = rt.callbacks->ApplyPending(500);
    invoices = crm_sandbox.CountRecords("Billing_Invoice__c");
    if (applied.ok() && applied->applied + applied->ignored_own + applied->ignored_other == 0 &&
        invoices >= 10)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto stark =
      rt.crm->client().Retrieve("Account", ids[4], {"Billing_Status__c", "Billing_Balance__c"});
  std::cout << "  " << invoices << " Billing_Invoice__c records in the CRM; Stark Industries: "
            << (stark.ok() ? (*stark)["Billing_Status__c"].as_string() + ", balance " +
                                 (*stark)["Billing_Balance__c"].ToText()
                           : stark.status().ToString())
            << "\n";
  expect(invoices == 10 && stark.ok() && (*stark)["Billing_Status__c"].as_string() == "Delinquent",
         "invoices, payment status and balance arrived in the CRM");
  server.Stop();

  Step("Step 6: product catalog from billing into the CRM (enrichment kept)");
  auto first_catalog = rt.catalog->Run({});
  std::cout << "  first sync: " << (first_catalog.ok() ? first_catalog->written : -1)
            << " records written (Product2 and standard price book entries)\n";
  std::string product_crm_id;
  (void)rt.crm->client().Query("SELECT Id FROM Product2 WHERE Billing_Product_Id__c = " +
                                   connector::crm::SoqlQuote(prod.ok() ? prod->id : "none"),
                               [&](const Json& r) {
                                 product_crm_id = r["Id"].as_string();
                                 return Status::Ok();
                               });
  Json enrich = Json::MakeObject();
  enrich.Set("Description", "Sales' own words: our best seller");
  enrich.Set("Family", "Virtual Server");
  (void)rt.crm->client().Update("Product2", product_crm_id, enrich);
  connector::billing::Product rename;
  rename.name = "Virtual Server (2 vCPU)";
  (void)rt.billing->billing().UpdateProduct(prod.ok() ? prod->id : "", rename, "demo-rename");
  price.unit_amount_minor = 5900;
  (void)rt.billing->billing().CreatePrice(price, "demo-price-2");
  auto second_catalog = rt.catalog->Run({});
  if (second_catalog.ok())
    std::cout << "  incremental sync:\n" << catalog_sync::DescribePlan(second_catalog->plan);
  auto product_now =
      rt.crm->client().Retrieve("Product2", product_crm_id, {"Name", "Description", "Family"});
  expect(product_now.ok() && (*product_now)["Name"].as_string() == "Virtual Server (2 vCPU)" &&
             (*product_now)["Description"].as_string() == "Sales' own words: our best seller",
         "the billing rename arrived; the CRM's description and family stayed");
  auto quiet_catalog = rt.catalog->Run({});
  expect(quiet_catalog.ok() && quiet_catalog->plan.empty() && quiet_catalog->billing_reads <= 2,
         "a run with nothing changed: 1 billing read, no CRM write");

  Step("Steps 4-5: work orders from activated Orders (config/workorders.yaml)");
  {
    // An add-on in billing's catalog, brought into the CRM by the catalog sync.
    connector::billing::Product backup;
    backup.name = "Backup";
    backup.kind = "add_on";
    backup.parent_product_id = prod.ok() ? prod->id : "";
    auto backup_prod = rt.billing->billing().CreateProduct(backup, "demo-backup");
    connector::billing::Price backup_price;
    backup_price.product_id = backup_prod.ok() ? backup_prod->id : "";
    backup_price.currency = "eur";
    backup_price.unit_amount_minor = 500;
    backup_price.interval = "month";
    auto backup_monthly = rt.billing->billing().CreatePrice(backup_price, "demo-backup-price");
    (void)rt.catalog->Run({});
    // Price book entries by billing price id (the catalog sync wrote them).
    auto entry_of = [&](const std::string& billing_price, std::string* product_id) {
      std::string entry;
      (void)rt.crm->client().Query(
          "SELECT Id, Product2Id FROM PricebookEntry WHERE Billing_Price_Id__c = " +
              connector::crm::SoqlQuote(billing_price),
          [&](const Json& r) {
            entry = r["Id"].as_string();
            *product_id = r["Product2Id"].as_string();
            return Status::Ok();
          });
      return entry;
    };
    std::string server_product, xl_product, backup_product;
    const std::string server_entry = entry_of(monthly.ok() ? monthly->id : "", &server_product);
    std::string re_rate_price;
    (void)rt.crm->client().Query(
        "SELECT Billing_Price_Id__c FROM PricebookEntry WHERE Product2Id = " +
            connector::crm::SoqlQuote(server_product) + " AND UnitPrice = 59",
        [&](const Json& r) {
          re_rate_price = r["Billing_Price_Id__c"].as_string();
          return Status::Ok();
        });
    const std::string xl_entry = entry_of(re_rate_price, &xl_product);
    const std::string backup_entry =
        entry_of(backup_monthly.ok() ? backup_monthly->id : "", &backup_product);
    workorders::EngineOptions eo;
    eo.worker_id = "demo";
    workorders::Engine engine(
        {rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping, rt.clock, *rt.actions},
        rt.templates, eo);
    auto order_of = [&](const std::string& op, const std::string& date,
                        const std::string& product_id, const std::string& entry, int quantity,
                        double unit_price, const std::string& subscription, int term) {
      Json o = Json::MakeObject();
      o.Set("AccountId", ids.empty() ? "" : ids[0]);
      o.Set("EffectiveDate", date);
      o.Set("Status", "Activated");
      o.Set("Operation_Type__c", op);
      const std::string id = rt.crm->client().Create("Order", o).value_or("");
      Json it = Json::MakeObject();
      it.Set("OrderId", id);
      it.Set("Product2Id", product_id);
      it.Set("PricebookEntryId", entry);
      it.Set("Quantity", quantity);
      it.Set("UnitPrice", unit_price);
      if (!subscription.empty()) it.Set("Service_Subscription__c", subscription);
      if (term) it.Set("Term_Months__c", term);
      (void)rt.crm->client().Create("OrderItem", it);
      return id;
    };
    std::string service;  // the service subscription record in the CRM
    auto run_order = [&](const std::string& title, const std::string& order_id) {
      auto plan = engine.Enqueue(order_id);
      workorders::OrderState state;
      for (int i = 0; i < 50 && plan.ok(); ++i) {
        (void)engine.RunOnce();
        state = engine.State(order_id).value_or(workorders::OrderState{});
        if (state.status == "Completed" || state.status == "Failed") break;
      }
      std::cout << "  " << title << ": " << (plan.ok() ? plan->plan.size() : 0) << " tasks, "
                << state.status << (state.error.empty() ? "" : " (" + state.error + ")") << "\n";
      (void)rt.crm->client().Query(
          "SELECT Service_Subscription__c FROM OrderItem WHERE OrderId = " +
              connector::crm::SoqlQuote(order_id),
          [&](const Json& r) {
            if (service.empty()) service = r["Service_Subscription__c"].as_string();
            return Status::Ok();
          });
      auto record = rt.crm->client().Retrieve("Service_Subscription__c", service,
                                              {"Billing_Subscription_Id__c"});
      auto sub = rt.billing->billing().GetSubscription(
          record.ok() ? (*record)["Billing_Subscription_Id__c"].as_string() : "");
      if (sub.ok()) {
        std::cout << "    billing " << sub->id << ": " << sub->status;
        for (const auto& item : sub->items)
          std::cout << ", " << item.quantity << " x " << item.price_id;
        if (sub->cancel_at)
          std::cout << ", ends "
                    << FormatRfc3339(FromEpochMillis(sub->cancel_at * 1000)).substr(0, 10);
        std::cout << "\n";
      }
      return state.status == "Completed";
    };
    expect(run_order("New \"Virtual Server\" x2, 12 months from 2026-01-01",
                     order_of("New", "2026-01-01", server_product, server_entry, 2, 49, "", 12)),
           "new order: account synced, subscription created, started, recorded in the CRM");
    expect(
        run_order("Add-on: Backup x1",
                  order_of("New", "2026-02-01", backup_product, backup_entry, 1, 5, service, 0)) &&
            run_order("Add-on change: Backup x3", order_of("Change", "2026-03-01", backup_product,
                                                           backup_entry, 3, 5, service, 0)),
        "recurring add-on added, then its quantity changed");
    expect(run_order("Re-rate to the 59.00 price", order_of("Re-rate", "2026-04-01", server_product,
                                                            xl_entry, 2, 59, service, 0)),
           "re-rated: the item moved to the new price");
    const int64_t charges_before = billing_sandbox.CountObjects("invoiceitem");
    const std::string cancel =
        order_of("Cancel", "2026-07-01", server_product, xl_entry, 2, 59, service, 0);
    const bool cancelled = run_order("Cancel on 2026-07-01 (6 months of the term left)", cancel);
    int64_t fee = 0;
    auto tasks = rt.store->TasksInGroup(cancel);
    if (tasks.ok())
      for (const auto& t : *tasks)
        if (t.kind == "charge_early_termination")
          fee = Json::Parse(t.result).value_or(Json())["amount_minor"].as_int();
    std::cout << "    early-termination charge: " << fee / 100 << "." << (fee % 100 < 10 ? "0" : "")
              << fee % 100 << " EUR (6 months x 2 x 59.00 after the re-rate x 50 %)\n";
    expect(cancelled && fee == 35400 &&
               billing_sandbox.CountObjects("invoiceitem") == charges_before + 1,
           "cancelled now, with the early-termination fee as a one-time charge");
  }

  Step("Step 7: bulk initial load from CSV (tandem migrate), with bad and duplicate rows");
  {
    // Accounts that exist only in the CRM, and one already in billing under another spelling.
    std::vector<Json> legacy;
    for (const char* name : {"Wonka Industries", "Cyberdyne Systems", "Soylent Corp",
                             "Tyrell Corporation", "Oscorp"}) {
      Json a = Json::MakeObject();
      a.Set("Name", name);
      legacy.push_back(a);
    }
    std::vector<std::string> legacy_ids;
    auto made = rt.crm->client().CreateMany("Account", legacy);
    if (made.ok())
      for (const auto& r : *made) legacy_ids.push_back(r.id);
    connector::billing::BillingAccount existing;
    existing.name = "TYRELL CORP.";
    (void)rt.billing->billing().CreateAccount(existing, "demo-tyrell");
    const std::string csv_path = (fs::path(options.workdir) / "accounts-to-migrate.csv").string();
    {
      std::ofstream csv(csv_path, std::ios::binary);
      csv << "\xEF\xBB\xBFId,Name,Website,Customer_Since__c\r\n";
      if (legacy_ids.size() == 5) {
        csv << legacy_ids[0] << ",Wonka Industries,wonka.example,2019-04-01\r\n";
        csv << legacy_ids[1] << ",\"Cyberdyne Systems, Inc.\",cyberdyne.example,2020-02-29\r\n";
        csv << legacy_ids[2] << ",Soylent Corp,,2021-02-30\r\n";    // no such day
        csv << legacy_ids[3] << ",Tyrell Corporation,,\r\n";        // already in billing
        csv << legacy_ids[0] << ",Wonka Industries (again),,\r\n";  // a duplicate row
        csv << legacy_ids[4] << ",Oscorp\r\n";                      // a column short
      }
    }
    SeededRandom job_random(3);
    migration::Migrator migrator({rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping,
                                  clock, job_random, nullptr});
    migration::MigrationOptions mo;
    mo.object = "account";
    mo.file = csv_path;
    mo.output_dir = (fs::path(options.workdir) / "migration").string();
    auto migrated = migrator.Run(mo, nullptr);
    if (migrated.ok()) {
      std::cout << "  job " << migrated->job_id << ": " << migrated->rows << " rows, "
                << migrated->succeeded << " succeeded, " << migrated->failed << " failed ("
                << migrated->created_billing << " created in billing, " << migrated->matched
                << " matched, " << migrated->invalid << " invalid, " << migrated->duplicates
                << " duplicate)\n";
      for (const char* name : {"success.csv", "error.csv"}) {
        std::cout << "  " << mo.output_dir << "/" << name << ":\n";
        std::ifstream in(fs::path(mo.output_dir) / name);
        for (std::string line; std::getline(in, line);) std::cout << "    " << line << "\n";
      }
    } else {
      std::cout << "  " << migrated.status().ToString() << "\n";
    }
    expect(migrated.ok() && migrated->created_billing == 2 && migrated->matched == 1 &&
               migrated->failed == 3,
           "2 created, 1 matched by name to the existing customer, 3 bad rows in error.csv");
    auto rerun = migrator.Run(mo, nullptr);
    expect(rerun.ok() && rerun->created_billing == 0 && rerun->already_linked == 3,
           "running the same file again creates nothing");
  }

  Step("Reconciliation: CRM and billing compared record by record (tandem reconcile)");
  {
    auto reconcile = [&](bool fix, const std::string& csv) {
      auto report = reconcile::Report::Open(csv, 3);
      if (!report.ok()) return std::unique_ptr<reconcile::Report>();
      reconcile::Reconciler reconciler(
          {rt.crm->client(), rt.billing->billing(), *rt.store, rt.mapping, clock}, *rt.actions,
          **report);
      reconcile::ReconcileOptions run_options;
      run_options.fix = fix;
      const Status st = reconciler.Run(run_options);
      (void)(*report)->Close();
      if (!st.ok()) std::cout << "  reconcile: " << st.ToString() << "\n";
      std::istringstream lines((*report)->Summary(fix));
      for (std::string line; std::getline(lines, line);) std::cout << "    " << line << "\n";
      return st.ok() ? std::move(report).value() : std::unique_ptr<reconcile::Report>();
    };
    const std::string dir = options.workdir + "/";
    std::cout
        << "  1. catching up (--fix) on what the steps above left out of step: the billing\n"
           "     edit from step 3 (a sync skips unchanged CRM records), values the migration\n"
           "     file gave billing that the CRM (the master) does not have, an invoice\n"
           "     billed after the API stopped taking callbacks, the past-due subscription\n"
           "     (subscription events do not update the inventory):\n";
    auto caught_up = reconcile(true, dir + "reconcile-fix.csv");
    expect(caught_up && caught_up->differences() > 0 && caught_up->remaining() == 0,
           "every difference found was repaired through the actions");
    std::cout << "  2. again, without --fix:\n";
    auto clean = reconcile(false, dir + "reconcile.csv");
    expect(clean && clean->differences() == 0, "reconcile finds nothing: the two are in step");
    connector::billing::BillingAccount behind;
    behind.phone = "+1 555 0199";
    const auto link = rt.store->FindLinkByCrmId("account", ids.empty() ? "" : ids[0]);
    if (link.ok() && link->has_value())
      (void)rt.billing->billing().UpdateAccount((*link)->billing_id, behind, "demo-behind-back");
    std::cout << "  3. someone edits Acme Corp's phone in billing, behind Tandem's back:\n";
    auto found = reconcile(false, dir + "reconcile-drift.csv");
    expect(found && found->differences() == 1,
           "reconcile finds the one changed field (report: " + dir + "reconcile-drift.csv)");
  }

  Step("API calls");
  for (const auto& [key, counts] : rt.counter.Snapshot())
    std::cout << "  " << key << ": " << counts.calls << " calls, " << counts.attempts
              << " attempts\n";
  std::cout << "  billing requests in all: " << (billing_sandbox.requests() - billing_before)
            << "\n";

  log_sinks->flush();
  std::cout << "\nLog: " << log_path << " (" << counter->warnings() << " warnings, "
            << counter->errors() << " errors)\n";
  std::cout << "\nDemo " << (failures == 0 ? "finished: every step passed" : "FAILED") << ".\n";
  return failures == 0 ? kExitOk : kExitFailures;
}

}  // namespace tandem::app
