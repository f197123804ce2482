#include "app/demo.h"

#include <algorithm>
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
#include "app/action_routes.h"
#include "app/cli.h"
#include "app/demo_billing.h"
#include "app/runtime.h"
#include "app/server.h"
#include "connector/crm/soql.h"
#include "migration/csv_reader.h"
#include "reconcile/extract.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/json.h"
#include "util/log.h"
#include "util/net.h"

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

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

// The demo's log: a file beside the outputs, and the warning and error counts.
struct DemoLog {
  std::string path;
  std::shared_ptr<LevelCounter> counter = std::make_shared<LevelCounter>();
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sinks =
      std::make_shared<spdlog::sinks::dist_sink_mt>();
};

// Log lines would cut the report's lines in half: they go to a file beside the outputs.
bool SetUpLog(const DemoOptions& options, DemoLog* log) {
  log->path = (fs::path(options.workdir) / "tandem.log").string();
  try {
    log->sinks->add_sink(std::make_shared<spdlog::sinks::basic_file_sink_mt>(log->path, true));
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "demo: cannot write " << log->path << ": " << e.what() << "\n";
    return false;
  }
  log->sinks->add_sink(log->counter);
  log::Setup(options.log, options.redactor, log->sinks);
  return true;
}

// The runtime's config: the SQLite file `db` and both sandboxes.
Config DemoConfig(const std::string& db, const std::string& crm_url, const DemoBilling& billing,
                  const std::string& webhook_secret) {
  Config config;
  config.billing.system = billing.system();
  config.source = "demo";
  config.billing.webhook_secret = webhook_secret;
  config.store.url = "sqlite:" + db;
  config.crm.remote.base_url = crm_url;
  config.crm.client_id = "tandem-sandbox";
  config.crm.client_secret = "sandbox-secret";
  config.billing.remote.base_url = billing.base_url();
  config.billing.api_key = billing.api_key();
  billing.Configure(&config);
  config.mapping_path = "config/mapping.yaml";
  return config;
}

// What the steps share: the sandboxes, the runtime, and what earlier steps made.
struct Demo {
  const DemoOptions& options;
  const Clock& clock;
  sandbox::salesforce::SalesforceSandbox& crm_sandbox;
  DemoBilling& billing_sandbox;
  Runtime& rt;
  Redactor& redactor;  // the runtime's: the API token is added to it
  int failures = 0;
  std::vector<std::string> ids = {};  // step 3's five Accounts
  Json first = Json();                // step 3's first sync answer: each Account's billing id
  int64_t billing_before = 0;         // billing sandbox requests before step 3's first sync

  void Expect(bool ok, const std::string& what) {
    std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
    if (!ok) ++failures;
  }
};

// A product in billing with a monthly EUR price; `price` keeps the price's fields.
struct BillingProduct {
  Result<connector::billing::Product> product;
  connector::billing::Price price;
  Result<connector::billing::Price> monthly;

  std::string id() const { return product.ok() ? product->id : ""; }
  std::string monthly_id() const { return monthly.ok() ? monthly->id : ""; }
};

BillingProduct CreateMonthlyProduct(connector::billing::BillingSystem& billing,
                                    const connector::billing::Product& product,
                                    int64_t unit_amount_minor, const std::string& product_key,
                                    const std::string& price_key) {
  auto created = billing.CreateProduct(product, product_key);
  connector::billing::Price price;
  price.product_id = created.ok() ? created->id : "";
  price.currency = "eur";
  price.unit_amount_minor = unit_amount_minor;
  price.interval = "month";
  auto monthly = billing.CreatePrice(price, price_key);
  return {std::move(created), price, std::move(monthly)};
}

void StoreStep(Demo& d) {
  Step("Store: SQLite through SOCI, schema migrations");
  auto tables = d.rt.store->TableNames();
  std::cout << "  schema version " << d.rt.store->SchemaVersion().value_or(-1) << "; tables:";
  if (tables.ok())
    for (const auto& t : *tables) std::cout << " " << t;
  std::cout << "\n";
}

void MappingStep(Demo& d) {
  Step("Steps 1-2: object and field mapping (config/mapping.yaml), checked against describe");
  std::map<std::string, Json> describe;
  for (const auto& o : d.rt.mapping.objects) {
    auto described = d.rt.crm->client().Describe(o.crm);
    if (described.ok()) describe[o.crm] = *described;
    std::cout << "  " << o.name << ": " << o.crm << " -> billing " << o.billing << ", "
              << o.fields.size() << " field maps, master " << o.master << "\n";
  }
  const auto problems = mapping::Validate(d.rt.mapping, describe);
  for (const auto& p : problems) std::cout << "  " << p << "\n";
  d.Expect(problems.empty(), "the mapping fits the CRM schema and the billing objects");
}

void SeedAccounts(Demo& d) {
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
  auto created = d.rt.crm->client().CreateMany("Account", seed);
  if (created.ok())
    for (const auto& r : *created) d.ids.push_back(r.id);
  std::cout << "  5 Accounts in the CRM\n";
}

// POSTs `body` to the API; the answer's JSON, or null after printing what went wrong.
Json CallApi(connector::http::RestClient& api, const std::string& path, const Json& body) {
  auto r = api.PostJson(path, body.Dump());
  if (!r.ok() || r->status != 200) {
    std::cout << "  " << path << " -> "
              << (r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString())
              << "\n";
    return Json();
  }
  return Json::Parse(r->body).value_or(Json());
}

// Step 3's calls, as the CRM's quick actions make them, on the five Accounts.
void SyncThroughApi(Demo& d, const std::string& base_url, const std::string& token,
                    Random& random) {
  RealSleeper sleeper;
  connector::http::CallCounter api_counter;
  connector::http::RestClientOptions ro;
  ro.remote = "tandem-api";
  ro.base_url = base_url;
  connector::http::RestClient api(
      ro, {d.clock, sleeper, random, api_counter},
      std::make_shared<connector::http::BearerTokenAuth>(token, d.redactor));
  Json body = Json::MakeObject();
  Json list = Json::MakeArray();
  for (const auto& id : d.ids) list.Push(id);
  body.Set("ids", list);
  d.billing_before = d.billing_sandbox.requests();
  d.first = CallApi(api, "/api/v1/actions/account/sync", body);
  std::cout << "  sync: " << d.first["created"].as_int() << " created, "
            << d.first["failed"].as_int() << " failed\n";
  d.Expect(d.first["created"].as_int() == 5,
           "five customers created in billing, linked, audited, written back");
  const int64_t billing_after_first = d.billing_sandbox.requests();
  Json second = CallApi(api, "/api/v1/actions/account/sync", body);
  d.Expect(second["unchanged"].as_int() == 5 && d.billing_sandbox.requests() == billing_after_first,
           "a second sync: 5 unchanged, 0 billing calls (Tandem's write-back does not echo)");
  Json change = Json::MakeObject();
  change.Set("Name", "Globex Corporation");
  (void)d.rt.crm->client().Update("Account", d.ids[1], change);
  Json third = CallApi(api, "/api/v1/actions/account/sync", body);
  d.Expect(third["updated"].as_int() == 1 && third["unchanged"].as_int() == 4,
           "one record renamed in the CRM: 1 updated, 4 unchanged");
  Json open = CallApi(api, "/api/v1/actions/account/open", body);
  std::cout << "  open: " << open["results"].array().at(0)["url"].as_string() << "\n";
  connector::billing::BillingAccount edit;
  edit.name = "Initech (edited in billing)";
  (void)d.rt.billing->billing().UpdateAccount(
      d.first["results"].array().at(2)["billing_id"].as_string(), edit, "demo-edit");
  Json query = CallApi(api, "/api/v1/actions/account/query", body);
  const Json& drift = query["results"].array().at(2)["diffs"];
  for (const auto& diff : drift.array())
    std::cout << "  query drift on " << diff["field"].as_string() << ": CRM '"
              << diff["crm"].as_string() << "' vs billing '" << diff["billing"].as_string()
              << "'\n";
  d.Expect(drift.size() == 1, "query shows the drift made behind Tandem's back, before any sync");
  auto unauthorized =
      connector::http::RestClient(ro, {d.clock, sleeper, random, api_counter}, nullptr)
          .PostJson("/api/v1/actions/account/sync", body.Dump());
  d.Expect(unauthorized.ok() && unauthorized->status == 401,
           "a call without the bearer token gets 401");
}

// Step 3. Returns the API server, left running for the billing callbacks (null when it
// could not start).
std::unique_ptr<ApiServer> ManualSyncStep(Demo& d, int api_port) {
  Step("Step 3: manual sync actions through the HTTP API (as a Salesforce quick action calls it)");
  SeedAccounts(d);
  SeededRandom random(7);
  const std::string token = "demo-" + std::to_string(random.Uniform(1'000'000'000));
  d.redactor.AddSecret(token);
  auto server = std::make_unique<ApiServer>(ServerOptions{"127.0.0.1", api_port, token, nullptr},
                                            *d.rt.store, d.rt.counter, d.clock);
  RegisterActionRoutes(*server, d.rt);
  if (Status st = server->Start(); !st.ok()) {
    std::cerr << "demo: " << st.ToString() << "\n";
    return nullptr;
  }
  SyncThroughApi(d, server->base_url(), token, random);
  return server;
}

// A monthly subscription per synced Account, recorded in the CRM's service inventory.
void SubscribeEveryAccount(Demo& d, const BillingProduct& server_product) {
  for (const auto& r : d.first["results"].array()) {
    connector::billing::SubscriptionSpec spec;
    spec.account_id = r["billing_id"].as_string();
    spec.items.push_back(
        connector::billing::SubscriptionItem{"", server_product.monthly_id(), 1, {}});
    auto sub = d.rt.billing->billing().CreateSubscription(spec, "demo-sub-" + spec.account_id);
    if (!sub.ok()) continue;
    // The service inventory records it, as a work order does: billing's state, and what was
    // sold (1 x 49.00 EUR a month).
    Json fields = actions::SubscriptionStateFields(d.rt.mapping.Find("subscription"), *sub);
    fields.Set("Name", "Virtual Server");
    fields.Set("Account__c", r["id"].as_string());
    fields.Set("Quantity__c", 1);
    fields.Set("Unit_Price__c", 49.0);
    fields.Set("Recurring_Amount__c", 49.0);
    fields.Set("Currency__c", "EUR");
    fields.Set("Billing_Interval__c", "Month");
    fields.Set("Billing_Interval_Count__c", 1);
    auto saved = d.rt.crm->client().Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey,
                                           sub->id, fields);
    if (saved.ok() && saved->success)
      (void)d.rt.store->UpsertLinks({store::Link{"subscription", saved->id, sub->id, "", "", 0}});
  }
}

// Returns the "Virtual Server" product the later steps sell.
BillingProduct CallbacksStep(Demo& d) {
  Step("Billing callbacks: a bill run in billing reaches the CRM (" + d.billing_sandbox.name() +
       (d.billing_sandbox.system() == "stripe" ? ": signed webhooks)" : ": polled)"));
  const std::string failing = d.first["results"].array().at(4)["billing_id"].as_string();
  connector::billing::Product product;
  product.name = "Virtual Server";
  BillingProduct server_product =
      CreateMonthlyProduct(d.rt.billing->billing(), product, 4900, "demo-product", "demo-price");
  d.billing_sandbox.Prime(d.rt);
  SubscribeEveryAccount(d, server_product);
  const auto run = d.billing_sandbox.BillRun({failing});
  std::cout << "  bill run: " << run[0] << " invoices, " << run[1] << " paid, " << run[2]
            << " failed\n";
  d.billing_sandbox.Deliver(d.rt);
  // Stripe invoices a subscription's first period when it is made, Gotransverse in bill runs
  // only: every invoice billing holds reaches the CRM.
  const int64_t billed = d.billing_sandbox.Invoices();
  int64_t invoices = 0;
  for (int i = 0; i < 40; ++i) {
    auto applied = d.rt.callbacks->ApplyPending(500);
    invoices = d.crm_sandbox.CountRecords("Billing_Invoice__c");
    if (applied.ok() && applied->applied + applied->ignored_own + applied->ignored_other == 0 &&
        invoices >= billed)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto stark =
      d.rt.crm->client().Retrieve("Account", d.ids[4], {"Billing_Status__c", "Billing_Balance__c"});
  std::cout << "  " << invoices << " Billing_Invoice__c records in the CRM; Stark Industries: "
            << (stark.ok() ? (*stark)["Billing_Status__c"].as_string() + ", balance " +
                                 (*stark)["Billing_Balance__c"].ToText()
                           : stark.status().ToString())
            << "\n";
  d.Expect(invoices == billed && billed >= 5 && stark.ok() &&
               (*stark)["Billing_Status__c"].as_string() == "Delinquent",
           "invoices, payment status and balance arrived in the CRM");
  return server_product;
}

void CatalogStep(Demo& d, BillingProduct& server_product) {
  Step("Step 6: product catalog from billing into the CRM (enrichment kept)");
  auto first_catalog = d.rt.catalog->Run({});
  std::cout << "  first sync: " << (first_catalog.ok() ? first_catalog->written : -1)
            << " records written (Product2 and standard price book entries)\n";
  std::string product_crm_id;
  (void)d.rt.crm->client().Query(
      "SELECT Id FROM Product2 WHERE Billing_Product_Id__c = " +
          connector::crm::SoqlQuote(server_product.product.ok() ? server_product.product->id
                                                                : "none"),
      [&](const Json& r) {
        product_crm_id = r["Id"].as_string();
        return Status::Ok();
      });
  Json enrich = Json::MakeObject();
  enrich.Set("Description", "Sales' own words: our best seller");
  enrich.Set("Family", "Virtual Server");
  (void)d.rt.crm->client().Update("Product2", product_crm_id, enrich);
  connector::billing::Product rename;
  rename.name = "Virtual Server (2 vCPU)";
  (void)d.rt.billing->billing().UpdateProduct(server_product.id(), rename, "demo-rename");
  server_product.price.unit_amount_minor = 5900;
  (void)d.rt.billing->billing().CreatePrice(server_product.price, "demo-price-2");
  auto second_catalog = d.rt.catalog->Run({});
  if (second_catalog.ok())
    std::cout << "  incremental sync:\n" << catalog_sync::DescribePlan(second_catalog->plan);
  auto product_now =
      d.rt.crm->client().Retrieve("Product2", product_crm_id, {"Name", "Description", "Family"});
  d.Expect(product_now.ok() && (*product_now)["Name"].as_string() == "Virtual Server (2 vCPU)" &&
               (*product_now)["Description"].as_string() == "Sales' own words: our best seller",
           "the billing rename arrived; the CRM's description and family stayed");
  auto quiet_catalog = d.rt.catalog->Run({});
  d.Expect(quiet_catalog.ok() && quiet_catalog->plan.empty() && quiet_catalog->billing_reads <= 2,
           "a run with nothing changed: 1 billing read, no CRM write");
}

// The price book entry the catalog sync wrote for `billing_price`; *product_id its Product2.
std::string PricebookEntryOf(Demo& d, const std::string& billing_price, std::string* product_id) {
  std::string entry;
  (void)d.rt.crm->client().Query(
      "SELECT Id, Product2Id FROM PricebookEntry WHERE Billing_Price_Id__c = " +
          connector::crm::SoqlQuote(billing_price),
      [&](const Json& r) {
        entry = r["Id"].as_string();
        *product_id = r["Product2Id"].as_string();
        return Status::Ok();
      });
  return entry;
}

// The order lines the work orders sell: the server at 49.00 and at 59.00, and the add-on.
struct OrderLines {
  std::string server_product, server_entry;
  std::string xl_product, xl_entry;  // the server at the 59.00 price of step 6
  std::string backup_product, backup_entry;
};

// An add-on in billing's catalog, brought into the CRM by the catalog sync; then the price
// book entries by billing price id (the catalog sync wrote them).
OrderLines PrepareOrderLines(Demo& d, const BillingProduct& server_product) {
  connector::billing::Product backup;
  backup.name = "Backup";
  backup.kind = "add_on";
  backup.parent_product_id = server_product.id();
  const BillingProduct backup_product = CreateMonthlyProduct(d.rt.billing->billing(), backup, 500,
                                                             "demo-backup", "demo-backup-price");
  (void)d.rt.catalog->Run({});
  OrderLines lines;
  lines.server_entry = PricebookEntryOf(d, server_product.monthly_id(), &lines.server_product);
  std::string re_rate_price;
  (void)d.rt.crm->client().Query(
      "SELECT Billing_Price_Id__c FROM PricebookEntry WHERE Product2Id = " +
          connector::crm::SoqlQuote(lines.server_product) + " AND UnitPrice = 59",
      [&](const Json& r) {
        re_rate_price = r["Billing_Price_Id__c"].as_string();
        return Status::Ok();
      });
  lines.xl_entry = PricebookEntryOf(d, re_rate_price, &lines.xl_product);
  lines.backup_entry = PricebookEntryOf(d, backup_product.monthly_id(), &lines.backup_product);
  return lines;
}

// An activated Order of the first Account with one item; returns its id.
// The demo's order dates, relative to today so that it tells the same story any day:
// SoldIn(d, 0) is the 1st of the month eleven months ago (a 12-month term from it is running
// today), SoldIn(d, k, day) the `day`-th of k months later.
std::string SoldIn(const Demo& d, int k, int day = 1) {
  return MonthDay(d.clock.Now(), k - 11, day);
}

std::string CreateOrder(Demo& d, const std::string& op, const std::string& date,
                        const std::string& product_id, const std::string& entry, int quantity,
                        double unit_price, const std::string& subscription, int term) {
  Json o = Json::MakeObject();
  o.Set("AccountId", d.ids.empty() ? "" : d.ids[0]);
  o.Set("EffectiveDate", date);
  o.Set("Status", "Activated");
  o.Set("Operation_Type__c", op);
  const std::string id = d.rt.crm->client().Create("Order", o).value_or("");
  Json it = Json::MakeObject();
  it.Set("OrderId", id);
  it.Set("Product2Id", product_id);
  it.Set("PricebookEntryId", entry);
  it.Set("Quantity", quantity);
  it.Set("UnitPrice", unit_price);
  if (!subscription.empty()) it.Set("Service_Subscription__c", subscription);
  if (term) it.Set("Term_Months__c", term);
  (void)d.rt.crm->client().Create("OrderItem", it);
  return id;
}

// "49.00" from 4900 minor units (the demo's currencies have two decimals).
std::string Money(int64_t minor) {
  const int64_t abs = minor < 0 ? -minor : minor;
  return std::string(minor < 0 ? "-" : "") + std::to_string(abs / 100) + "." +
         (abs % 100 < 10 ? "0" : "") + std::to_string(abs % 100);
}

// Runs the order's tasks as far as they go now and prints the billing subscription they left.
// *service is the service subscription record in the CRM (set by the first order of a
// service). Returns the order's status (Completed, Scheduled, Failed, ...).
std::string RunOrder(Demo& d, workorders::Engine& engine, const std::string& title,
                     const std::string& order_id, std::string* service) {
  auto plan = engine.Enqueue(order_id);
  workorders::OrderState state;
  for (int i = 0; i < 50 && plan.ok(); ++i) {
    (void)engine.RunOnce();
    state = engine.State(order_id).value_or(workorders::OrderState{});
    if (state.status == "Completed" || state.status == "Failed" || state.status == "Scheduled")
      break;
  }
  std::cout << "  " << title << ": " << (plan.ok() ? plan->plan.size() : 0) << " tasks, "
            << state.status << (state.error.empty() ? "" : " (" + state.error + ")") << "\n";
  (void)d.rt.crm->client().Query("SELECT Service_Subscription__c FROM OrderItem WHERE OrderId = " +
                                     connector::crm::SoqlQuote(order_id),
                                 [&](const Json& r) {
                                   if (service->empty())
                                     *service = r["Service_Subscription__c"].as_string();
                                   return Status::Ok();
                                 });
  auto record = d.rt.crm->client().Retrieve("Service_Subscription__c", *service,
                                            {"Billing_Subscription_Id__c"});
  auto sub = d.rt.billing->billing().GetSubscription(
      record.ok() ? (*record)["Billing_Subscription_Id__c"].as_string() : "");
  auto day = [](int64_t epoch_s) {
    return FormatRfc3339(FromEpochMillis(epoch_s * 1000)).substr(0, 10);
  };
  if (sub.ok()) {
    std::cout << "    billing " << sub->id << ": " << sub->status;
    if (sub->status == "scheduled") std::cout << ", billed from " << day(sub->start_date);
    for (const auto& item : sub->items) {
      std::string currency = item.price.currency;
      for (char& c : currency) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      // A price made for the item (ADR 0009) names the catalog price it was sold from.
      auto catalog = item.metadata.find("catalog_price");
      const bool sold = catalog != item.metadata.end() && catalog->second != item.price_id;
      std::cout << ", " << item.quantity << " x " << Money(item.price.unit_amount_minor) << " "
                << currency << "/" << item.price.interval
                << (sold ? " (sold price; catalog " + catalog->second + ")" : "");
    }
    if (sub->cancel_at) std::cout << ", ends " << day(sub->cancel_at);
    std::cout << "\n";
  }
  return state.status;
}

// The early-termination fee the cancel order charged, in cents (0 when none).
int64_t EarlyTerminationFee(Demo& d, const std::string& cancel_order) {
  int64_t fee = 0;
  auto tasks = d.rt.store->TasksInGroup(cancel_order);
  if (tasks.ok())
    for (const auto& t : *tasks)
      if (t.kind == "charge_early_termination")
        fee = Json::Parse(t.result).value_or(Json())["amount_minor"].as_int();
  return fee;
}

// Issue 14: what was sold is what is billed — a discounted line at its sold price, and an order
// that takes effect next month billed from then, not from its activation.
void SoldAndScheduledOrders(Demo& d, workorders::Engine& engine, const OrderLines& l) {
  std::string discounted;
  const std::string status = RunOrder(
      d, engine, "New \"Virtual Server\" x1 sold at 39.00 (catalog 49.00), 24 months",
      CreateOrder(d, "New", SoldIn(d, 0, 15), l.server_product, l.server_entry, 1, 39, "", 24),
      &discounted);
  auto record = d.rt.crm->client().Retrieve("Service_Subscription__c", discounted,
                                            {"Billing_Subscription_Id__c", "Unit_Price__c"});
  auto sub = d.rt.billing->billing().GetSubscription(
      record.ok() ? (*record)["Billing_Subscription_Id__c"].as_string() : "");
  d.Expect(status == "Completed" && sub.ok() && !sub->items.empty() &&
               sub->items[0].price.unit_amount_minor == 3900,
           "the discounted line is billed at 39.00, the sold price; the catalog keeps 49.00");

  const std::string effective =
      FormatRfc3339(FromEpochMillis(ToEpochMillis(d.clock.Now()) + 30LL * 86'400'000))
          .substr(0, 10);
  std::string scheduled;
  const std::string order =
      CreateOrder(d, "New", effective, l.server_product, l.server_entry, 1, 49, "", 12);
  const std::string later =
      RunOrder(d, engine, "New \"Virtual Server\" x1 effective " + effective, order, &scheduled);
  auto held = d.rt.crm->client().Retrieve("Service_Subscription__c", scheduled,
                                          {"Status__c", "Billing_Subscription_Id__c"});
  auto billed = d.rt.billing->billing().GetSubscription(
      held.ok() ? (*held)["Billing_Subscription_Id__c"].as_string() : "");
  d.Expect(later == "Scheduled" && held.ok() && (*held)["Status__c"].as_string() == "Scheduled" &&
               billed.ok() && billed->status == "scheduled" && billed->latest_invoice_id.empty(),
           "the future-dated order is Scheduled: set up now, nothing invoiced, billed from " +
               effective);
}

// Returns the order lines it sold (the revenue step sells them again).
OrderLines WorkOrdersStep(Demo& d, const BillingProduct& server_product) {
  Step("Steps 4-5: work orders from activated Orders (config/workorders.yaml)");
  const OrderLines l = PrepareOrderLines(d, server_product);
  workorders::EngineOptions eo;
  eo.worker_id = "demo";
  const auto engine = NewEngine(d.rt, eo);
  std::string service;
  d.Expect(
      RunOrder(d, *engine, "New \"Virtual Server\" x2, 12 months from " + SoldIn(d, 0),
               CreateOrder(d, "New", SoldIn(d, 0), l.server_product, l.server_entry, 2, 49, "", 12),
               &service) == "Completed",
      "new order: account synced, subscription created, started, recorded in the CRM");
  d.Expect(RunOrder(d, *engine, "Add-on: Backup x1",
                    CreateOrder(d, "New", SoldIn(d, 1), l.backup_product, l.backup_entry, 1, 5,
                                service, 0),
                    &service) == "Completed" &&
               RunOrder(d, *engine, "Add-on change: Backup x3",
                        CreateOrder(d, "Change", SoldIn(d, 2), l.backup_product, l.backup_entry, 3,
                                    5, service, 0),
                        &service) == "Completed",
           "recurring add-on added, then its quantity changed");
  d.Expect(RunOrder(d, *engine, "Re-rate to the 59.00 price",
                    CreateOrder(d, "Re-rate", SoldIn(d, 3), l.server_product, l.xl_entry, 2, 59,
                                service, 0),
                    &service) == "Completed",
           "re-rated: the item moved to the new price");
  const int64_t charges_before = d.billing_sandbox.OneTimeCharges();
  const std::string cancel =
      CreateOrder(d, "Cancel", SoldIn(d, 6), l.server_product, l.xl_entry, 2, 59, service, 0);
  const bool cancelled =
      RunOrder(d, *engine, "Cancel on " + SoldIn(d, 6) + " (6 months of the term left)", cancel,
               &service) == "Completed";
  const int64_t fee = EarlyTerminationFee(d, cancel);
  std::cout << "    early-termination charge: " << fee / 100 << "." << (fee % 100 < 10 ? "0" : "")
            << fee % 100 << " EUR (6 months x 2 x 59.00 after the re-rate x 50 %)\n";
  d.Expect(cancelled && fee == 35400 && d.billing_sandbox.OneTimeCharges() == charges_before + 1,
           "cancelled now, with the early-termination fee as a one-time charge");
  SoldAndScheduledOrders(d, *engine, l);
  return l;
}

// Accounts that exist only in the CRM, and one already in billing under another spelling.
// Returns the CRM ids of the five.
std::vector<std::string> CreateLegacyAccounts(Demo& d) {
  std::vector<Json> legacy;
  for (const char* name :
       {"Wonka Industries", "Cyberdyne Systems", "Soylent Corp", "Tyrell Corporation", "Oscorp"}) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    legacy.push_back(a);
  }
  std::vector<std::string> legacy_ids;
  auto made = d.rt.crm->client().CreateMany("Account", legacy);
  if (made.ok())
    for (const auto& r : *made) legacy_ids.push_back(r.id);
  connector::billing::BillingAccount existing;
  existing.name = "TYRELL CORP.";
  (void)d.rt.billing->billing().CreateAccount(existing, "demo-tyrell");
  return legacy_ids;
}

// The file to migrate: good rows, bad ones and a duplicate.
void WriteMigrationCsv(const std::string& csv_path, const std::vector<std::string>& legacy_ids) {
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

void PrintMigration(const Result<migration::MigrationSummary>& migrated,
                    const std::string& output_dir) {
  if (!migrated.ok()) {
    std::cout << "  " << migrated.status().ToString() << "\n";
    return;
  }
  std::cout << "  job " << migrated->job_id << ": " << migrated->rows << " rows, "
            << migrated->succeeded << " succeeded, " << migrated->failed << " failed ("
            << migrated->created_billing << " created in billing, " << migrated->matched
            << " matched, " << migrated->invalid << " invalid, " << migrated->duplicates
            << " duplicate)\n";
  for (const char* name : {"success.csv", "error.csv"}) {
    std::cout << "  " << output_dir << "/" << name << ":\n";
    std::ifstream in(fs::path(output_dir) / name);
    for (std::string line; std::getline(in, line);) std::cout << "    " << line << "\n";
  }
}

void MigrationStep(Demo& d) {
  Step("Step 7: bulk initial load from CSV (tandem migrate), with bad and duplicate rows");
  const std::vector<std::string> legacy_ids = CreateLegacyAccounts(d);
  const std::string csv_path = (fs::path(d.options.workdir) / "accounts-to-migrate.csv").string();
  WriteMigrationCsv(csv_path, legacy_ids);
  SeededRandom job_random(3);
  const auto migrator = NewMigrator(d.rt, job_random, nullptr);
  migration::MigrationOptions mo;
  mo.object = "account";
  mo.file = csv_path;
  mo.output_dir = (fs::path(d.options.workdir) / "migration").string();
  auto migrated = migrator->Run(mo, nullptr);
  PrintMigration(migrated, mo.output_dir);
  d.Expect(migrated.ok() && migrated->created_billing == 2 && migrated->matched == 1 &&
               migrated->failed == 3,
           "2 created, 1 matched by name to the existing customer, 3 bad rows in error.csv");
  auto rerun = migrator->Run(mo, nullptr);
  d.Expect(rerun.ok() && rerun->created_billing == 0 && rerun->already_linked == 3,
           "running the same file again creates nothing");
  // The sign-off extract (tandem migrate extract): the loaded accounts agree with billing field
  // by field right after the load, with no reconcile --fix (fields the file lacks came from the
  // CRM; the values it carried went to the CRM too).
  const std::string pairs_path = (fs::path(mo.output_dir) / "account-pairs.csv").string();
  std::ofstream pairs_file(pairs_path, std::ios::binary | std::ios::trunc);
  auto extracted = reconcile::ExtractLinkedPairs(ActionDepsOf(d.rt), "account", pairs_file);
  pairs_file.close();
  int loaded = 0, in_step = 0;
  std::ifstream pairs_in(pairs_path, std::ios::binary);
  migration::CsvReader reader(pairs_in);
  std::vector<std::string> header;
  migration::CsvRecord rec;
  Status row_status;
  if (extracted.ok() && reader.ReadHeader(&header).ok())
    while (reader.Next(&rec, &row_status))
      if (rec.fields.size() > 3 &&
          std::find(legacy_ids.begin(), legacy_ids.end(), rec.fields[0]) != legacy_ids.end()) {
        ++loaded;
        in_step += rec.fields[3] == "yes" ? 1 : 0;
      }
  std::cout << "  tandem migrate extract: " << pairs_path << "\n";
  d.Expect(loaded == 3 && in_step == 3,
           "the 3 loaded accounts are in step with billing right after the load (" +
               std::to_string(in_step) + " of " + std::to_string(loaded) +
               "): no reconcile --fix needed");
}

// One reconcile run (of `objects`; empty: the default) writing `csv`; prints its summary.
// Null when the run failed.
std::unique_ptr<reconcile::Report> ReconcileOnce(Demo& d, bool fix, const std::string& csv,
                                                 std::vector<std::string> objects = {}) {
  auto report = reconcile::Report::Open(csv, 3);
  if (!report.ok()) return std::unique_ptr<reconcile::Report>();
  const auto reconciler = NewReconciler(d.rt, **report);
  reconcile::ReconcileOptions run_options;
  run_options.fix = fix;
  run_options.objects = std::move(objects);
  const Status st = reconciler->Run(run_options);
  (void)(*report)->Close();
  if (!st.ok()) std::cout << "  reconcile: " << st.ToString() << "\n";
  std::istringstream lines((*report)->Summary(fix));
  for (std::string line; std::getline(lines, line);) std::cout << "    " << line << "\n";
  return st.ok() ? std::move(report).value() : std::unique_ptr<reconcile::Report>();
}

void ReconcileStep(Demo& d) {
  Step("Reconciliation: CRM and billing compared record by record (tandem reconcile)");
  const std::string dir = d.options.workdir + "/";
  std::cout << "  1. repairing (--fix) what the steps above put out of step on purpose: the\n"
               "     billing edit from step 3 (a sync skips unchanged CRM records), an invoice\n"
               "     billed after the API stopped taking callbacks, the past-due subscription\n"
               "     (subscription events do not update the inventory); the migration left\n"
               "     nothing to repair (step 7's extract):\n";
  auto caught_up = ReconcileOnce(d, true, dir + "reconcile-fix.csv");
  d.Expect(caught_up && caught_up->differences() > 0 && caught_up->remaining() == 0,
           "every difference found was repaired through the actions");
  std::cout << "  2. again, without --fix:\n";
  auto clean = ReconcileOnce(d, false, dir + "reconcile.csv");
  d.Expect(clean && clean->differences() == 0, "reconcile finds nothing: the two are in step");
  connector::billing::BillingAccount behind;
  behind.phone = "+1 555 0199";
  const auto link = d.rt.store->FindLinkByCrmId("account", d.ids.empty() ? "" : d.ids[0]);
  if (link.ok() && link->has_value())
    (void)d.rt.billing->billing().UpdateAccount((*link)->billing_id, behind, "demo-behind-back");
  std::cout << "  3. someone edits Acme Corp's phone in billing, behind Tandem's back:\n";
  auto found = ReconcileOnce(d, false, dir + "reconcile-drift.csv");
  d.Expect(found && found->differences() == 1,
           "reconcile finds the one changed field (report: " + dir + "reconcile-drift.csv)");
}

// Behind Tandem's back, in billing: `sub`'s base line moved to a price made at `unit_minor`.
void RepriceInBilling(Demo& d, const std::string& sub, int64_t unit_minor) {
  auto s = d.rt.billing->billing().GetSubscription(sub);
  if (!s.ok() || s->items.empty()) return;
  connector::billing::SubscriptionItem to;
  to.sold_price = true;
  to.price = s->items.front().price;
  to.price.id.clear();
  to.price.unit_amount_minor = unit_minor;
  (void)d.rt.billing->billing().ChangePrice(
      sub, s->items.front().id, to, connector::billing::Proration::kProrate, "demo-behind-price");
}

// The billing subscription of a service inventory record.
std::string BillingSubscriptionOf(Demo& d, const std::string& service) {
  auto record = d.rt.crm->client().Retrieve(actions::kSubscriptionObject, service,
                                            {actions::kSubscriptionKey});
  return record.ok() ? (*record)[actions::kSubscriptionKey].as_string() : "";
}

void RevenueStep(Demo& d, const OrderLines& l) {
  Step("Revenue: what the CRM sold against what billing charges, per month (--object revenue)");
  workorders::EngineOptions eo;
  eo.worker_id = "demo";
  const auto engine = NewEngine(d.rt, eo);
  std::string service_a, service_b;
  const bool sold =
      RunOrder(d, *engine, "New \"Virtual Server\" x3 at 49.00",
               CreateOrder(d, "New", SoldIn(d, 7), l.server_product, l.server_entry, 3, 49, "", 12),
               &service_a) == "Completed" &&
      RunOrder(
          d, *engine, "Add-on: Backup x2 at 5.00",
          CreateOrder(d, "New", SoldIn(d, 7), l.backup_product, l.backup_entry, 2, 5, service_a, 0),
          &service_a) == "Completed" &&
      RunOrder(d, *engine, "New \"Virtual Server\" x1 at 49.00",
               CreateOrder(d, "New", SoldIn(d, 7), l.server_product, l.server_entry, 1, 49, "", 12),
               &service_b) == "Completed";
  const std::string dir = d.options.workdir + "/";
  auto in_step = ReconcileOnce(d, false, dir + "revenue.csv", {"revenue"});
  d.Expect(sold && in_step && in_step->differences() == 0,
           "what the work orders sold is what billing charges");

  std::cout << "  behind Tandem's back, in billing: the first server repriced to 44.00, the\n"
               "  second raised to 2 servers, the backup add-on removed:\n";
  const std::string sub_a = BillingSubscriptionOf(d, service_a);
  const std::string sub_b = BillingSubscriptionOf(d, service_b);
  RepriceInBilling(d, sub_a, 4400);
  auto b = d.rt.billing->billing().GetSubscription(sub_b);
  if (b.ok() && !b->items.empty())
    (void)d.rt.billing->billing().ChangeQuantity(
        sub_b, b->items.front().id, 2, connector::billing::Proration::kProrate, "demo-behind-qty");
  auto a = d.rt.billing->billing().GetSubscription(sub_a);
  if (a.ok() && a->items.size() > 1)
    (void)d.rt.billing->billing().RemoveAddOn(
        a->items[1].id, connector::billing::Proration::kProrate, "demo-behind-remove");
  auto found = ReconcileOnce(d, false, dir + "revenue-found.csv", {"revenue"});
  reconcile::MonthlyAtStake eur;
  if (found && found->monthly().count("EUR")) eur = found->monthly().at("EUR");
  d.Expect(
      found && found->differences() == 3 && eur.under_billed == 2500 && eur.over_billed == 4900,
      "found: 15.00 under-billed (3 x 5.00) + 10.00 add-on missing, 49.00 over-billed a "
      "month (report: " +
          dir + "revenue-found.csv)");
  std::cout << "  --fix (config/mapping.yaml allows under_billed and missing_add_on):\n";
  auto fixed = ReconcileOnce(d, true, dir + "revenue-fix.csv", {"revenue"});
  d.Expect(fixed && fixed->fixed() == 2 && fixed->remaining() == 1,
           "repaired through work orders: the price and the add-on; the over-billing is left to "
           "a person");
  auto again = ReconcileOnce(d, false, dir + "revenue-again.csv", {"revenue"});
  d.Expect(again && again->differences() == 1,
           "a second run finds only the over-billing the mapping does not let --fix lower");
}

void ApiCallsStep(const Demo& d) {
  Step("API calls");
  for (const auto& [key, counts] : d.rt.counter.Snapshot())
    std::cout << "  " << key << ": " << counts.calls << " calls, " << counts.attempts
              << " attempts\n";
  std::cout << "  billing requests in all: " << (d.billing_sandbox.requests() - d.billing_before)
            << "\n";
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  std::error_code ec;
  fs::create_directories(options.workdir, ec);
  const std::string db = (fs::path(options.workdir) / "tandem-demo.db").string();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix, ec);
  DemoLog log;
  if (!SetUpLog(options, &log)) return kExitFailures;

  std::cout << "Tandem demo — embedded default (SQLite " << db << ") and the sandboxes\n"
            << "Log: " << log.path << "\n";
  SystemClock clock;
  sandbox::salesforce::SalesforceSandbox crm_sandbox({}, clock);
  std::unique_ptr<DemoBilling> billing = NewDemoBilling(options.billing, clock);
  if (!crm_sandbox.Start().ok() || !billing->Start().ok()) {
    std::cerr << "demo: cannot start the sandboxes\n";
    return kExitFailures;
  }
  std::cout << "Salesforce sandbox " << crm_sandbox.base_url() << ", " << billing->name()
            << " sandbox " << billing->base_url() << "\n";

  // The API's port is chosen first so the billing sandbox can be told where to send webhooks.
  const int api_port = FreeLoopbackPort();
  const std::string webhook_secret = billing->Subscribe(
      "http://127.0.0.1:" + std::to_string(api_port) + "/api/v1/callbacks/billing");
  auto redactor = std::make_shared<Redactor>();
  auto built =
      BuildRuntime(DemoConfig(db, crm_sandbox.base_url(), *billing, webhook_secret), redactor);
  if (!built.ok()) {
    std::cerr << "demo: " << built.status().ToString() << "\n";
    return kExitFailures;
  }
  Demo d{options, clock, crm_sandbox, *billing, **built, *redactor};

  StoreStep(d);
  MappingStep(d);
  const std::unique_ptr<ApiServer> server = ManualSyncStep(d, api_port);
  if (!server) return kExitFailures;
  BillingProduct server_product = CallbacksStep(d);
  server->Stop();
  CatalogStep(d, server_product);
  const OrderLines lines = WorkOrdersStep(d, server_product);
  MigrationStep(d);
  ReconcileStep(d);
  RevenueStep(d, lines);
  ApiCallsStep(d);

  log.sinks->flush();
  std::cout << "\nLog: " << log.path << " (" << log.counter->warnings() << " warnings, "
            << log.counter->errors() << " errors)\n";
  std::cout << "\nDemo " << (d.failures == 0 ? "finished: every step passed" : "FAILED") << ".\n";
  return d.failures == 0 ? kExitOk : kExitFailures;
}

}  // namespace tandem::app
