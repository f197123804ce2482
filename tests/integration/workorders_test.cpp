// Steps 4–5 end to end: activated Orders in the Salesforce sandbox become tasks in a real
// store (SQLite and PostgreSQL), run against the Stripe sandbox; one test per operation.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "actions/callbacks.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/fault_matrix.h"
#include "tests/support/order_builder.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "tests/support/test_dates.h"
#include "tests/support/webhook_env.h"
#include "tests/support/work_order_catalog.h"
#include "tests/support/work_orders.h"
#include "workorders/engine.h"
#include "workorders/poller.h"
#include "workorders/recovery.h"
#include "workorders/renewals.h"

namespace tandem::workorders {
namespace {

using testing::StoreBackend;

Templates DefaultTemplates() { return testing::ShippedTemplates(); }

TEST(WorkOrderTemplates, ProrationIsProrateByDefaultAndABadValueIsNamedWithItsPlace) {
  const Templates shipped = DefaultTemplates();
  for (const auto& t : shipped.templates) EXPECT_EQ(t.proration, "prorate") << t.name;
  auto none = ParseTemplates(
      "templates:\n  - operation: change\n    proration: none\n    tasks: [change_quantity]\n",
      "wo.yaml");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->templates.at(0).proration, "none");
  auto bad = ParseTemplates(
      "templates:\n  - operation: change\n    proration: sometimes\n    tasks: [change_quantity]\n",
      "wo.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(
      bad.status().message().find("wo.yaml:3:16: templates[0].proration: expected prorate or none"),
      std::string::npos)
      << bad.status().ToString();
}

using Catalog = testing::CatalogProduct;
using Item = testing::OrderLine;

class WorkOrderTest : public testing::StoreBackendTest {
 protected:
  // Short client timeouts, so that the fault matrix's delayed answers time out.
  WorkOrderTest()
      : crm_({}, testing::FaultCrmOptions()), stripe_({}, testing::FaultBillingOptions()) {}

  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    templates_ = DefaultTemplates();
    actions_ = std::make_unique<actions::Actions>(
        actions::ActionDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock},
        "test:workorders");
    EngineOptions o;
    o.backoff_base = Millis(1);
    o.backoff_max = Millis(5);
    engine_ = std::make_unique<Engine>(
        TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_},
        templates_, o);
    Json account = Json::MakeObject();
    account.Set("Name", "Work Order Co");
    account_ = crm_.client().Create("Account", account).value();
    catalog_.Make(crm_.client(), stripe_.billing(), account_);
  }

  std::string MakeOrder(const std::string& operation, const std::string& effective,
                        const std::vector<Item>& items) {
    return catalog_.Order(operation, effective, items);
  }

  OrderState Run(const std::string& order_id) { return testing::RunOrder(*engine_, order_id); }

  Json CrmOrder(const std::string& id) {
    return crm_.client()
        .Retrieve("Order", id,
                  {"Automation_Status__c", "Automation_Progress__c", "Automation_Error__c"})
        .value();
  }

  // An engine whose lease is `lease` (the sweep's horizon), having run the enqueued `order`
  // to its end: Completed in the CRM, every write held.
  std::unique_ptr<Engine> EngineThatCompleted(const std::string& order, Millis lease) {
    EngineOptions o;
    o.lease = lease;
    auto engine = std::make_unique<Engine>(
        TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_},
        templates_, o);
    for (int i = 0; i < 50 && CrmOrder(order)["Automation_Status__c"].as_string() != "Completed";
         ++i)
      EXPECT_TRUE(engine->RunOnce().ok());
    EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Completed");
    EXPECT_TRUE((*store_)->ReportsDue(INT64_MAX, 10)->empty()) << "every write held";
    return engine;
  }

  // Runs `engine` (its report sweep too) until the CRM says the order is Completed, or 5 s
  // pass; the Order as the CRM has it then.
  Json SweepUntilCompleted(Engine& engine, const std::string& order) {
    for (int i = 0; i < 100 && CrmOrder(order)["Automation_Status__c"].as_string() != "Completed";
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      EXPECT_TRUE(engine.RunOnce().ok());
    }
    return CrmOrder(order);
  }

  Json Inventory(const std::string& order_id) {
    return crm_.client()
        .Retrieve("Service_Subscription__c", ItemSubscription(order_id),
                  {"Billing_Subscription_Id__c", "Status__c", "Quantity__c", "End_Date__c",
                   "Account__c", "Term_Months__c", "Start_Date__c"})
        .value_or(Json());
  }

  // A started subscription of 2 × the server from TestMonth(0) (2026-01-01 on 2026-12-01);
  // returns its CRM record.
  // `term` months: a test that moves past today by weeks takes 24, as a 12-month term from
  // TestMonth(0) ends on the 1st of next month, as soon as tomorrow.
  std::string NewServer(const Catalog& product, int quantity = 2, double unit_price = 30,
                        int term = 12) {
    const std::string order =
        MakeOrder("New", testing::TestMonth(0), {{&product, quantity, unit_price, "", "", term}});
    EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
    return ItemSubscription(order);
  }

  // Billing's invoice items: proration ones (a mid-period change) or the others (charges).
  std::vector<Json> InvoiceItems(bool proration) {
    std::vector<Json> out;
    for (const auto& text : stripe_.sandbox.Objects("invoiceitem")) {
      Json ii = Json::Parse(text).value();
      if (ii["proration"].as_bool() == proration) out.push_back(ii);
    }
    return out;
  }

  // The calendar day `days` from now on the sandbox's clock, as an Order's EffectiveDate.
  std::string Day(int days) {
    return FormatRfc3339(
               FromEpochMillis(ToEpochMillis(stripe_.clock.Now()) + int64_t{days} * 86'400'000))
        .substr(0, 10);
  }

  std::string ItemSubscription(const std::string& order_id) {
    return testing::ItemSubscription(crm_.client(), order_id);
  }

  connector::billing::Subscription BillingSub(const std::string& crm_sub) {
    const std::string id =
        crm_.client()
            .Retrieve("Service_Subscription__c", crm_sub, {"Billing_Subscription_Id__c"})
            .value()["Billing_Subscription_Id__c"]
            .as_string();
    return stripe_.billing().GetSubscription(id).value();
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  mapping::Mapping mapping_;
  Templates templates_;
  std::unique_ptr<actions::Actions> actions_;
  std::unique_ptr<Engine> engine_;
  std::string account_;
  testing::WorkOrderCatalog catalog_;
  // The catalog's products and price book, by the names the tests use.
  Catalog &server_ = catalog_.server, &server_xl_ = catalog_.server_xl, &backup_ = catalog_.backup,
          &setup_ = catalog_.setup, &trunk_ = catalog_.trunk;
  std::string& pricebook_ = catalog_.pricebook;
};

TEST_P(WorkOrderTest, NewSyncsTheAccountCreatesStartsAndRecordsTheSubscription) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 2, 30, "", "", 12}});
  auto plan = PlanOrder(ReadOrder(crm_.client(), order).value(), templates_);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 4u);
  EXPECT_EQ((*plan)[0].template_name, "New \"Virtual Server\"");
  EXPECT_EQ((*plan)[0].spec.kind, "sync_account");
  EXPECT_EQ((*plan)[3].spec.depends_on, (*plan)[2].spec.key);

  const OrderState s = Run(order);
  EXPECT_EQ(s.status, "Completed") << s.error;
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 1);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
  const Json inv = Inventory(order);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active");
  EXPECT_EQ(inv["Quantity__c"].as_int(), 2);
  EXPECT_EQ(inv["End_Date__c"].as_string(), testing::TestMonth(12));
  EXPECT_EQ(inv["Account__c"].as_string(), account_);
  const Json crm_order = CrmOrder(order);
  EXPECT_EQ(crm_order["Automation_Status__c"].as_string(), "Completed");
  EXPECT_EQ(crm_order["Automation_Progress__c"].as_string(), "4 of 4 tasks done");
  EXPECT_EQ(BillingSub(ItemSubscription(order)).status, "active");

  // Enqueued again (the poller sees it twice): nothing new, nothing doubled.
  auto again = engine_->Enqueue(order);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(engine_->RunOnce()->ran, 0);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
}

// Billing calls per new service, once the account is in billing: create and start, nothing
// else. The catalog price a line is compared with is read once for both orders, and the
// inventory record is written from start's answer (not read again), as billing has it. In the
// CRM: the order's 2 reads, the inventory upsert, and a report per run (this engine runs one
// task a run), the last of which also points the order item at the inventory record.
TEST_P(WorkOrderTest, ASecondNewServiceCostsTwoBillingCalls) {
  NewServer(server_, 2, 25.5);  // the catalog says 30.00: its price is read
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 3, 27, "", "", 24}});
  const int64_t before = stripe_.sandbox.requests();
  const int64_t crm_before = crm_.sandbox.api_calls();
  ASSERT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(stripe_.sandbox.requests() - before, 2) << "create and start only";
  EXPECT_EQ(crm_.sandbox.api_calls() - crm_before, 8) << "2 reads + 1 upsert + 5 reports";
  const Json inv = Inventory(order);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active");
  EXPECT_EQ(inv["Quantity__c"].as_int(), 3);
  EXPECT_EQ(inv["Term_Months__c"].as_int(), 24);
  EXPECT_EQ(inv["End_Date__c"].as_string(), testing::TestMonth(24));
  const auto billed = BillingSub(ItemSubscription(order));
  EXPECT_EQ(billed.status, "active");
  EXPECT_EQ(billed.items.at(0).price.unit_amount_minor, 2700);
  EXPECT_EQ(inv["Billing_Subscription_Id__c"].as_string(), billed.id);
}

// The poll's page, or a person naming orders: a 15-character id finds its order, an order named
// twice is planned once, an id with no order is NotFound; the page costs 2 reads and 1 report.
TEST_P(WorkOrderTest, APageOfOrdersByShortAndLongIdsIsPlannedOnceInThreeCalls) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_EQ(order.size(), 18u);
  const std::string none = order.substr(0, 9) + "ZZZZZZZZZ";
  const int64_t calls_before = crm_.sandbox.api_calls();
  const EnqueueBatch batch =
      engine_->Enqueue(std::vector<std::string>{order.substr(0, 15), none, order});
  ASSERT_EQ(batch.results.size(), 3u);
  ASSERT_TRUE(batch.results[0].ok()) << batch.results[0].status().ToString();
  EXPECT_EQ(batch.results[0]->added, 4);
  EXPECT_TRUE(batch.results[1].status().IsNotFound()) << batch.results[1].status().ToString();
  ASSERT_TRUE(batch.results[2].ok()) << batch.results[2].status().ToString();
  EXPECT_EQ(batch.results[2]->added, 4) << "named twice: the first's result";
  EXPECT_EQ(batch.crm_calls, 3);
  EXPECT_EQ(crm_.sandbox.api_calls() - calls_before, 3);
  EXPECT_EQ(engine_->State(order)->total, 4);
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Pending");
}

// Idle workers are woken when a page's tasks are stored (not 200 ms later), once per page,
// and not by a page that added nothing.
TEST_P(WorkOrderTest, AnEnqueueThatStoredTasksWakesTheWorkersOnce) {
  const std::string a = MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  const std::string b = MakeOrder("New", testing::TestMonth(0), {{&server_, 2, 30, "", "", 12}});
  int woken = 0;
  EngineOptions o;
  o.on_tasks_added = [&] { ++woken; };
  Engine engine(
      TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_},
      templates_, o);
  const EnqueueBatch first = engine.Enqueue(std::vector<std::string>{a, b});
  ASSERT_TRUE(first.results[0].ok() && first.results[1].ok());
  EXPECT_EQ(first.results[0]->added + first.results[1]->added, 8);
  EXPECT_EQ(woken, 1);
  const EnqueueBatch again = engine.Enqueue(std::vector<std::string>{a, b});
  ASSERT_TRUE(again.results[0].ok() && again.results[1].ok());
  EXPECT_EQ(again.results[0]->added + again.results[1]->added, 0);
  EXPECT_EQ(woken, 1) << "a page that added nothing woke the workers";
}

TEST_P(WorkOrderTest, ChangeSetsTheNewQuantity) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Change", testing::TestMonth(2), {{&server_, 5, 30, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).items.front().quantity, 5);
  EXPECT_EQ(Inventory(order)["Quantity__c"].as_int(), 5);
}

TEST_P(WorkOrderTest, RecurringAddOnAndOneTimeFee) {
  const std::string sub = NewServer(server_);
  const std::string order = MakeOrder(
      "New", testing::TestMonth(1), {{&backup_, 3, 5, "", sub, 0}, {&setup_, 1, 150, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  const auto billing = BillingSub(sub);
  ASSERT_EQ(billing.items.size(), 2u);
  EXPECT_EQ(billing.items[1].price_id, backup_.price_billing);
  EXPECT_EQ(billing.items[1].quantity, 3);
  EXPECT_EQ(InvoiceItems(false).size(), 1u);  // the fee (the add-on's prorations aside)
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Add_On__c"), 2);

  // Change the add-on's quantity, then remove it.
  const std::string change =
      MakeOrder("Change", testing::TestMonth(2), {{&backup_, 7, 5, "", sub, 0}});
  EXPECT_EQ(Run(change).status, "Completed") << CrmOrder(change).Dump();
  EXPECT_EQ(BillingSub(sub).items[1].quantity, 7);
  const std::string remove =
      MakeOrder("Cancel", testing::TestMonth(3), {{&backup_, 7, 5, "", sub, 0}});
  EXPECT_EQ(Run(remove).status, "Completed") << CrmOrder(remove).Dump();
  EXPECT_EQ(BillingSub(sub).items.size(), 1u);
}

TEST_P(WorkOrderTest, ReRateMovesTheItemToTheNewPrice) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Re-rate", testing::TestMonth(4), {{&server_xl_, 2, 90, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).items.front().price_id, server_xl_.price_billing);
}

// ADR 0009: a line sold at another unit price than the catalog's is billed at the sold price,
// per unit, on the catalog price's product and schedule, made for that item alone (the catalog
// is left as it was); later changes still find the add-on by its catalog price.
TEST_P(WorkOrderTest, ADiscountedLineIsBilledAtTheSoldPrice) {
  const int64_t catalog_prices = stripe_.sandbox.CountObjects("price");
  const std::string sub = NewServer(server_, 2, 25.5);  // the catalog says 30.00
  auto billing = BillingSub(sub);
  ASSERT_EQ(billing.items.size(), 1u);
  const auto& base = billing.items[0];
  EXPECT_NE(base.price_id, server_.price_billing);
  EXPECT_EQ(base.price.unit_amount_minor, 2550);
  EXPECT_EQ(base.price.currency, "eur");
  EXPECT_EQ(base.price.interval, "month");
  EXPECT_EQ(base.price.product_id, server_.product_billing);
  EXPECT_FALSE(base.price.active) << "a sold price is not offered in the catalog";
  EXPECT_EQ(base.quantity, 2);
  EXPECT_EQ(stripe_.billing().GetPrice(server_.price_billing)->unit_amount_minor, 3000);

  // A discounted add-on (4.00 instead of 5.00), then its quantity changed.
  const std::string add = MakeOrder("New", testing::TestMonth(1), {{&backup_, 3, 4, "", sub, 0}});
  EXPECT_EQ(Run(add).status, "Completed") << CrmOrder(add).Dump();
  billing = BillingSub(sub);
  ASSERT_EQ(billing.items.size(), 2u);
  EXPECT_EQ(billing.items[1].price.unit_amount_minor, 400);
  EXPECT_EQ(billing.items[1].price.product_id, backup_.product_billing);
  const std::string change =
      MakeOrder("Change", testing::TestMonth(2), {{&backup_, 7, 4, "", sub, 0}});
  EXPECT_EQ(Run(change).status, "Completed") << CrmOrder(change).Dump();
  EXPECT_EQ(BillingSub(sub).items[1].quantity, 7);

  // Re-rated to the bigger server at a negotiated 80.00 (the catalog says 90.00).
  const std::string rerate =
      MakeOrder("Re-rate", testing::TestMonth(4), {{&server_xl_, 2, 80, "", sub, 0}});
  EXPECT_EQ(Run(rerate).status, "Completed") << CrmOrder(rerate).Dump();
  billing = BillingSub(sub);
  EXPECT_EQ(billing.items.front().price.unit_amount_minor, 8000);
  EXPECT_EQ(billing.items.front().price.product_id, server_xl_.product_billing);
  // Three sold prices made, for these items only; none in the catalog's list of offers.
  EXPECT_EQ(stripe_.sandbox.CountObjects("price"), catalog_prices + 3);
}

// The price book drifted from billing (28.00 in the book, 30.00 in billing): a line sold at the
// book's price is billed at what was sold, not at billing's catalog amount.
TEST_P(WorkOrderTest, ALineSoldAtADriftedBookPriceIsBilledAtWhatWasSold) {
  Json entry = Json::MakeObject();
  entry.Set("UnitPrice", 28.0);
  ASSERT_TRUE(crm_.client().Update("PricebookEntry", server_.entry_crm, entry).ok());
  const std::string sub = NewServer(server_, 1, 28);
  EXPECT_EQ(BillingSub(sub).items.at(0).price.unit_amount_minor, 2800);
}

// Sold in dollars from a price billing keeps in euros: nothing is billed, and the order says
// why, naming both currencies.
TEST_P(WorkOrderTest, ALineInAnotherCurrencyThanItsBillingPriceFailsNamingBoth) {
  Json entry = Json::MakeObject();
  entry.Set("CurrencyIsoCode", "USD");
  ASSERT_TRUE(crm_.client().Update("PricebookEntry", server_.entry_crm, entry).ok());
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  const OrderState s = Run(order);
  EXPECT_EQ(s.status, "Failed");
  EXPECT_NE(s.error.find("USD"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("EUR"), std::string::npos) << s.error;
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 0);
}

// Term-based prices come from the price book: the same server at 30.00 a month on 12 months
// and 27.00 on 24, one price book per term, each entry naming its billing price.
TEST_P(WorkOrderTest, TheSameProductOnTwoTermsIsBilledAtEachTermsPrice) {
  auto two_year_price = testing::CreateBillingPrice(stripe_.billing(), server_.product_billing,
                                                    "eur", 2700, "month", "price-VS-2-24m");
  ASSERT_TRUE(two_year_price.ok());
  Json book = Json::MakeObject();
  book.Set("Name", "24-month terms");
  const std::string book24 = crm_.client().Create("Pricebook2", book).value();
  Catalog server24 = server_;
  server24.entry_crm = testing::CreatePricebookEntry(crm_.client(), book24, server_.product_crm,
                                                     27.0, two_year_price->id, "EUR")
                           .value();
  const std::string sub12 = NewServer(server_, 1, 30);
  testing::OrderSpec spec{account_, testing::TestMonth(0), "New", {{&server24, 1, 27, "", "", 24}}};
  spec.order_number = "ORD-24";
  spec.pricebook = book24;
  const std::string order24 = testing::CreateOrder(crm_.client(), spec).value();
  EXPECT_EQ(Run(order24).status, "Completed") << CrmOrder(order24).Dump();
  const auto billed12 = BillingSub(sub12), billed24 = BillingSub(ItemSubscription(order24));
  EXPECT_EQ(billed12.items.at(0).price_id, server_.price_billing);
  EXPECT_EQ(billed12.items.at(0).price.unit_amount_minor, 3000);
  EXPECT_EQ(billed24.items.at(0).price_id, two_year_price->id);
  EXPECT_EQ(billed24.items.at(0).price.unit_amount_minor, 2700);
  EXPECT_EQ(billed24.cancel_at, DateToEpoch(testing::TestMonth(24)));
}

TEST_P(WorkOrderTest, ReTermSetsTheNewEndDate) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Re-term", testing::TestMonth(5, 15), {{&server_, 2, 30, "", sub, 24}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).cancel_at, DateToEpoch(testing::TestMonth(29, 15)));
  EXPECT_EQ(Inventory(order)["End_Date__c"].as_string(), testing::TestMonth(29, 15));
}

TEST_P(WorkOrderTest, CancelChargesTheEarlyTerminationFeeOfTheProduct) {
  // SIP Trunk: 75 % of the remaining term. 2 × 20.00 a month, 12 months from 2026-01-01,
  // cancelled on 2026-07-01: 6 months left → 6 × 40.00 × 75 % = 180.00.
  const std::string sub = NewServer(trunk_, 2, 20);
  const std::string order =
      MakeOrder("Cancel", testing::TestMonth(6), {{&trunk_, 2, 20, "", sub, 0}});
  auto plan = PlanOrder(ReadOrder(crm_.client(), order).value(), templates_).value();
  EXPECT_EQ(plan.front().template_name, "Cancel \"SIP Trunk\"");
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).status, "canceled");
  auto tasks = (*store_)->TasksInGroup(order).value();
  int64_t fee = -1;
  for (const auto& t : tasks)
    if (t.kind == "charge_early_termination")
      fee = Json::Parse(t.result)->operator[]("amount_minor").as_int();
  EXPECT_EQ(fee, 18000);
  EXPECT_EQ(InvoiceItems(false).size(), 1u);
  EXPECT_EQ(Inventory(order)["Status__c"].as_string(), "Cancelled");
}

TEST_P(WorkOrderTest, RenewExtendsTheTerm) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Renew", testing::TestMonth(11), {{&server_, 2, 30, "", sub, 12}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).cancel_at, DateToEpoch(testing::TestMonth(24)));
}

TEST_P(WorkOrderTest, ReplaceEndsTheOldSubscriptionAndStartsTheNew) {
  const std::string sub = NewServer(server_);
  const std::string old_billing = BillingSub(sub).id;
  const std::string order =
      MakeOrder("Replace", testing::TestMonth(7), {{&server_xl_, 1, 90, "", sub, 12}});
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(stripe_.billing().GetSubscription(old_billing)->status, "canceled");
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 2);
  const Json inv = Inventory(order);
  EXPECT_NE(inv["Billing_Subscription_Id__c"].as_string(), old_billing);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active");
  const Json old_record =
      crm_.client().Retrieve("Service_Subscription__c", sub, {"Status__c", "End_Date__c"}).value();
  EXPECT_EQ(old_record["Status__c"].as_string(), "Cancelled");
  // Ended when billing ended it: the inventory and billing agree (reconciliation compares them).
  const int64_t ended = stripe_.billing().GetSubscription(old_billing)->canceled_at;
  EXPECT_EQ(old_record["End_Date__c"].as_string(),
            FormatRfc3339(FromEpochMillis(ended * 1000)).substr(0, 10));
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), 2);
}

// Item 2 of issue 14: dates. An order that takes effect next month is set up now and billed
// from its date: nothing is charged before, the first period is invoiced on the day, and the
// Order says Scheduled until then, Completed after (written by the report sweep, from the store).
TEST_P(WorkOrderTest, AnOrderEffectiveNextMonthIsScheduledAndBilledFromItsDate) {
  const std::string effective = Day(35);
  const std::string order = MakeOrder("New", effective, {{&server_, 2, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  // Its tasks can run now (only billing waits for the date): not Scheduled before they ran.
  EXPECT_EQ(engine_->State(order)->status, "Pending");
  EXPECT_EQ(Run(order).status, "Scheduled") << CrmOrder(order).Dump();
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Scheduled");
  const auto billing = BillingSub(ItemSubscription(order));
  EXPECT_EQ(billing.status, "scheduled");
  EXPECT_EQ(billing.start_date, DateToEpoch(effective));
  EXPECT_EQ(billing.cancel_at, DateToEpoch(AddMonths(effective, 12)));
  const Json inv = Inventory(order);
  EXPECT_EQ(inv["Status__c"].as_string(), "Scheduled");
  EXPECT_EQ(inv["Start_Date__c"].as_string(), effective);

  // A bill run before the date charges nothing.
  EXPECT_EQ(stripe_.sandbox.BillRun().invoices, 0);
  EXPECT_EQ(stripe_.sandbox.CountObjects("invoice"), 0);

  // The date comes: billing starts, the first period (2 x 30.00) is invoiced.
  stripe_.clock.Advance(std::chrono::hours(24 * 36));
  EXPECT_EQ(stripe_.sandbox.BillRun().invoices, 1);
  const auto invoices = stripe_.sandbox.Objects("invoice");
  ASSERT_EQ(invoices.size(), 1u);
  EXPECT_EQ(Json::Parse(invoices[0]).value()["amount_due"].as_int(), 6000);
  EXPECT_EQ(BillingSub(ItemSubscription(order)).status, "active");
  ASSERT_TRUE(engine_->RunOnce().ok());  // the sweep writes what the order owes
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Completed");
}

// A change dated later waits for its date: billing keeps charging the old quantity until then.
TEST_P(WorkOrderTest, AChangeDatedLaterTakesEffectOnItsDate) {
  const std::string sub = NewServer(server_, 2, 30, 24);
  const std::string order = MakeOrder("Change", Day(10), {{&server_, 5, 30, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Scheduled") << CrmOrder(order).Dump();
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Scheduled");
  EXPECT_EQ(BillingSub(sub).items.front().quantity, 2);
  EXPECT_EQ(engine_->RunOnce()->ran, 0);  // nothing runs before the date

  stripe_.clock.Advance(std::chrono::hours(24 * 11));
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).items.front().quantity, 5);
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Completed");
}

// A cancellation dated later: billing keeps the date (it bills up to it, not beyond) and the
// service stays active until then.
TEST_P(WorkOrderTest, ACancellationDatedLaterEndsTheSubscriptionOnThatDate) {
  const std::string sub = NewServer(server_, 2, 30, 24);
  Json renewing = Json::MakeObject();
  renewing.Set("Auto_Renew__c", true);
  ASSERT_TRUE(crm_.client().Update("Service_Subscription__c", sub, renewing).ok());
  const std::string effective = Day(20);
  const std::string order = MakeOrder("Cancel", effective, {{&server_, 2, 30, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Scheduled") << CrmOrder(order).Dump();
  const auto billing = BillingSub(sub);
  EXPECT_EQ(billing.status, "active");
  EXPECT_EQ(billing.cancel_at, DateToEpoch(effective));
  const Json inv = Inventory(order);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active");
  EXPECT_EQ(inv["End_Date__c"].as_string(), effective);
  // The renewal scan must not renew what is being cancelled.
  EXPECT_FALSE(crm_.client()
                   .Retrieve("Service_Subscription__c", sub, {"Auto_Renew__c"})
                   .value()["Auto_Renew__c"]
                   .as_bool());

  // A cancellation dated after the term's own end leaves the end where it is.
  const std::string short_term = NewServer(server_);
  const int64_t term_end = BillingSub(short_term).cancel_at;
  const std::string too_late = MakeOrder("Cancel", AddMonths(testing::TestMonth(12), 3),
                                         {{&server_, 2, 30, "", short_term, 0}});
  EXPECT_EQ(Run(too_late).status, "Scheduled") << CrmOrder(too_late).Dump();
  EXPECT_EQ(BillingSub(short_term).cancel_at, term_end);
}

// Proration is the template's: by default a mid-period change credits the unused rest of the
// period and charges the rest at the new quantity; with `proration: none`, nothing until the
// next period.
TEST_P(WorkOrderTest, ProrationFollowsTheTemplate) {
  const std::string sub = NewServer(server_);  // 2 x 30.00 a month, its period just begun
  const std::string more =
      MakeOrder("Change", testing::TestMonth(2), {{&server_, 5, 30, "", sub, 0}});
  EXPECT_EQ(Run(more).status, "Completed") << CrmOrder(more).Dump();
  auto prorations = InvoiceItems(true);
  ASSERT_EQ(prorations.size(), 2u);
  // The unused rest of the period at 2 x 30.00, credited; the rest at 5 x 30.00, charged.
  const auto period = BillingSub(sub);
  const int64_t changed = prorations[0]["period"]["start"].as_int();
  const double share = static_cast<double>(period.current_period_end - changed) /
                       static_cast<double>(period.current_period_end - period.current_period_start);
  EXPECT_EQ(prorations[0]["amount"].as_int(), -std::llround(6000 * share));
  EXPECT_EQ(prorations[1]["amount"].as_int(), std::llround(15000 * share));
  EXPECT_GT(share, 0.9);  // the period had just begun

  for (auto& t : templates_.templates)
    if (t.name == "Change quantity") t.proration = "none";
  const std::string again =
      MakeOrder("Change", testing::TestMonth(2, 2), {{&server_, 7, 30, "", sub, 0}});
  EXPECT_EQ(Run(again).status, "Completed") << CrmOrder(again).Dump();
  EXPECT_EQ(BillingSub(sub).items.front().quantity, 7);
  EXPECT_EQ(InvoiceItems(true).size(), 2u);  // none added
}

// An add-on is an item of the subscription it is sold with (not a subscription of its own), so
// it ends when the subscription ends and is renewed with it.
TEST_P(WorkOrderTest, AnAddOnIsAnItemOfItsSubscriptionSoItCoTerminates) {
  const std::string sub = NewServer(server_);
  const std::string add = MakeOrder("New", testing::TestMonth(1), {{&backup_, 1, 5, "", sub, 0}});
  EXPECT_EQ(Run(add).status, "Completed") << CrmOrder(add).Dump();
  const std::string renew =
      MakeOrder("Renew", testing::TestMonth(11), {{&server_, 2, 30, "", sub, 12}});
  EXPECT_EQ(Run(renew).status, "Completed") << CrmOrder(renew).Dump();
  const auto billing = BillingSub(sub);
  ASSERT_EQ(billing.items.size(), 2u);
  EXPECT_EQ(billing.items[1].price_id, backup_.price_billing);
  EXPECT_EQ(billing.cancel_at, DateToEpoch(testing::TestMonth(24)));
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
}

// Issue 14 item 6: the mapping's `order` map decides what the Order puts on the subscription.
TEST_P(WorkOrderTest, TheOrderMapPutsTheOrdersFieldsOnItsSubscription) {
  const std::string first =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  EXPECT_EQ(Run(first).status, "Completed") << CrmOrder(first).Dump();
  const auto sub = BillingSub(ItemSubscription(first));
  EXPECT_EQ(sub.metadata.at("crm_order"), first);
  EXPECT_EQ(sub.metadata.at("order_number"), "ORD-1");

  // Without OrderNumber in the map, the number is not put there.
  for (auto& o : mapping_.objects)
    if (o.name == "order")
      o.fields.erase(
          std::remove_if(o.fields.begin(), o.fields.end(),
                         [](const mapping::FieldMap& f) { return f.crm == "OrderNumber"; }),
          o.fields.end());
  const std::string second =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  EXPECT_EQ(Run(second).status, "Completed") << CrmOrder(second).Dump();
  const auto other = BillingSub(ItemSubscription(second));
  EXPECT_EQ(other.metadata.at("crm_order"), second);
  EXPECT_EQ(other.metadata.count("order_number"), 0u);
}

TEST_P(WorkOrderTest, AWholesaleOrderMixesOperationsAcrossItems) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Change", testing::TestMonth(8),
                {{&server_, 4, 30, "", sub, 0}, {&trunk_, 1, 20, "New", "", 12}});
  auto plan = PlanOrder(ReadOrder(crm_.client(), order).value(), templates_).value();
  EXPECT_EQ(plan.size(), 2u + 4u);  // change + record; sync + create + start + record
  EXPECT_EQ(Run(order).status, "Completed") << CrmOrder(order).Dump();
  EXPECT_EQ(BillingSub(sub).items.front().quantity, 4);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 2);
}

TEST_P(WorkOrderTest, AnUnknownTaskKindFailsForGoodNamingTheKind) {
  TaskLibrary library(
      TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_});
  store::Task task;
  task.key = "order:1:no_such_kind";
  task.kind = "no_such_kind";
  task.payload = "{}";
  auto result = library.Run(task, {});
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsInvalidArgument()) << result.status().ToString();
  EXPECT_NE(result.status().message().find("unknown task kind 'no_such_kind'"), std::string::npos)
      << result.status().ToString();
}

TEST_P(WorkOrderTest, APermanentFailureFailsTheOrderWithTheReasonInTheCrm) {
  Catalog broken = server_;
  broken.price_billing = "price_does_not_exist";
  broken.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook_, server_.product_crm,
                                                   30.0, "price_does_not_exist")
                         .value();
  const std::string order = MakeOrder("New", testing::TestMonth(0), {{&broken, 1, 30, "", "", 12}});
  const OrderState s = Run(order);
  EXPECT_EQ(s.status, "Failed");
  const Json crm_order = CrmOrder(order);
  EXPECT_EQ(crm_order["Automation_Status__c"].as_string(), "Failed");
  EXPECT_NE(crm_order["Automation_Error__c"].as_string().find("create_subscription"),
            std::string::npos)
      << crm_order.Dump();
  EXPECT_NE(crm_order["Automation_Error__c"].as_string().find("price_does_not_exist"),
            std::string::npos)
      << crm_order.Dump();
  // Failed on the first attempt: retrying cannot make the price exist.
  const auto tasks = (*store_)->TasksInGroup(order).value();
  for (const auto& t : tasks)
    if (t.kind == "create_subscription") {
      EXPECT_EQ(t.attempts, 1);
    }

  // An order whose item has no template fails at once, naming the item.
  const std::string unknown = MakeOrder("", testing::TestMonth(0), {{&server_, 1, 30, "", "", 0}});
  EXPECT_TRUE(engine_->Enqueue(unknown).status().IsInvalidArgument());
  EXPECT_NE(CrmOrder(unknown)["Automation_Error__c"].as_string().find("no Operation_Type__c"),
            std::string::npos);
}

TEST_P(WorkOrderTest, ATransientFailureIsRetriedAndSucceeds) {
  // More 503s than the client's own attempts: the task fails transiently, then is retried.
  stripe_.sandbox.AddFault(sandbox::Fault{"POST", "/v1/subscriptions", 503, "", 5, 0});
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  const OrderState s = Run(order);
  EXPECT_EQ(s.status, "Completed") << s.error;
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
  int attempts = 0;
  const auto tasks = (*store_)->TasksInGroup(order).value();
  for (const auto& t : tasks)
    if (t.kind == "create_subscription") attempts = t.attempts;
  EXPECT_GT(attempts, 1);
}

// A remote slower than the lease: the worker renews its lease while billing takes its time,
// so the other worker never claims the task, and the subscription is created by one
// execution (one claim of the task, whose lease token is its first). Without renewal the
// second worker takes the task after 600 ms and runs it again.
TEST_P(WorkOrderTest, ATaskSlowerThanItsLeaseRunsOnceBecauseTheLeaseIsRenewed) {
  // Billing takes 1.8 s (under the client's 2 s timeout); the lease is 600 ms, renewed every
  // 200 ms, so a renewal may be 400 ms late on a loaded machine before the lease runs out.
  stripe_.sandbox.AddFault(sandbox::Fault{"POST", "/v1/subscriptions", 0, "", 1, 1800});
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  EngineOptions o;
  o.lease = Millis(600);
  o.backoff_base = Millis(1);
  o.backoff_max = Millis(5);
  o.claim_batch = 1;
  const TaskDeps deps{crm_.client(), stripe_.billing(), **store_,
                      mapping_,      stripe_.clock,     *actions_};
  std::atomic<int> lost{0}, ran{0};
  auto worker = [&](const std::string& id) {
    EngineOptions mine = o;
    mine.worker_id = id;
    Engine engine(deps, templates_, mine);
    for (int i = 0; i < 2000; ++i) {
      auto r = engine.RunOnce();
      if (r.ok()) {
        lost += r->lost;
        ran += r->ran;
      }
      const auto st = engine.State(order);
      if (st.ok() && (st->status == "Completed" || st->status == "Failed")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  std::thread w1(worker, "w1"), w2(worker, "w2");
  w1.join();
  w2.join();
  EXPECT_EQ(engine_->State(order)->status, "Completed");
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(ran.load(), 4);  // four tasks, each run once
  const auto tasks = (*store_)->TasksInGroup(order).value();
  for (const auto& t : tasks) {
    EXPECT_EQ(t.attempts, 1) << t.kind;
    EXPECT_EQ(t.lease_token, 1) << t.kind << ": claimed more than once";
  }
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
}

// The CRM refuses every status write while the order runs (or the process dies between a
// task's result and the write): the order is done in the store but the CRM still says
// otherwise. The store holds what is owed; a worker's sweep writes it once a lease has passed.
TEST_P(WorkOrderTest, AStatusTheCrmDidNotTakeIsWrittenByTheNextSweep) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Pending");
  EngineOptions o;
  o.lease = Millis(300);
  o.backoff_base = Millis(1);
  o.backoff_max = Millis(5);
  Engine engine(
      TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_},
      templates_, o);
  // The account sync first (its link write is a Collections update too), then the CRM refuses
  // every Collections update: the order's status writes.
  for (int i = 0; i < 50 && engine.State(order)->done == 0; ++i) ASSERT_TRUE(engine.RunOnce().ok());
  ASSERT_EQ(engine.State(order)->done, 1);
  const std::string before = CrmOrder(order)["Automation_Status__c"].as_string();
  EXPECT_EQ(before, "In Progress");
  crm_.sandbox.AddFault(sandbox::Fault{"PATCH", "/composite/sobjects", 503, "", 100000, 0});
  for (int i = 0; i < 200 && engine.State(order)->status != "Completed"; ++i)
    ASSERT_TRUE(engine.RunOnce().ok());
  ASSERT_EQ(engine.State(order)->status, "Completed");
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), before);
  EXPECT_EQ((*store_)->ReportsDue(INT64_MAX, 10)->size(), 1u) << "one row, however many refusals";
  crm_.sandbox.ClearFaults();
  ASSERT_TRUE(engine.RunOnce().ok());  // within the lease: the writer may still be at it
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), before);
  // A lease later (or, if a sweep already met the refusing CRM, after its deferral of 4 leases).
  const Json crm = SweepUntilCompleted(engine, order);
  EXPECT_EQ(crm["Automation_Status__c"].as_string(), "Completed") << crm.Dump();
  EXPECT_EQ(crm["Automation_Progress__c"].as_string(), "4 of 4 tasks done");
  EXPECT_TRUE((*store_)->ReportsDue(INT64_MAX, 10)->empty());
}

// A writer read the order's state, and another wrote a newer one and cleared what the store
// owed; the first's write landed last, and its process died before it could read the state
// again. The row the dead writer made before sending is all that is left of it: a lease
// later the sweep writes the order's state over the stale one.
TEST_P(WorkOrderTest, AStaleStatusADeadWriterLeftInTheCrmIsOverwrittenByTheSweep) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  auto engine = EngineThatCompleted(order, Millis(300));
  ASSERT_FALSE(HasFailure());

  const int64_t now = ToEpochMillis(stripe_.clock.Now());
  ASSERT_TRUE((*store_)->BeginReportWrites({order}, "a-dead-process", now).ok());
  Json stale = Json::MakeObject();
  stale.Set("Automation_Status__c", "In Progress");
  stale.Set("Automation_Progress__c", "1 of 4 tasks done");
  ASSERT_TRUE(crm_.client().Update("Order", order, stale).ok());
  ASSERT_TRUE(engine->RunOnce().ok());  // within the lease: the writer may still be at it
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "In Progress");
  const Json crm = SweepUntilCompleted(*engine, order);
  EXPECT_EQ(crm["Automation_Status__c"].as_string(), "Completed") << crm.Dump();
  EXPECT_EQ(crm["Automation_Progress__c"].as_string(), "4 of 4 tasks done");
  // The dead writer's row went, and its order is owed once more: its request may still be at
  // the CRM and land after the sweep's. A lease later the sweep writes it again.
  const auto owed = (*store_)->ReportsDue(INT64_MAX, 10).value();
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_FALSE(owed[0].writing);
  EXPECT_EQ(owed[0].group_id, order);
  stale.Set("Automation_Status__c", "In Progress");  // that request, landing now
  ASSERT_TRUE(crm_.client().Update("Order", order, stale).ok());
  EXPECT_EQ(SweepUntilCompleted(*engine, order)["Automation_Status__c"].as_string(), "Completed");
  for (int i = 0; i < 40 && !(*store_)->ReportsDue(INT64_MAX, 10)->empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(engine->RunOnce().ok());
  }
  EXPECT_TRUE((*store_)->ReportsDue(INT64_MAX, 10)->empty()) << "owed for good";
}

// A status write slower than the lease (the CRM at its latency, a retry) is not the sweep's
// while its writer lives: its rows are kept fresh, so no other worker takes them over and
// deletes them while the write may still land over a newer one.
TEST_P(WorkOrderTest, AStatusWriteSlowerThanTheLeaseIsNotTakenOverWhileItsWriterLives) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  auto engine = EngineThatCompleted(order, Millis(600));
  ASSERT_FALSE(HasFailure());

  crm_.sandbox.AddFault(sandbox::Fault{"PATCH", "/composite/sobjects", 0, "", 1, 2500});
  std::thread writer([&] { EXPECT_TRUE(engine->ReportNow({order})[order].ok()); });
  bool in_flight = false;
  for (int i = 0; i < 40; ++i) {  // ~2 s: three leases and more
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t now = ToEpochMillis(stripe_.clock.Now());
    const auto all = (*store_)->ReportsDue(INT64_MAX, 10);
    for (const auto& d : *all) in_flight = in_flight || d.writing;
    EXPECT_TRUE((*store_)->ReportsDue(now - 600, 10)->empty())
        << "a write in flight was due to the sweep " << (i + 1) * 50 << " ms in";
  }
  writer.join();
  EXPECT_TRUE(in_flight) << "the write was never in flight";
  EXPECT_TRUE((*store_)->ReportsDue(INT64_MAX, 10)->empty()) << "the write's rows outlived it";
}

// A create whose answers were all lost is retried by the engine; by then billing has forgotten
// the idempotency key (Stripe keeps keys 24 hours; the retry comes after a long outage). The
// retry looks for the subscription the first attempt made before it creates: one, not two.
TEST_P(WorkOrderTest, ARetryAfterTheKeyExpiredFindsTheSubscriptionInsteadOfCreatingIt) {
  stripe_.sandbox.AddFault(sandbox::Fault{"POST", "/v1/subscriptions", 0, "LOSE_RESPONSE", 20, 0});
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(engine_->Enqueue(order).ok());
  auto create_attempts = [&] {
    const auto tasks = (*store_)->TasksInGroup(order).value();
    for (const auto& t : tasks)
      if (t.kind == "create_subscription") return t.attempts;
    return 0;
  };
  for (int i = 0; i < 200 && create_attempts() < 1; ++i) ASSERT_TRUE(engine_->RunOnce().ok());
  ASSERT_EQ(create_attempts(), 1);
  ASSERT_EQ(stripe_.sandbox.CountObjects("subscription"), 1) << "the first attempt created it";
  stripe_.sandbox.ClearFaults();
  stripe_.sandbox.AgeIdempotencyKeys(Millis(25LL * 3600 * 1000));
  const OrderState s = Run(order);
  EXPECT_EQ(s.status, "Completed") << s.error;
  EXPECT_EQ(create_attempts(), 2);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1) << "the retry created it again";
  EXPECT_EQ(BillingSub(ItemSubscription(order)).status, "active");
}

// The fault matrix over work orders: a subscription's life (new, add-on change, re-rate,
// cancellation with the early-termination fee) under each fault, then a reconciliation of
// accounts and the service inventory against billing finds nothing, and nothing doubled.
TEST_P(WorkOrderTest, EveryFaultOfTheMatrixEndsInStepWithBilling) {
  // Billing's callbacks bring the invoices and the billing currency to the CRM, as in `serve`.
  testing::WebhookEnv webhooks(stripe_);
  const actions::ActionDeps deps{crm_.client(), webhooks.verifier, **store_, mapping_,
                                 stripe_.clock};
  actions::Callbacks callbacks(deps);
  int64_t subscriptions = 0, charges = 0;
  for (const auto& fault : testing::FaultMatrix()) {
    // Unreachable here: work orders write to the CRM one record at a time, never through
    // Collections, so a Collections record lock cannot meet them (sync and the catalog have it).
    if (fault.name == "partial Collections failures") continue;
    SCOPED_TRACE(fault.name);
    const testing::FaultProbe probe(crm_, stripe_);
    for (const auto& f : fault.crm) crm_.sandbox.AddFault(f);
    for (const auto& f : fault.billing) stripe_.sandbox.AddFault(f);
    const std::string sub = NewServer(trunk_, 2, 20);
    const std::string change =
        MakeOrder("Change", testing::TestMonth(2), {{&trunk_, 3, 20, "", sub, 0}});
    EXPECT_EQ(Run(change).status, "Completed") << CrmOrder(change).Dump();
    const std::string rerate =
        MakeOrder("Re-rate", testing::TestMonth(3), {{&trunk_, 3, 25, "", sub, 0}});
    EXPECT_EQ(Run(rerate).status, "Completed") << CrmOrder(rerate).Dump();
    const std::string cancel =
        MakeOrder("Cancel", testing::TestMonth(6), {{&trunk_, 3, 25, "", sub, 0}});
    EXPECT_EQ(Run(cancel).status, "Completed") << CrmOrder(cancel).Dump();
    crm_.sandbox.ClearFaults();
    stripe_.sandbox.ClearFaults();
    const testing::FaultTally t = probe.Delta();
    std::cout << "[fault-matrix] work orders | " << fault.name << " | " << GetParam().name << " | "
              << t.Describe() << std::endl;
    EXPECT_TRUE(t.EachSideFired(!fault.crm.empty(), !fault.billing.empty()))
        << "a side's faults never reached the work orders: " << t.Describe();
    EXPECT_GE(t.retries(), t.transport_hits()) << t.Describe();
    ++subscriptions;
    ++charges;  // the early-termination fee
    EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), subscriptions);
    EXPECT_EQ(InvoiceItems(false).size(), static_cast<size_t>(charges));
    // A credit and a charge for each of the two mid-period changes, each made once.
    EXPECT_EQ(InvoiceItems(true).size(), static_cast<size_t>(4 * subscriptions));
    EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 1);

    webhooks.Deliver(callbacks);
    ASSERT_TRUE(callbacks.ApplyPending(1000).ok());

    auto report = reconcile::Report::Open("", 5);
    ASSERT_TRUE(report.ok());
    reconcile::Reconciler reconciler(deps, *actions_, **report);
    reconcile::ReconcileOptions options;
    options.objects = {"account", "subscription", "invoice"};
    ASSERT_TRUE(reconciler.Run(options).ok());
    EXPECT_EQ((*report)->differences(), 0) << (*report)->Summary(false);
  }
}

TEST_P(WorkOrderTest, ThePollerTakesEveryActivatedOrderOnceEvenWhenTimestampsTie) {
  // The sandbox's clock is frozen: every order shares one SystemModstamp, the worst case for
  // paging by time. Pages of 2 must still take all 5, once each, and skip the draft.
  std::vector<std::string> orders;
  for (int i = 0; i < 5; ++i)
    orders.push_back(MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}}));
  Json draft = Json::MakeObject();
  draft.Set("AccountId", account_);
  draft.Set("EffectiveDate", testing::TestMonth(0));
  draft.Set("Status", "Draft");
  ASSERT_TRUE(crm_.client().Create("Order", draft).ok());
  OrderPoller poller(crm_.client(), **store_, *engine_, {}, /*page_size=*/2);
  auto first = poller.PollOnce();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->enqueued, 5);
  // Taken orders are Pending in the CRM now; a second poll (or a restart) takes none again.
  auto second = poller.PollOnce();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->enqueued, 0);
  for (int i = 0; i < 100; ++i)
    if (engine_->RunOnce()->ran == 0) break;
  for (const auto& o : orders) EXPECT_EQ(engine_->State(o)->status, "Completed");
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 5);
  EXPECT_TRUE((*store_)->GetCursor(OrderPoller::kCursor).value().has_value());
}

// The order map's `eligible:` decides which activated Orders automation takes: a condition on
// the Order, a creation date and record types; the others are left to people, not failed.
TEST_P(WorkOrderTest, ThePollerTakesOnlyTheOrdersTheOrderMapMakesEligible) {
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  OrderPoller changes_only(crm_.client(), **store_, *engine_,
                           {"Operation_Type__c == 'Change'", "", {}});
  const PollResult refused = changes_only.PollOnce().value();
  EXPECT_EQ(refused.enqueued, 0);
  EXPECT_EQ(refused.ineligible, 1);
  ASSERT_TRUE((*store_)->SetCursor(OrderPoller::kCursor, "", 0).ok());  // from the start again
  OrderPoller future_only(crm_.client(), **store_, *engine_, {"", "2999-01-01", {}});
  EXPECT_EQ(future_only.PollOnce().value().enqueued, 0);
  ASSERT_TRUE((*store_)->SetCursor(OrderPoller::kCursor, "", 0).ok());
  // Record types by developer name: an Order of another type is not even read.
  auto record_type = [&](const std::string& name) {
    Json rt = Json::MakeObject();
    rt.Set("Name", name);
    rt.Set("DeveloperName", name);
    rt.Set("SobjectType", "Order");
    return crm_.client().Create("RecordType", rt).value();
  };
  record_type("Business");
  Json typed = Json::MakeObject();
  typed.Set("RecordTypeId", record_type("Wholesale"));
  ASSERT_TRUE(crm_.client().Update("Order", order, typed).ok());
  OrderPoller business_only(crm_.client(), **store_, *engine_, {"", "", {"Business"}});
  const PollResult other_type = business_only.PollOnce().value();
  EXPECT_EQ(other_type.seen, 0);
  EXPECT_EQ(other_type.enqueued, 0);
  ASSERT_TRUE((*store_)->SetCursor(OrderPoller::kCursor, "", 0).ok());
  OrderPoller eligible(crm_.client(), **store_, *engine_,
                       {"Operation_Type__c == 'New'", "2000-01-01", {"Business", "Wholesale"}});
  const PollResult taken = eligible.PollOnce().value();
  EXPECT_EQ(taken.enqueued, 1);
  EXPECT_EQ(taken.ineligible, 0);
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].ToText(), "Pending");
}

// A long transaction stamps its order before the poll reads, and commits after: the order
// appears with a SystemModstamp behind the cursor. The poll's lookback window still takes it
// (without the window it is never seen again), and the window re-reads nothing already taken.
TEST_P(WorkOrderTest, AnOrderCommittedBehindTheCursorIsTakenByTheLookbackWindow) {
  const std::string first =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  OrderPoller poller(crm_.client(), **store_, *engine_);
  ASSERT_EQ(poller.PollOnce()->enqueued, 1);
  const std::string stamp =
      crm_.client().Retrieve("Order", first, {"SystemModstamp"}).value()["SystemModstamp"].ToText();
  const auto at = ParseRfc3339(stamp);
  ASSERT_TRUE(at.ok()) << stamp;
  const std::string late = MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_TRUE(crm_.sandbox.SetSystemModstamp("Order", late, ToEpochMillis(*at) - 120'000).ok());
  auto again = poller.PollOnce();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->enqueued, 1) << "the late order was missed";
  EXPECT_EQ(again->seen, 1) << "the window re-read an order already taken";
  EXPECT_EQ(poller.PollOnce()->seen, 0);
}

TEST_P(WorkOrderTest, TheRenewalScanRenewsAutoRenewingSubscriptionsOnce) {
  // Ends 2026-12-01, within 30 days of today (2026-11-24 on the test's clock) or not:
  // the scan's window is measured from the store clock's today.
  const std::string sub = NewServer(server_);
  const std::string due =
      FormatRfc3339(FromEpochMillis(ToEpochMillis(stripe_.clock.Now()) + 10LL * 86'400'000))
          .substr(0, 10);
  Json flags = Json::MakeObject();
  flags.Set("Auto_Renew__c", true);
  flags.Set("End_Date__c", due);
  ASSERT_TRUE(crm_.client().Update("Service_Subscription__c", sub, flags).ok());
  const std::string other = NewServer(server_xl_);  // not auto-renewing: left alone
  RenewalScan scan(crm_.client(), **store_, stripe_.clock);
  auto added = scan.RunOnce(30);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 1);
  EXPECT_EQ(*scan.RunOnce(30), 0);  // the same renewal is not enqueued twice
  for (int i = 0; i < 20; ++i)
    if (engine_->RunOnce()->ran == 0) break;
  EXPECT_EQ(BillingSub(sub).cancel_at, DateToEpoch(AddMonths(due, 12)));
  EXPECT_EQ(crm_.client()
                .Retrieve("Service_Subscription__c", sub, {"End_Date__c"})
                .value()["End_Date__c"]
                .as_string(),
            AddMonths(due, 12));
  EXPECT_EQ(BillingSub(other).cancel_at, DateToEpoch(testing::TestMonth(12)));
  EXPECT_EQ(*scan.RunOnce(30), 0);  // renewed: no longer due
}

TEST(PollInterval, SpendsABoundedShareOfTheDailyAllowance) {
  // 100,000 calls a day, 5 % for polling, 1 call a poll: 5,000 polls → one every 17.28 s.
  EXPECT_EQ(PollInterval(100000, 0.05, 1, Millis(1000)).count(), 17280);
  EXPECT_EQ(PollInterval(100000000, 0.05, 1, Millis(60000)).count(), 60000);  // the floor
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkOrderTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

// --- recovery by an operator (workorders/recovery.h) ---

class WorkOrderRecoveryTest : public WorkOrderTest {
 protected:
  Recovery& recovery() {
    if (!recovery_)
      recovery_ = std::make_unique<Recovery>(
          TaskDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, *actions_},
          templates_, *engine_);
    return *recovery_;
  }
  // Runs what is runnable until the order ends (RunOrder without the enqueue).
  OrderState RunOn(const std::string& order) {
    for (int i = 0; i < 200; ++i) {
      auto ran = engine_->RunOnce();
      EXPECT_TRUE(ran.ok());
      auto s = engine_->State(order).value();
      if (s.status != "Pending" && s.status != "In Progress") return s;
      if (ran.ok() && ran->ran == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return engine_->State(order).value();
  }
  int64_t TaskOf(const std::string& order, const std::string& kind) {
    const auto tasks1 = (*store_)->TasksInGroup(order).value();
    for (const auto& t : tasks1)
      if (t.kind == kind && t.state != "superseded") return t.id;
    return 0;
  }
  // An order whose record_subscription fails for good: the CRM refuses the inventory record
  // (a validation rule, say) until the test clears the fault. Its subscription is in billing.
  std::string OrderFailingAtTheInventoryRecord() {
    crm_.sandbox.AddFault(sandbox::Fault{"PATCH", "Service_Subscription__c", 400,
                                         "FIELD_CUSTOM_VALIDATION_EXCEPTION", 1000, 0});
    const std::string order =
        MakeOrder("New", testing::TestMonth(0), {{&server_, 2, 30, "", "", 12}});
    EXPECT_EQ(Run(order).status, "Failed");
    crm_.sandbox.ClearFaults();
    EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
    return order;
  }
  std::vector<store::AuditEntry> AuditOf(const std::string& order) {
    return (*store_)->AuditFor("workorder", order).value();
  }
  std::unique_ptr<Recovery> recovery_;
};

TEST_P(WorkOrderRecoveryTest, AFailedOrderIsListedAndARetryCompletesItWithoutADouble) {
  const std::string order = OrderFailingAtTheInventoryRecord();
  const std::string ok_order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_EQ(Run(ok_order).status, "Completed");

  store::GroupFilter failed;
  failed.state = "failed";
  auto listed = recovery().List(failed).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].group_id, order);
  EXPECT_EQ(listed[0].failed, 1);
  EXPECT_NE(listed[0].first_error.find("record_subscription"), std::string::npos)
      << listed[0].first_error;
  store::GroupFilter by_account;
  by_account.account_id = account_;
  EXPECT_EQ(recovery().List(by_account).value().size(), 2u);
  by_account.account_id = account_.substr(0, 15);  // the 15-character form finds the same
  EXPECT_EQ(recovery().List(by_account).value().size(), 2u);
  std::string other_case = account_;  // Salesforce ids are case-sensitive
  for (auto& c : other_case) c = std::isupper(static_cast<unsigned char>(c)) ? std::tolower(c) : c;
  by_account.account_id = other_case;
  EXPECT_TRUE(recovery().List(by_account).value().empty());
  by_account.account_id = "001000000000000AAA";
  EXPECT_TRUE(recovery().List(by_account).value().empty());
  by_account.account_id = "%";  // not an id: refused, never a pattern
  EXPECT_TRUE(recovery().List(by_account).status().IsInvalidArgument());

  // Bad requests change nothing: no reason, nobody, an unknown order, a finished one.
  EXPECT_TRUE(recovery().Dismiss({order, 0, "ops", "", ""}).status().IsInvalidArgument());
  EXPECT_TRUE(recovery().Retry({order, 0, "", "", ""}).status().IsInvalidArgument());
  EXPECT_TRUE(recovery().Retry({"801000000000000AAA", 0, "ops", "", ""}).status().IsNotFound());
  EXPECT_TRUE(recovery().Retry({ok_order, 0, "ops", "", ""}).status().IsConflict());
  EXPECT_TRUE(recovery().Restart({ok_order, 0, "ops", "", ""}).status().IsConflict());
  EXPECT_EQ(engine_->State(order).value().status, "Failed");

  auto retried = recovery().Retry({order, 0, "ops@example.com", "validation rule fixed", ""});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(*retried, 1);
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "In Progress");
  EXPECT_EQ(RunOn(order).status, "Completed");
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Completed");
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 2);  // this order's once, the other's
  EXPECT_FALSE(Inventory(order)["Billing_Subscription_Id__c"].as_string().empty());
  EXPECT_TRUE(recovery().List(failed).value().empty());

  const auto audit = AuditOf(order);
  ASSERT_GE(audit.size(), 3u);
  EXPECT_EQ(audit.back().action, "retry");
  EXPECT_EQ(audit.back().actor, "operator:ops@example.com");
  EXPECT_EQ(audit.back().outcome, "ok");
  EXPECT_NE(audit.back().detail.find("validation rule fixed"), std::string::npos);
  EXPECT_EQ(audit.front().outcome, "refused");  // the dismiss without a reason
}

TEST_P(WorkOrderRecoveryTest, ARestartAfterTheOrderWasCorrectedInTheCrmBillsTheCorrectPriceOnce) {
  // The price book entry points at a price billing does not have: create fails for good.
  Catalog broken = server_;
  broken.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook_, server_.product_crm,
                                                   30.0, "price_does_not_exist", "EUR")
                         .value();
  broken.price_billing = "price_does_not_exist";
  const std::string order = MakeOrder("New", testing::TestMonth(0), {{&broken, 3, 30, "", "", 12}});
  ASSERT_EQ(Run(order).status, "Failed");
  const std::string failed_create_key = [&] {
    const auto tasks2 = (*store_)->TasksInGroup(order).value();
    for (const auto& t : tasks2)
      if (t.kind == "create_subscription") return t.key;
    return std::string();
  }();
  // A retry cannot help: the Order is what is wrong. The admin corrects the entry in the CRM.
  Json fix = Json::MakeObject();
  const std::string price = testing::CreateBillingPrice(stripe_.billing(), server_.product_billing,
                                                        "eur", 3000, "month", "price-corrected")
                                .value()
                                .id;
  fix.Set("Billing_Price_Id__c", price);
  const Status fixed = crm_.client().Update("PricebookEntry", broken.entry_crm, fix);
  ASSERT_TRUE(fixed.ok()) << fixed.ToString();

  auto restarted = recovery().Restart({order, 0, "ops", "price book entry corrected", ""});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  EXPECT_EQ(restarted->finished, 1);   // the account sync: done, never redone
  EXPECT_EQ(restarted->replanned, 3);  // create, start, record: a new price, new keys
  EXPECT_EQ(restarted->superseded, 3);
  EXPECT_EQ(RunOn(order).status, "Completed");
  ASSERT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
  const auto sub = BillingSub(ItemSubscription(order));
  ASSERT_EQ(sub.items.size(), 1u);
  EXPECT_EQ(sub.items[0].price_id, price);
  EXPECT_EQ(sub.items[0].quantity, 3);
  // The key the failed create was sent with never carries the corrected request.
  const auto tasks3 = (*store_)->TasksInGroup(order).value();
  for (const auto& t : tasks3) {
    if (t.key == failed_create_key) {
      EXPECT_EQ(t.state, "superseded");
    }
    if (t.kind == "create_subscription" && t.state == "done") {
      EXPECT_EQ(t.key, ReplannedKey(failed_create_key, ContentOf(t.payload)));
    }
  }
  EXPECT_EQ(engine_->State(order).value().total, 4);  // superseded tasks are history
  EXPECT_TRUE(recovery().Restart({order, 0, "ops", "", ""}).status().IsConflict());
}

// A create that never got an answer (billing made the subscription; the answers were lost) and
// failed for good; the operator retries a day later, when billing has forgotten the key: the
// retry looks in billing first, as any later attempt does, and finds it. A restart of the same
// order, changed, is refused: it would send the create under a new key.
TEST_P(WorkOrderRecoveryTest, ARetryADayAfterLostAnswersFindsTheSubscriptionInsteadOfADouble) {
  stripe_.sandbox.AddFault(
      sandbox::Fault{"", "/v1/subscriptions", 0, "LOSE_RESPONSE", 100000, 0});  // look-ups too
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_EQ(Run(order).status, "Failed");
  ASSERT_EQ(stripe_.sandbox.CountObjects("subscription"), 1) << "the first attempt created it";
  stripe_.sandbox.ClearFaults();
  stripe_.sandbox.AgeIdempotencyKeys(Millis(25LL * 3600 * 1000));

  // The product's name changes in the CRM: every task of the order now plans differently.
  Json renamed = Json::MakeObject();
  renamed.Set("Name", "Virtual Server (renamed)");
  const Status updated = crm_.client().Update("Product2", server_.product_crm, renamed);
  ASSERT_TRUE(updated.ok()) << updated.ToString();
  auto restart = recovery().Restart({order, 0, "ops", "", ""});
  ASSERT_TRUE(restart.status().IsConflict()) << restart.status().ToString();
  EXPECT_NE(restart.status().message().find("billing may hold its result"), std::string::npos);

  ASSERT_TRUE(recovery().Retry({order, 0, "ops", "", ""}).ok());
  EXPECT_EQ(RunOn(order).status, "Completed");
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1) << "the retry created it again";
}

TEST_P(WorkOrderRecoveryTest, ARestartOfAnUnchangedOrderKeepsItsKeysAndRedoesNoFinishedTask) {
  const std::string order = OrderFailingAtTheInventoryRecord();
  const auto before = (*store_)->TasksInGroup(order).value();
  auto restarted = recovery().Restart({order, 0, "ops", "", ""});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  EXPECT_EQ(restarted->finished, 3);  // sync, create, start
  EXPECT_EQ(restarted->kept, 1);      // record: the same content under the same key
  EXPECT_EQ(restarted->replanned, 0);
  EXPECT_EQ(RunOn(order).status, "Completed");
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 1);
  const auto after = (*store_)->TasksInGroup(order).value();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].key, before[i].key);
}

TEST_P(WorkOrderRecoveryTest, ADismissedOrderSaysSoInTheCrmAndAManualCompletionLetsTheRestRun) {
  const std::string dismissed = OrderFailingAtTheInventoryRecord();
  auto d = recovery().Dismiss({dismissed, 0, "ops", "customer withdrew the order", ""});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, 1);
  const Json crm = CrmOrder(dismissed);
  EXPECT_EQ(crm["Automation_Status__c"].as_string(), "Dismissed");
  EXPECT_NE(crm["Automation_Error__c"].as_string().find("customer withdrew the order"),
            std::string::npos)
      << crm.Dump();
  EXPECT_TRUE(recovery().Retry({dismissed, 0, "ops", "", ""}).status().IsConflict());

  // A person made the inventory record by hand: the task is done with their result.
  crm_.sandbox.AddFault(sandbox::Fault{"PATCH", "Service_Subscription__c", 400,
                                       "FIELD_CUSTOM_VALIDATION_EXCEPTION", 1000, 0});
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 1, 30, "", "", 12}});
  ASSERT_EQ(Run(order).status, "Failed");
  const int64_t record = TaskOf(order, "record_subscription");
  ASSERT_NE(record, 0);
  EXPECT_TRUE(recovery()
                  .Complete({order, record, "ops", "", "[1]"})
                  .status()
                  .IsInvalidArgument());  // not an object
  EXPECT_TRUE(recovery().Complete({order, 0, "ops", "", ""}).status().IsInvalidArgument());
  EXPECT_TRUE(recovery()
                  .Dismiss({order, record, "ops", "one task", ""})
                  .status()
                  .IsInvalidArgument());  // a whole order or nothing
  auto c = recovery().Complete({order, record, "ops", "made by hand", "{\"crm_id\":\"a00x\"}"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(engine_->State(order).value().status, "Completed");
  EXPECT_EQ(CrmOrder(order)["Automation_Status__c"].as_string(), "Completed");
  const auto tasks4 = (*store_)->TasksInGroup(order).value();
  for (const auto& t : tasks4)
    if (t.id == record) {
      const Json r = Json::Parse(t.result).value();
      EXPECT_EQ(r["crm_id"].as_string(), "a00x");
      EXPECT_TRUE(r["manual"].as_bool());
      EXPECT_EQ(r["completed_by"].as_string(), "ops");
    }
  EXPECT_EQ(AuditOf(order).back().action, "complete");
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkOrderRecoveryTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::workorders

namespace tandem::workorders {
namespace {

// One engine over the CRM sandbox, a SQLite store and a Stripe sandbox that refuses more than
// `limit` requests a second and answers each POST in `latency_ms`, with a catalog and an
// account: what the rate-limit, refill and report tests share.
struct EngineRig {
  EngineRig(const std::string& name, int limit, int latency_ms, double client_rate,
            const EngineOptions& options)
      : stripe(limit, "/v1/", latency_ms, client_rate, 5),
        store(StoreBackend{"sqlite"}, name),
        mapping(testing::DefaultMapping()),
        templates(DefaultTemplates()),
        actions(actions::ActionDeps{crm.client(), stripe.billing(), Opened(store), mapping,
                                    stripe.clock},
                "test:" + name),
        engine(TaskDeps{crm.client(), stripe.billing(), *store, mapping, stripe.clock, actions},
               templates, options) {
    Json account = Json::MakeObject();
    account.Set("Name", name + " Co");
    catalog.Make(crm.client(), stripe.billing(), crm.client().Create("Account", account).value());
  }

  // `n` new 12-month services from this month, enqueued: their Order ids.
  std::vector<std::string> NewOrders(int n) {
    std::vector<std::string> orders;
    for (int i = 0; i < n; ++i)
      orders.push_back(
          catalog.Order("New", testing::TestMonth(0), {{&catalog.server, 1, 30.0, "", "", 12}}));
    for (const auto& r : engine.Enqueue(orders).results)
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    return orders;
  }

  std::string CrmStatus(const std::string& order) {
    auto got = crm.client().Retrieve("Order", order, {"Automation_Status__c"});
    return got.ok() ? (*got)["Automation_Status__c"].ToText() : got.status().ToString();
  }

  static store::Store& Opened(testing::ScopedStore& store) {
    const Status opened = store.Open();
    if (!opened.ok()) throw std::runtime_error(opened.ToString());
    return *store;
  }

  testing::SalesforceEnv crm;
  testing::RateLimitedStripe stripe;
  testing::ScopedStore store;
  const mapping::Mapping mapping;
  const Templates templates;  // the engine holds it by reference
  actions::Actions actions;
  Engine engine;
  testing::WorkOrderCatalog catalog;
};

// Work-order tasks under concurrency keep billing's rate limit: against a Stripe sandbox that
// refuses more than 40 requests a second and answers each write in 150 ms, 60 new services run
// by one engine with 40 tasks in flight at a client rate of 30 a second complete, each billed
// once, without one 429, and in less time than one at a time would take. The same orders with
// the client's rate above billing's are refused (the sandbox does count) and still complete once.
TEST(WorkOrderRateLimit, TasksInFlightTogetherNeverExceedBillingsRateLimit) {
  // `give_up`: the two halves' together stay within ctest's 120 s, so a failure prints its
  // orders.
  auto run = [](int limit, double client_rate, int give_up, int64_t* refused, double* seconds) {
    EngineOptions eo;
    eo.claim_batch = 40;
    eo.refill_for = Millis(3000);
    eo.backoff_base = Millis(1);
    eo.backoff_max = Millis(5);
    EngineRig rig("wo_rate_" + std::to_string(static_cast<int>(client_rate)), limit, 150,
                  client_rate, eo);
    const std::vector<std::string> orders = rig.NewOrders(60);
    auto& billing = rig.stripe.sandbox;
    const int64_t refused_before = billing.rate_limited();
    const auto started = std::chrono::steady_clock::now();
    int completed = 0;
    while (completed < 60 &&
           std::chrono::steady_clock::now() - started < std::chrono::seconds(give_up)) {
      auto ran = rig.engine.RunOnce();
      EXPECT_TRUE(ran.ok()) << ran.status().ToString();
      completed = 0;
      for (const auto& id : orders) completed += rig.engine.State(id).value().status == "Completed";
    }
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    *refused = billing.rate_limited() - refused_before;
    std::cout << "billing limit " << limit << "/s, client " << client_rate << "/s: " << *seconds
              << " s, " << *refused << " refused\n";
    for (const auto& id : orders) {
      const OrderState state = rig.engine.State(id).value();
      EXPECT_EQ(state.status, "Completed")
          << id << ": " << state.done << " of " << state.total << " tasks done " << state.error;
    }
    EXPECT_EQ(billing.CountObjects("customer"), 1);
    EXPECT_EQ(billing.CountObjects("subscription"), 60) << "each service billed once";
    return completed;
  };
  int64_t refused = -1;
  double seconds = 0;
  EXPECT_EQ(run(40, 30, 30, &refused, &seconds), 60);
  EXPECT_EQ(refused, 0) << "40 tasks in flight, never above billing's 40 a second";
  // About 121 writes: one at a time at 150 ms is over 18 s; at 30 a second 4 s (7 s measured).
  EXPECT_LT(seconds, 15) << "the tasks' billing calls did not run concurrently";

  int64_t over_refused = -1;
  // A limit well under what the tasks reach even under the sanitizers: that the sandbox does
  // count must not depend on how fast the engine is. Refusals cut the client's rate to no
  // less than a twentieth (connector/http/flow_control.cpp): from 400 a second that was still
  // twice the limit, refused for ever (59 of 60 in 90 s). From 4 times the limit the cuts reach
  // it in about 5 s, and a task refused in every attempt until then is unlikely. About 180
  // calls at 10 a second: 22 s here, 29 s under the sanitizers.
  EXPECT_EQ(run(10, 40, 75, &over_refused, &seconds), 60) << "refused calls are sent again";
  EXPECT_GT(over_refused, 0) << "with the client's rate above billing's the sandbox refuses some";
}

// Workers that go busy together must not end their refill windows together (their reports
// would leave billing idle at once): the first batch after an idle spell takes tasks for its
// share of the window only, later ones until their phase of the cycle (at least half of it).
TEST(WorkOrderRefill, TheFirstBatchAfterIdleTakesTasksForItsShareOfTheWindow) {
  EngineOptions eo;
  eo.claim_batch = 1;
  eo.refill_for = Millis(60'000);
  eo.first_refill_share = 0;  // the first window ends as it begins
  EngineRig rig("wo_refill", 1000, 0, 1000, eo);
  const std::vector<std::string> orders = rig.NewOrders(2);
  int tasks = 0;
  for (const auto& id : orders) tasks += rig.engine.State(id).value().total;
  ASSERT_GT(tasks, 2);

  auto first = rig.engine.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->ran, 1) << "the first batch after idle took tasks past its share";
  auto second = rig.engine.RunOnce();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->ran, tasks - 1) << "a later batch takes tasks for the whole window";
  for (const auto& id : orders) EXPECT_EQ(rig.engine.State(id).value().status, "Completed");
}

// After the first batch, a worker's refilling batches stop taking tasks on its own phase of the
// refill cycle (its first batch's share), not a fixed time after their claim: windows of one
// length drifted into step, and workers ending together left billing short.
TEST(WorkOrderRefill, ARefillingBatchStopsOnItsWorkersPhaseOfTheCycle) {
  using Steady = std::chrono::steady_clock;
  const Millis period(3000), phase(750);
  EngineOptions eo;
  eo.claim_batch = 1;
  eo.refill_for = period;
  eo.first_refill_share = 0.25;
  EngineRig rig("wo_phase", 1000, 50, 1000, eo);
  const std::vector<std::string> orders = rig.NewOrders(32);  // 128 tasks: more than 3 s
  // Where `t` falls in the cycle, from the phase: [0, period).
  auto in_cycle = [&](Steady::time_point t) {
    const auto ms = std::chrono::duration_cast<Millis>(t.time_since_epoch()) - phase;
    return Millis(((ms.count() % period.count()) + period.count()) % period.count());
  };
  auto first = rig.engine.RunOnce();  // the first: its share of a cycle
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // Claimed a quarter of a cycle past the phase: the window ends at least half a cycle on, on
  // the next phase point 0.75 of a cycle on; a fixed window would end a quarter past it. (The
  // claim may come up to a quarter late before the window jumps a cycle.)
  const Millis at = period / 4;
  const Millis now_in = in_cycle(Steady::now());
  std::this_thread::sleep_for(now_in <= at ? at - now_in : period - now_in + at);
  const auto claimed = Steady::now();
  auto second = rig.engine.RunOnce();
  const auto ended = Steady::now();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  int left = 0;
  for (const auto& id : orders) {
    auto state = rig.engine.State(id).value();
    left += state.total - state.done;
  }
  const auto took = std::chrono::duration_cast<Millis>(ended - claimed);
  std::cout << "the first batch ran " << first->ran << " tasks; the second, claimed "
            << in_cycle(claimed).count() << " ms into the cycle, ended " << in_cycle(ended).count()
            << " ms into it after " << took.count() << " ms and " << second->ran << " tasks\n";
  ASSERT_GT(left, 0) << "the batch ran out of tasks before its window ended";
  // The last task started before the phase point ends after it (a task takes about 60 ms).
  EXPECT_LT(in_cycle(ended), period / 6) << "the batch did not stop on its phase";
  EXPECT_LT(took, period * 11 / 12) << "a whole cycle: a fixed window";
}

// Where a refilling batch's window ends, on a clock of its own: on the phase point at least
// half a period after the claim, whatever the phase's whole part.
TEST(RefillEnd, EndsOnThePhasePointAtLeastHalfAPeriodOn) {
  const Millis period(6000);
  auto at = [](int64_t ms) { return SteadyTime(std::chrono::milliseconds(ms)); };
  auto end = [&](int64_t claimed_ms, double phase) {
    return std::chrono::duration_cast<Millis>(
               RefillEnd(at(claimed_ms), period, phase).time_since_epoch())
        .count();
  };
  EXPECT_EQ(end(60'000, 0.25), 67'500) << "61.5 s is under half a period on";
  EXPECT_EQ(end(58'000, 0.25), 61'500) << "3.5 s on";
  EXPECT_EQ(end(58'500, 0.25), 61'500) << "exactly half a period on";
  EXPECT_EQ(end(58'501, 0.25), 67'500);
  EXPECT_EQ(end(58'000, 1.25), 61'500) << "the phase's whole part counts for nothing";
  EXPECT_EQ(end(58'000, 0), end(58'000, 1));
  EXPECT_EQ(end(-10'000, 0.5), -3'000) << "before the clock's epoch too";
  EXPECT_TRUE(RefillEnd(at(1'000), Millis(0), 0.5) == at(1'000)) << "no cycle: at the claim";
}

// A refilling batch reports an order as soon as its last task ends, not when the batch does:
// holding every report to the batch's end left billing idle while the workers wrote them. One
// thread runs two orders' tasks one after another (billing at 200 ms a call), and the CRM says
// Completed for the first while the batch is still running the second.
TEST(WorkOrderRefill, AnOrderIsReportedWhenItsLastTaskEndsNotWhenTheBatchDoes) {
  EngineOptions eo;
  eo.claim_batch = 1;
  eo.refill_for = Millis(60'000);  // the batch runs until no task is left
  EngineRig rig("wo_settled", 1000, 200, 1000, eo);
  const std::vector<std::string> orders = rig.NewOrders(2);

  std::atomic<bool> running{true};
  std::thread batch([&] {
    auto ran = rig.engine.RunOnce();
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    EXPECT_EQ(ran.ok() ? ran->done : 0, 8) << "one batch ran both orders";
    running = false;
  });
  // Seen Completed in the CRM while the other order still had tasks to run: the batch had not
  // ended (one thread runs them all), whatever the timing.
  bool reported_before_the_other_ended = false;
  while (running && !reported_before_the_other_ended) {
    for (int k = 0; k < 2; ++k)
      if (rig.CrmStatus(orders[k]) == "Completed" &&
          rig.engine.State(orders[1 - k]).value().status != "Completed")
        reported_before_the_other_ended = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  batch.join();
  EXPECT_TRUE(reported_before_the_other_ended) << "no order was reported before the batch ended";
  for (const auto& id : orders) EXPECT_EQ(rig.CrmStatus(id), "Completed") << id;
}

// A batch claimed when one task was runnable takes in, at once, the tasks that became runnable
// while it ran: its thread, when its task ends, claims one more for each thread the batch is
// short of its limit and runs them on threads of their own. One order's first billing write is
// out (500 ms a call) when six more orders are enqueued; kept to its one thread, the batch ran
// their 12 billing writes and the first order's last one after another: over 6 s.
TEST(WorkOrderRefill, ABatchTakesInTasksThatBecameRunnableWhileItRan) {
  EngineOptions eo;
  eo.claim_batch = 8;
  eo.refill_for = Millis(60'000);  // the batch runs until no task is left
  EngineRig rig("wo_grow", 1000, 500, 1000, eo);
  rig.NewOrders(1);
  std::vector<std::string> later;
  for (int i = 0; i < 6; ++i)
    later.push_back(rig.catalog.Order("New", testing::TestMonth(0),
                                      {{&rig.catalog.server, 1, 30.0, "", "", 12}}));
  const int64_t received = rig.stripe.sandbox.requests_received();
  RunStats stats;
  double seconds = 0;
  std::thread batch([&] {
    const auto started = std::chrono::steady_clock::now();
    auto ran = rig.engine.RunOnce();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    if (ran.ok()) stats = *ran;
  });
  for (int i = 0; i < 2500 && rig.stripe.sandbox.requests_received() == received; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // The batch's one thread is at billing: the other orders become runnable now.
  for (const auto& r : rig.engine.Enqueue(later).results)
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  batch.join();
  std::cout << "7 orders in one batch: " << seconds << " s\n";
  EXPECT_EQ(stats.done, 7 * 4) << "one batch ran all seven orders";
  EXPECT_LT(seconds, 5.0) << "the tasks that became runnable ran one after another";
}

// Orders that settle close together share a status write: a batch writes at most once a
// second (one Collections call for all the orders settled since the last), not once per order.
// 16 orders run one after another (billing at 50 ms a call) settle about every 0.2 s.
TEST(WorkOrderRefill, OrdersSettlingWithinASecondShareOneStatusWrite) {
  EngineOptions eo;
  eo.claim_batch = 1;
  eo.refill_for = Millis(60'000);
  EngineRig rig("wo_spacing", 1000, 50, 1000, eo);
  const std::vector<std::string> orders = rig.NewOrders(16);
  const std::string writes = "PATCH /composite/sobjects";  // Orders' updates, not upserts
  const int64_t before = rig.crm.sandbox.calls_by_endpoint()[writes];
  const auto started = std::chrono::steady_clock::now();
  auto ran = rig.engine.RunOnce();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(ran->done, 16 * 4) << "one batch ran every order";
  const int64_t written = rig.crm.sandbox.calls_by_endpoint()[writes] - before;
  std::cout << "16 orders settled in " << seconds << " s: " << written << " status writes\n";
  for (const auto& id : orders) EXPECT_EQ(rig.CrmStatus(id), "Completed") << id;
  // The first order's at once (no write before it), then at most one a second, and the last
  // when the batch ends; besides, the first account sync writes the customer's id back.
  EXPECT_LE(written, static_cast<int64_t>(seconds) + 3) << "more than one write a second";
  EXPECT_LT(written, 16) << "a write per order";
}

// The tasks of one product ask for its catalog price at once (a batch's first create tasks, or
// every task running when the cached price went stale): one read goes to billing and the rest
// take its answer. Each read used to go out: 16 here.
TEST(WorkOrderPrices, TasksOfOneProductRunningTogetherReadItsPriceOnce) {
  EngineOptions eo;
  eo.claim_batch = 64;
  EngineRig rig("wo_price_once", 1000, 0, 1000, eo);
  rig.stripe.sandbox.AddFault({"GET", "/v1/prices/", 0, "", -1, 300});  // the reads overlap
  const std::vector<std::string> orders = rig.NewOrders(16);
  auto price_reads = [&] {
    int64_t n = 0;
    for (const auto& [endpoint, counts] : rig.stripe.counter.Snapshot())
      if (endpoint.rfind("stripe|GET /v1/prices", 0) == 0) n += counts.calls;
    return n;
  };
  const int64_t before = price_reads();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rig.engine.RunOnce().ok());
  for (const auto& id : orders) EXPECT_EQ(rig.engine.State(id).value().status, "Completed") << id;
  EXPECT_EQ(price_reads() - before, 1) << "price reads of 16 orders of one product";
}

// A refilling batch leaves an order it moved on but did not settle (the rest of its tasks wait
// for their date) to the next write of the worker: its next claim that finds nothing, the
// next batch's first write, or the run that finds the engine stopping. None waits for the
// sweep (a lease later).
TEST(WorkOrderRefill, AnOrderLeftWaitingForItsDateIsWrittenByTheNextIdleClaimOrTheStop) {
  EngineOptions eo;
  eo.claim_batch = 8;
  eo.refill_for = Millis(60'000);
  EngineRig rig("wo_carried", 1000, 0, 1000, eo);
  const std::string first = rig.NewOrders(1).front();
  ASSERT_TRUE(rig.engine.RunOnce().ok());
  ASSERT_EQ(rig.engine.State(first).value().status, "Completed");
  const std::string sub = testing::ItemSubscription(rig.crm.client(), first);
  const std::string in_ten_days =
      FormatRfc3339(FromEpochMillis(ToEpochMillis(rig.stripe.clock.Now()) + 10 * 86'400'000LL))
          .substr(0, 10);
  // A new trunk (its 4 tasks run now) and more of the server (waits for the date).
  auto mixed = [&] {
    const std::string order = rig.catalog.Order(
        "Change", in_ten_days,
        {{&rig.catalog.server, 4, 30, "", sub, 0}, {&rig.catalog.trunk, 1, 20, "New", "", 12}});
    EXPECT_TRUE(rig.engine.Enqueue(order).ok());
    EXPECT_EQ(rig.CrmStatus(order), "Pending");
    auto ran = rig.engine.RunOnce();
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    EXPECT_EQ(ran.ok() ? ran->done : 0, 4);
    EXPECT_EQ(rig.engine.State(order).value().status, "Scheduled");
    EXPECT_EQ(rig.CrmStatus(order), "Pending") << "written when the batch ended: not carried";
    return order;
  };

  const std::string idle = mixed();
  auto found = rig.engine.RunOnce();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->ran, 0);
  EXPECT_EQ(rig.CrmStatus(idle), "Scheduled") << "the claim that found nothing did not write it";

  // And by the next batch that finds work: its reporter writes the carried orders first.
  const std::string busy = mixed();
  rig.NewOrders(1);
  ASSERT_TRUE(rig.engine.RunOnce().ok());
  EXPECT_EQ(rig.CrmStatus(busy), "Scheduled") << "the next batch did not write it";

  const std::string stopped = mixed();
  rig.engine.StopClaiming();
  ASSERT_TRUE(rig.engine.RunOnce().ok());
  EXPECT_EQ(rig.CrmStatus(stopped), "Scheduled") << "the stop did not write it";
}

}  // namespace
}  // namespace tandem::workorders
