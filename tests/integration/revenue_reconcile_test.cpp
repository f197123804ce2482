// The revenue reconcile end to end on the sandboxes and a real store (SQLite and PostgreSQL):
// subscriptions sold through work orders (so the CRM holds what the work order writes), then
// billing changed behind Tandem's back — a price lowered, a quantity raised, an add-on
// removed. Each difference is found with its exact monthly amount; --fix repairs the kinds the
// mapping allows through work orders run by the engine; a second run finds nothing.
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "reconcile/money.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/order_builder.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "tests/support/test_dates.h"
#include "tests/support/work_orders.h"
#include "workorders/engine.h"

namespace tandem::reconcile {
namespace {

using connector::billing::SubscriptionItem;
using testing::CatalogProduct;
using testing::OrderLine;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// RFC 4180 rows of a report (quoted fields, doubled quotes), each by column name.
std::vector<std::map<std::string, std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\r') {
      continue;
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  std::vector<std::map<std::string, std::string>> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != rows[0].size()) continue;
    std::map<std::string, std::string> row;
    for (size_t k = 0; k < rows[0].size(); ++k) row[rows[0][k]] = rows[r][k];
    out.push_back(row);
  }
  return out;
}

TEST(MonthlyAmounts, EveryPeriodBecomesAMonthRoundedOnceHalfAwayFromZero) {
  EXPECT_EQ(MonthlyMinor(4900, "month", 1), 4900);
  EXPECT_EQ(MonthlyMinor(4900, "Month", 1), 4900);  // the CRM's picklist value
  EXPECT_EQ(MonthlyMinor(9000, "month", 3), 3000);  // quarterly
  EXPECT_EQ(MonthlyMinor(1001, "month", 2), 501);   // 500.5 → 501
  EXPECT_EQ(MonthlyMinor(120000, "year", 1), 10000);
  EXPECT_EQ(MonthlyMinor(100000, "year", 1), 8333);  // 8333.33
  EXPECT_EQ(MonthlyMinor(1000, "week", 1), 4333);    // × 52 / 12 = 4333.33
  EXPECT_EQ(MonthlyMinor(3000, "week", 2), 6500);    // × 52 / 24
  EXPECT_EQ(MonthlyMinor(100, "day", 1), 3042);      // × 365 / 12 = 3041.67
  EXPECT_EQ(MonthlyMinor(-1001, "month", 2), -501);
  EXPECT_FALSE(MonthlyMinor(100, "fortnight", 1).has_value());
  EXPECT_FALSE(MonthlyMinor(100, "month", 0).has_value());
  EXPECT_EQ(FormatMinor(45000, "EUR"), "450.00");
  EXPECT_EQ(FormatMinor(-10005, "EUR"), "-100.05");
  EXPECT_EQ(FormatMinor(1200, "JPY"), "1200");
  EXPECT_EQ(FormatMinor(1234, "KWD"), "1.234");
  EXPECT_EQ(ToMinor(25.5, "EUR"), 2550);
  EXPECT_EQ(Period("Month", 3), "3 months");
}

class RevenueReconcileTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    templates_ = testing::ShippedTemplates();
    deps_ = std::make_unique<actions::ActionDeps>(
        actions::ActionDeps{crm_.client(), billing(), **store_, mapping_, stripe_.clock});
    actions_ = std::make_unique<actions::Actions>(*deps_, "test:revenue");
    workorders::EngineOptions o;
    o.backoff_base = Millis(1);
    o.backoff_max = Millis(5);
    engine_ = std::make_unique<workorders::Engine>(
        workorders::TaskDeps{crm_.client(), billing(), **store_, mapping_, stripe_.clock,
                             *actions_},
        templates_, o);
    pricebook_ = testing::CreatePricebook(crm_.client()).value();
    server_ = Product("Virtual Server", "VS-2", "Virtual Server", "Base", 10000);
    backup_ = Product("Backup", "BK", "Add-Ons", "Add-On", 500);
    setup_ = Product("Setup Fee", "SETUP", "Fees", "Fee", 15000);
  }

  connector::billing::stripe::StripeBilling& billing() { return stripe_.billing(); }

  CatalogProduct Product(const std::string& name, const std::string& code,
                         const std::string& family, const std::string& kind, int64_t minor) {
    return testing::CreateCatalogProduct(crm_.client(), billing(), pricebook_, name, code, family,
                                         kind, minor)
        .value();
  }

  // A SIP trunk sold in US dollars: 20.00 a month.
  CatalogProduct DollarTrunk() {
    CatalogProduct c;
    c.product_billing = testing::CreateBillingProduct(billing(), "SIP Trunk", "p-SIP").value().id;
    c.price_billing =
        testing::CreateBillingPrice(billing(), c.product_billing, "usd", 2000, "month", "price-SIP")
            .value()
            .id;
    c.product_crm = testing::CreateProduct2(crm_.client(), {"SIP Trunk", "SIP-10", "SIP Trunk",
                                                            "Base", c.product_billing})
                        .value();
    c.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook_, c.product_crm, 20,
                                                c.price_billing, "USD")
                      .value();
    return c;
  }

  std::string Account(const std::string& name) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    return crm_.client().Create("Account", a).value();
  }

  // An activated order of `account`, run by the engine to its end.
  void Order(const std::string& account, const std::string& operation,
             const std::vector<OrderLine>& lines) {
    testing::OrderSpec spec{account, testing::TestMonth(0), operation, lines};
    spec.order_number = "ORD-" + std::to_string(++orders_);
    spec.pricebook = pricebook_;
    const std::string id = testing::CreateOrder(crm_.client(), spec).value();
    ASSERT_TRUE(engine_->Enqueue(id).ok());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(engine_->RunOnce().ok());
      const auto s = engine_->State(id).value();
      if (s.status == "Failed") FAIL() << s.error;
      if (s.status == "Completed") return;
    }
    FAIL() << "order " << id << " did not complete";
  }

  // The service inventory record (CRM) and billing subscription of the account's only one
  // (or of the one billed in `currency`).
  std::pair<std::string, std::string> Subscription(const std::string& account,
                                                   const std::string& currency = "") {
    std::pair<std::string, std::string> out;
    EXPECT_TRUE(
        crm_.client()
            .Query("SELECT Id, Billing_Subscription_Id__c, Currency__c FROM "
                   "Service_Subscription__c WHERE Account__c = '" +
                       account + "'",
                   [&](const Json& r) {
                     // Billing's code, as billing keeps it (lower case): compared by letters.
                     if (currency.empty() || Upper(r["Currency__c"].as_string()) == currency)
                       out = {r["Id"].as_string(), r["Billing_Subscription_Id__c"].as_string()};
                     return Status::Ok();
                   })
            .ok());
    return out;
  }

  connector::billing::Subscription Billed(const std::string& id) {
    return billing().GetSubscription(id).value();
  }

  // Behind Tandem's back: the base item moved to a price made at `unit_minor`.
  void Reprice(const std::string& sub, int64_t unit_minor) {
    const auto s = Billed(sub);
    SubscriptionItem to;
    to.sold_price = true;
    to.price = s.items.front().price;
    to.price.id.clear();
    to.price.unit_amount_minor = unit_minor;
    ASSERT_TRUE(billing()
                    .ChangePrice(sub, s.items.front().id, to,
                                 connector::billing::Proration::kProrate,
                                 "behind-price-" + sub + "-" + std::to_string(unit_minor))
                    .ok());
  }

  void Requantify(const std::string& sub, int64_t quantity) {
    const auto s = Billed(sub);
    ASSERT_TRUE(billing()
                    .ChangeQuantity(sub, s.items.front().id, quantity,
                                    connector::billing::Proration::kProrate,
                                    "behind-qty-" + sub + "-" + std::to_string(quantity))
                    .ok());
  }

  // Runs the revenue reconcile; the CSV lands in the test's temp folder. `run_tasks`: repairs
  // run through the engine (else they stay queued).
  std::unique_ptr<Report> Run(bool fix, bool run_tasks = true) {
    csv_ = ::testing::TempDir() + "revenue_" + std::to_string(++runs_) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".csv";
    for (char& c : csv_)
      if (c == '/' && &c > csv_.data() + ::testing::TempDir().size()) c = '_';
    auto report = Report::Open(csv_, 3);
    EXPECT_TRUE(report.ok());
    RunWorkOrders runner;
    if (run_tasks)
      runner = [this](const std::vector<std::string>& groups) -> Status {
        ++runner_calls_;
        for (int i = 0; i < 200; ++i) {
          bool pending = false;
          for (const auto& g : groups) {
            const std::vector<store::Task> tasks = (*store_)->TasksInGroup(g).value();
            for (const auto& t : tasks)
              pending = pending || (t.state != "done" && t.state != "failed");
          }
          if (!pending) return Status::Ok();
          auto ran = engine_->RunOnce();
          if (!ran.ok()) return ran.status();
          if (ran->ran == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return Status::Ok();
      };
    Reconciler reconciler(*deps_, *actions_, **report, runner);
    ReconcileOptions options;
    options.objects = {"revenue"};
    options.fix = fix;
    const Status st = reconciler.Run(options);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE((*report)->Close().ok());
    summary_ = (*report)->Summary(fix);
    rows_ = ReadCsv(csv_);
    return std::move(report).value();
  }

  // The report's first rows of `kind` (follow-up rows with an action left out).
  std::vector<std::map<std::string, std::string>> Found(const std::string& kind) {
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& r : rows_)
      if (r.at("KIND") == kind && r.at("ACTION").empty()) out.push_back(r);
    return out;
  }
  std::string Action(const std::string& kind) {
    for (const auto& r : rows_)
      if (r.at("KIND") == kind && !r.at("ACTION").empty()) return r.at("ACTION");
    return "";
  }

  void AllowOverBilledRepairs() {
    for (auto& m : mapping_.objects)
      if (m.name == "subscription") m.repair.insert(kOverBilled);
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  mapping::Mapping mapping_;
  workorders::Templates templates_;
  std::unique_ptr<actions::ActionDeps> deps_;
  std::unique_ptr<actions::Actions> actions_;
  std::unique_ptr<workorders::Engine> engine_;
  std::string pricebook_, csv_, summary_;
  CatalogProduct server_, backup_, setup_;
  std::vector<std::map<std::string, std::string>> rows_;
  int orders_ = 0, runs_ = 0, runner_calls_ = 0;
};

TEST_P(RevenueReconcileTest, PlantedDifferencesAreFoundWithTheirMonthlyAmountsAndRepaired) {
  // Acme: 5 servers at 100.00 with 3 backups at 5.00 and a one-time setup fee; Globex: 2
  // servers. Sold: 500.00 + 15.00 and 200.00 EUR a month.
  const std::string acme = Account("Acme"), globex = Account("Globex");
  Order(acme, "New", {{&server_, 5, 100, "", "", 12}});
  const auto [acme_crm, acme_sub] = Subscription(acme);
  Order(acme, "New", {{&backup_, 3, 5, "", acme_crm, 0}, {&setup_, 1, 150, "", acme_crm, 0}});
  Order(globex, "New", {{&server_, 2, 100, "", "", 12}});
  const auto [globex_crm, globex_sub] = Subscription(globex);
  ASSERT_FALSE(HasFailure());

  auto in_step = Run(false);
  EXPECT_EQ(in_step->differences(), 0) << summary_;
  EXPECT_NE(summary_.find("revenue: 2 checked, 0 differences"), std::string::npos) << summary_;
  EXPECT_NE(summary_.find("1 one-time fees (150.00 EUR)"), std::string::npos) << summary_;

  // Behind Tandem's back: Acme's server repriced to 90.00, Globex raised to 3 servers, Acme's
  // backup removed.
  Reprice(acme_sub, 9000);
  Requantify(globex_sub, 3);
  const std::string backup_item = Billed(acme_sub).items.at(1).id;
  ASSERT_TRUE(
      billing()
          .RemoveAddOn(backup_item, connector::billing::Proration::kProrate, "behind-remove")
          .ok());

  auto found = Run(false);
  EXPECT_EQ(found->differences(), 3) << summary_;
  const auto under = Found(kUnderBilled), over = Found(kOverBilled), add_on = Found(kMissingAddOn);
  ASSERT_EQ(under.size(), 1u) << summary_;
  ASSERT_EQ(over.size(), 1u) << summary_;
  ASSERT_EQ(add_on.size(), 1u) << summary_;
  EXPECT_EQ(under[0].at("BILLING_ID"), acme_sub);
  EXPECT_EQ(under[0].at("SOLD_MONTHLY"), "500.00");
  EXPECT_EQ(under[0].at("BILLED_MONTHLY"), "450.00");
  EXPECT_EQ(under[0].at("DIFFERENCE_MONTHLY"), "50.00");
  EXPECT_NE(under[0].at("DETAIL").find("price: sold 100.00 EUR / month, billed 90.00 EUR / month"),
            std::string::npos)
      << under[0].at("DETAIL");
  EXPECT_EQ(over[0].at("BILLING_ID"), globex_sub);
  EXPECT_EQ(over[0].at("DIFFERENCE_MONTHLY"), "-100.00");
  EXPECT_NE(over[0].at("DETAIL").find("quantity: sold 2, billed 3"), std::string::npos);
  EXPECT_EQ(add_on[0].at("CRM_ID"), acme_crm);
  EXPECT_EQ(add_on[0].at("SOLD_MONTHLY"), "15.00");
  EXPECT_EQ(add_on[0].at("BILLED_MONTHLY"), "0.00");
  EXPECT_EQ(add_on[0].at("DIFFERENCE_MONTHLY"), "15.00");
  // The totals: per account, and at stake per currency.
  const auto totals = Found(kAccountTotal);
  ASSERT_EQ(totals.size(), 2u);
  for (const auto& t : totals) {
    if (t.at("ACCOUNT_ID") == acme) {
      EXPECT_EQ(t.at("SOLD_MONTHLY"), "515.00");
      EXPECT_EQ(t.at("BILLED_MONTHLY"), "450.00");
      EXPECT_EQ(t.at("DIFFERENCE_MONTHLY"), "65.00");
    } else {
      EXPECT_EQ(t.at("ACCOUNT_ID"), globex);
      EXPECT_EQ(t.at("DIFFERENCE_MONTHLY"), "-100.00");
    }
  }
  const MonthlyAtStake eur = found->monthly().at("EUR");
  EXPECT_EQ(eur.under_billed, 6500);
  EXPECT_EQ(eur.over_billed, 10000);
  EXPECT_EQ(eur.accounts, 2);
  EXPECT_NE(summary_.find("monthly at stake in EUR: under-billed 65.00, over-billed 100.00 (2 "
                          "accounts)"),
            std::string::npos)
      << summary_;

  // --fix with the shipped mapping: the under-billing and the lost add-on are repaired by work
  // orders; the over-billing is a person's call.
  auto fixed = Run(true);
  EXPECT_EQ(fixed->differences(), 3) << summary_;
  EXPECT_EQ(fixed->fixed(), 2) << summary_;
  EXPECT_EQ(Action(kUnderBilled), "fixed") << summary_;
  EXPECT_EQ(Action(kMissingAddOn), "fixed") << summary_;
  EXPECT_EQ(Action(kOverBilled), "") << summary_;  // not allowed: reported only
  auto acme_now = Billed(acme_sub);
  ASSERT_EQ(acme_now.items.size(), 2u);
  EXPECT_EQ(acme_now.items[0].price.unit_amount_minor, 10000);
  EXPECT_EQ(acme_now.items[0].price_id, server_.price_billing);  // back on the catalog price
  EXPECT_EQ(acme_now.items[1].price_id, backup_.price_billing);
  EXPECT_EQ(acme_now.items[1].quantity, 3);
  // The CRM's add-on record names the new item: one record, not a second.
  int recurring = 0;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Billing_Item_Id__c FROM Service_Add_On__c WHERE Kind__c = "
                         "'Recurring'",
                         [&](const Json& r) {
                           ++recurring;
                           EXPECT_EQ(r["Billing_Item_Id__c"].as_string(), acme_now.items[1].id);
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(recurring, 1);

  auto second = Run(false);
  EXPECT_EQ(second->differences(), 1) << summary_;
  EXPECT_EQ(Found(kOverBilled).size(), 1u) << summary_;

  // A mapping that allows it: billing comes down to the 2 servers sold.
  AllowOverBilledRepairs();
  auto lowered = Run(true);
  EXPECT_EQ(lowered->fixed(), 1) << summary_;
  EXPECT_EQ(Billed(globex_sub).items.front().quantity, 2);
  auto clean = Run(false);
  EXPECT_EQ(clean->differences(), 0) << summary_;
  EXPECT_TRUE(clean->monthly().empty()) << summary_;
}

TEST_P(RevenueReconcileTest, ARepairIsAWorkOrderKeyedBySubscriptionLineAndSoldValues) {
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&server_, 5, 100, "", "", 12}});
  const auto [crm_sub, sub] = Subscription(acme);
  Reprice(sub, 9000);

  // Enqueued, not run: the finding stays, as queued; a rerun adds no task.
  auto queued = Run(true, /*run_tasks=*/false);
  EXPECT_EQ(queued->fixed(), 0) << summary_;
  EXPECT_NE(Action(kUnderBilled).find("queued: work order revenue:" + sub + ":base:5x10000EUR"),
            std::string::npos)
      << Action(kUnderBilled);
  const std::string group = "revenue:" + sub + ":base:5x10000EUR";
  auto tasks = (*store_)->TasksInGroup(group).value();
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].key, "tandem:" + group + ":g1:1:change_price");
  EXPECT_EQ(tasks[1].key, "tandem:" + group + ":g1:2:record_subscription");
  EXPECT_EQ(tasks[1].depends_on, tasks[0].key);
  Run(true, /*run_tasks=*/false);
  EXPECT_EQ((*store_)->TasksInGroup(group).value().size(), 2u);

  // Run: the pending work order repairs it (no second one is made).
  auto fixed = Run(true);
  EXPECT_EQ(fixed->fixed(), 1) << summary_;
  EXPECT_EQ((*store_)->TasksInGroup(group).value().size(), 2u);
  EXPECT_EQ(Billed(sub).items.front().price.unit_amount_minor, 10000);

  // The same difference again later: a new generation, never a done key reused.
  Reprice(sub, 8000);
  auto again = Run(true);
  EXPECT_EQ(again->fixed(), 1) << summary_;
  tasks = (*store_)->TasksInGroup(group).value();
  ASSERT_EQ(tasks.size(), 4u);
  EXPECT_EQ(tasks[2].key, "tandem:" + group + ":g2:1:change_price");
  EXPECT_EQ(Billed(sub).items.front().price.unit_amount_minor, 10000);

  // A quantity sold differently is another work order (its own sold values).
  Requantify(sub, 4);
  auto quantity = Run(true);
  EXPECT_EQ(quantity->fixed(), 1) << summary_;
  EXPECT_EQ(Billed(sub).items.front().quantity, 5);
  EXPECT_EQ(Run(false)->differences(), 0) << summary_;
}

TEST_P(RevenueReconcileTest, TheCsvReportNamesTheAccountTheSubscriptionsAndTheAmounts) {
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&server_, 5, 100, "", "", 12}});
  const auto [crm_sub, sub] = Subscription(acme);
  Requantify(sub, 7);
  Run(false);

  std::ifstream in(csv_, std::ios::binary);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header,
            "OBJECT,KIND,CRM_ID,BILLING_ID,FIELD,CRM_VALUE,BILLING_VALUE,DETAIL,ACTION,ACCOUNT_ID,"
            "CUSTOMER_ID,CURRENCY,SOLD_MONTHLY,BILLED_MONTHLY,DIFFERENCE_MONTHLY\r");
  ASSERT_EQ(rows_.size(), 2u);  // the finding and the account's total
  const auto& f = rows_[0];
  EXPECT_EQ(f.at("OBJECT"), "revenue");
  EXPECT_EQ(f.at("KIND"), "over_billed");
  EXPECT_EQ(f.at("CRM_ID"), crm_sub);
  EXPECT_EQ(f.at("BILLING_ID"), sub);
  EXPECT_EQ(f.at("FIELD"), "base");
  EXPECT_EQ(f.at("CRM_VALUE"), "5 x 100.00 EUR / month");
  EXPECT_EQ(f.at("BILLING_VALUE"), "7 x 100.00 EUR / month");
  EXPECT_EQ(f.at("DETAIL"), "quantity: sold 5, billed 7; over-billed by 200.00 EUR a month");
  EXPECT_EQ(f.at("ACCOUNT_ID"), acme);
  EXPECT_EQ(f.at("CUSTOMER_ID"), Billed(sub).account_id);
  EXPECT_EQ(f.at("CURRENCY"), "EUR");
  EXPECT_EQ(f.at("SOLD_MONTHLY"), "500.00");
  EXPECT_EQ(f.at("BILLED_MONTHLY"), "700.00");
  EXPECT_EQ(f.at("DIFFERENCE_MONTHLY"), "-200.00");
  const auto& t = rows_[1];
  EXPECT_EQ(t.at("KIND"), "account_total");
  EXPECT_EQ(t.at("CRM_ID"), acme);
  EXPECT_EQ(t.at("DIFFERENCE_MONTHLY"), "-200.00");
  EXPECT_EQ(t.at("DETAIL"),
            "the account's monthly revenue in EUR: over-billed by 200.00 EUR a month");
}

TEST_P(RevenueReconcileTest, AMultiCurrencyAccountIsReportedPerCurrency) {
  const CatalogProduct trunk = DollarTrunk();
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&server_, 1, 100, "", "", 12}});
  Order(acme, "New", {{&trunk, 1, 20, "", "", 12}});
  const auto eur = Subscription(acme, "EUR"), usd = Subscription(acme, "USD");
  ASSERT_FALSE(eur.second.empty());
  ASSERT_FALSE(usd.second.empty());
  ASSERT_EQ(Run(false)->differences(), 0) << summary_;

  Reprice(eur.second, 9000);  // 10.00 EUR a month under
  Requantify(usd.second, 2);  // 20.00 USD a month over
  auto report = Run(false);
  EXPECT_EQ(report->differences(), 2) << summary_;
  std::map<std::string, std::string> by_currency;
  for (const auto& t : Found(kAccountTotal)) {
    EXPECT_EQ(t.at("ACCOUNT_ID"), acme);
    by_currency[t.at("CURRENCY")] =
        t.at("SOLD_MONTHLY") + "/" + t.at("BILLED_MONTHLY") + "/" + t.at("DIFFERENCE_MONTHLY");
  }
  EXPECT_EQ(by_currency, (std::map<std::string, std::string>{{"EUR", "100.00/90.00/10.00"},
                                                             {"USD", "20.00/40.00/-20.00"}}));
  EXPECT_EQ(report->monthly().at("EUR").under_billed, 1000);
  EXPECT_EQ(report->monthly().at("EUR").over_billed, 0);
  EXPECT_EQ(report->monthly().at("USD").over_billed, 2000);
  EXPECT_NE(summary_.find("monthly at stake in USD: under-billed 0.00, over-billed 20.00"),
            std::string::npos)
      << summary_;
}

TEST_P(RevenueReconcileTest, BilledButNotSoldAndSoldButNotChargedAreReportedNotRepaired) {
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&server_, 1, 100, "", "", 12}});
  const auto [crm_sub, sub] = Subscription(acme);
  // Billing charges a subscription no inventory record names; and cancels the sold one.
  connector::billing::SubscriptionSpec spec;
  spec.account_id = Billed(sub).account_id;
  spec.items.push_back(SubscriptionItem{"", backup_.price_billing, 2, {}});
  ASSERT_TRUE(billing().CreateSubscription(spec, "stray").ok());
  ASSERT_TRUE(billing().Cancel(sub, false, "cancel-behind").ok());
  AllowOverBilledRepairs();

  auto report = Run(true);
  EXPECT_EQ(report->differences(), 2) << summary_;
  EXPECT_EQ(report->fixed(), 0) << summary_;
  const auto under = Found(kUnderBilled), over = Found(kOverBilled);
  ASSERT_EQ(under.size(), 1u);
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(under[0].at("DIFFERENCE_MONTHLY"), "100.00");
  EXPECT_NE(under[0].at("DETAIL").find("its status is canceled"), std::string::npos);
  EXPECT_EQ(over[0].at("DIFFERENCE_MONTHLY"), "-10.00");
  EXPECT_NE(over[0].at("DETAIL").find("not in the CRM's service inventory"), std::string::npos);
  EXPECT_EQ(Action(kOverBilled).rfind("not repaired: ", 0), 0u) << Action(kOverBilled);
  EXPECT_EQ(runner_calls_, 0);  // nothing to run
}

TEST_P(RevenueReconcileTest, WhatWorkOrdersChangeAndRemoveStaysInStep) {
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&server_, 2, 100, "", "", 12}});
  const auto [crm_sub, sub] = Subscription(acme);
  Order(acme, "New", {{&backup_, 3, 5, "", crm_sub, 0}});
  Order(acme, "Change", {{&server_, 4, 100, "", crm_sub, 0}});
  Order(acme, "Change", {{&backup_, 6, 5, "", crm_sub, 0}});
  EXPECT_EQ(Run(false)->differences(), 0) << summary_;
  // An add-on removed by order is no longer sold: not "missing", and --fix adds nothing back.
  Order(acme, "Cancel", {{&backup_, 6, 5, "", crm_sub, 0}});
  ASSERT_EQ(Billed(sub).items.size(), 1u);
  auto report = Run(true);
  EXPECT_EQ(report->differences(), 0) << summary_;
  EXPECT_EQ(Billed(sub).items.size(), 1u);
}

TEST_P(RevenueReconcileTest, AYearlySubscriptionIsComparedPerMonth) {
  CatalogProduct annual;
  annual.product_billing = testing::CreateBillingProduct(billing(), "Support", "p-SUP").value().id;
  annual.price_billing = testing::CreateBillingPrice(billing(), annual.product_billing, "eur",
                                                     120000, "year", "price-SUP")
                             .value()
                             .id;
  annual.product_crm = testing::CreateProduct2(crm_.client(), {"Support", "SUP", "Support", "Base",
                                                               annual.product_billing})
                           .value();
  annual.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook_, annual.product_crm,
                                                   1200, annual.price_billing, "EUR")
                         .value();
  const std::string acme = Account("Acme");
  Order(acme, "New", {{&annual, 1, 1200, "", "", 12}});
  const auto [crm_sub, sub] = Subscription(acme);
  ASSERT_EQ(Run(false)->differences(), 0) << summary_;
  Reprice(sub, 108000);  // 1,080.00 a year: 10.00 a month less
  Run(false);
  const auto under = Found(kUnderBilled);
  ASSERT_EQ(under.size(), 1u) << summary_;
  EXPECT_EQ(under[0].at("CRM_VALUE"), "1 x 1200.00 EUR / year");
  EXPECT_EQ(under[0].at("SOLD_MONTHLY"), "100.00");
  EXPECT_EQ(under[0].at("BILLED_MONTHLY"), "90.00");
  EXPECT_EQ(under[0].at("DIFFERENCE_MONTHLY"), "10.00");
}

INSTANTIATE_TEST_SUITE_P(Backends, RevenueReconcileTest,
                         ::testing::Values(testing::StoreBackend{"sqlite"},
                                           testing::StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::reconcile
