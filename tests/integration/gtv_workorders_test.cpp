// Steps 4–5 on Gotransverse, one test per operation: activated Orders in the Salesforce
// sandbox become tasks in a real store (SQLite and PostgreSQL) run against the GTV emulator
// through the GTV adapter. Each test reads GTV's own objects (orders, services, adjustments):
// what the customer is billed, not only what the adapter reports. Where GTV cannot do what an
// order asks (a re-rate onto another product), the order fails saying so, and nothing is
// billed.
#include <gtest/gtest.h>

#include "connector/billing/gtv/gtv_wire.h"
#include "sandbox/faults/faults.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/gtv_steps.h"
#include "tests/support/test_dates.h"
#include "tests/support/work_order_catalog.h"
#include "util/clock.h"
#include "workorders/plan.h"

namespace tandem::workorders {
namespace {

using Catalog = testing::CatalogProduct;
using Item = testing::OrderLine;
using connector::billing::gtv::ToMinor;

class GtvWorkOrders : public testing::GtvStepsTest {
 protected:
  void SetUp() override {
    GtvStepsTest::SetUp();
    if (!StoreReady()) return;
    catalog_.Make(crm_.client(), gtv_.billing(), CrmAccount("Work Order Co"));
  }

  std::string MakeOrder(const std::string& operation, const std::string& effective,
                        const std::vector<Item>& items) {
    return catalog_.Order(operation, effective, items);
  }

  std::string Error(const std::string& order) {
    return crm_.client()
        .Retrieve("Order", order, {"Automation_Error__c"})
        .value()["Automation_Error__c"]
        .as_string();
  }

  // A started subscription of `quantity` × `product` from TestMonth(0); its CRM record.
  // `term` months: a test that moves past today by weeks takes 24, as a 12-month term from
  // TestMonth(0) ends on the 1st of next month, as soon as tomorrow.
  std::string NewServer(const Catalog& product, int quantity = 2, double unit_price = 30,
                        int term = 12) {
    const std::string order =
        MakeOrder("New", testing::TestMonth(0), {{&product, quantity, unit_price, "", "", term}});
    EXPECT_EQ(Run(order).status, "Completed") << Error(order);
    return ItemSubscription(order);
  }

  std::string BillingId(const std::string& crm_sub) {
    return crm_.client()
        .Retrieve("Service_Subscription__c", crm_sub, {"Billing_Subscription_Id__c"})
        .value()["Billing_Subscription_Id__c"]
        .as_string();
  }

  // GTV's services of the order that made the subscription: the base first, then add-ons.
  std::vector<Json> Services(const std::string& crm_sub) {
    const std::string order = BillingId(crm_sub);
    std::string base;
    std::vector<Json> out;
    for (const auto& s : Objects("service"))
      if (s["order"]["id"].as_string() == order) {
        base = s["id"].as_string();
        out.insert(out.begin(), s);
      }
    for (const auto& s : Objects("service"))
      if (!base.empty() && s["parent_service"]["id"].as_string() == base) out.push_back(s);
    return out;
  }

  Json Base(const std::string& crm_sub) {
    auto all = Services(crm_sub);
    return all.empty() ? Json() : all.front();
  }

  // Adjustments (GTV's one-time charges) not credits, in minor units.
  std::vector<int64_t> Charges() {
    std::vector<int64_t> out;
    for (const auto& a : Objects("adjustment"))
      if (!a["credit"].as_bool()) out.push_back(ToMinor(a["amount"], "EUR"));
    return out;
  }

  std::string Day(int days) {
    return FormatRfc3339(
               FromEpochMillis(ToEpochMillis(gtv_.clock().Now()) + int64_t{days} * 86'400'000))
        .substr(0, 10);
  }

  testing::WorkOrderCatalog catalog_;
  const Catalog &server_ = catalog_.server, &server_xl_ = catalog_.server_xl,
                &backup_ = catalog_.backup, &setup_ = catalog_.setup, &trunk_ = catalog_.trunk;
};

TEST_P(GtvWorkOrders, ChangeSetsTheNewQuantityOnTheService) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Change", testing::TestMonth(2), {{&server_, 5, 30, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(Base(sub)["quantity"].as_int(), 5);
  EXPECT_EQ(ToMinor(Base(sub)["amount"], "EUR"), 3000) << "the unit price stays";
  EXPECT_EQ(Inventory(order)["Quantity__c"].as_int(), 5);
}

// A recurring add-on is a child service of the base (it co-terminates); a one-time fee is an
// adjustment on the account; the add-on's quantity changes, then it is removed.
TEST_P(GtvWorkOrders, RecurringAddOnAndOneTimeFee) {
  const std::string sub = NewServer(server_);
  const std::string order = MakeOrder(
      "New", testing::TestMonth(1), {{&backup_, 3, 4, "", sub, 0}, {&setup_, 1, 120, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  auto services = Services(sub);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[1]["product"]["id"].as_string(), backup_.product_billing);
  EXPECT_EQ(services[1]["quantity"].as_int(), 3);
  EXPECT_EQ(ToMinor(services[1]["amount"], "EUR"), 400) << "the add-on's sold price, not 5.00";
  EXPECT_EQ(Charges(), std::vector<int64_t>{12000}) << "the fee at its sold 120.00, once";
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Add_On__c"), 2);

  const std::string change =
      MakeOrder("Change", testing::TestMonth(2), {{&backup_, 7, 4, "", sub, 0}});
  EXPECT_EQ(Run(change).status, "Completed") << Error(change);
  EXPECT_EQ(Services(sub).at(1)["quantity"].as_int(), 7);
  const std::string remove =
      MakeOrder("Cancel", testing::TestMonth(3), {{&backup_, 7, 4, "", sub, 0}});
  EXPECT_EQ(Run(remove).status, "Completed") << Error(remove);
  services = Services(sub);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[1]["status"].as_string(), "SERVICE_DEACTIVATED");
  EXPECT_EQ(services[0]["status"].as_string(), "SERVICE_ACTIVE") << "the base goes on";
  EXPECT_EQ(gtv_.billing().GetSubscription(BillingId(sub))->items.size(), 1u);
  EXPECT_EQ(Charges().size(), 1u) << "nothing charged twice";
}

// A re-rate on the same product is GTV's change-price; onto another product GTV has no such
// command (that is a replace): the order fails naming why, and the service is left as it was.
TEST_P(GtvWorkOrders, ReRateChangesThePriceAndOntoAnotherProductFailsSayingSo) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Re-rate", testing::TestMonth(4), {{&server_, 2, 27, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(ToMinor(Base(sub)["amount"], "EUR"), 2700);

  const std::string other =
      MakeOrder("Re-rate", testing::TestMonth(5), {{&server_xl_, 2, 90, "", sub, 0}});
  const OrderState s = Run(other);
  EXPECT_EQ(s.status, "Failed");
  EXPECT_NE(s.error.find("is a replace"), std::string::npos) << s.error;
  EXPECT_NE(Error(other).find("is a replace"), std::string::npos) << "the CRM is told why";
  EXPECT_EQ(Base(sub)["product"]["id"].as_string(), server_.product_billing);
  EXPECT_EQ(ToMinor(Base(sub)["amount"], "EUR"), 2700);
}

// A start that confirmed the order but failed before scheduling the term's end (here that call
// fails once) is retried: the retry finds the service started and must still
// give it its end, in GTV and on the inventory record. The retry used to take the started
// service as it was: a 12-month service without an end.
TEST_P(GtvWorkOrders, AStartRetriedAfterItsConfirmStillSchedulesTheTermsEnd) {
  // Once: the client does not repeat a POST without an idempotency key, so the first attempt
  // fails right after its confirm.
  const sandbox::Fault refused{"POST", "/deactivate", 503, "SERVER_UNAVAILABLE", 1};
  gtv_.AddFault(refused);
  const std::string order =
      MakeOrder("New", testing::TestMonth(0), {{&server_, 2, 30, "", "", 12}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(gtv_.FaultHits(sandbox::FaultKind(refused)), 1) << "the fault never fired";
  int start_attempts = 0;
  const auto tasks = (*store_)->TasksInGroup(order);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  for (const auto& t : *tasks)
    if (t.kind == "start_subscription") start_attempts = t.attempts;
  EXPECT_EQ(start_attempts, 2) << "the start was not retried";
  const std::string sub = ItemSubscription(order);
  EXPECT_EQ(Base(sub)["end_date"].as_string(), testing::TestMonth(12));
  EXPECT_EQ(Inventory(order)["End_Date__c"].as_string(), testing::TestMonth(12));
}

TEST_P(GtvWorkOrders, ReTermSetsTheServicesEndDate) {
  const std::string sub = NewServer(server_);
  EXPECT_EQ(Base(sub)["end_date"].as_string(), testing::TestMonth(12));
  const std::string order =
      MakeOrder("Re-term", testing::TestMonth(5, 15), {{&server_, 2, 30, "", sub, 24}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(Base(sub)["end_date"].as_string(), testing::TestMonth(29, 15));
  EXPECT_EQ(gtv_.billing().GetSubscription(BillingId(sub))->cancel_at,
            DateToEpoch(testing::TestMonth(29, 15)));
  EXPECT_EQ(Inventory(order)["End_Date__c"].as_string(), testing::TestMonth(29, 15));
}

TEST_P(GtvWorkOrders, CancelDeactivatesTheServiceAndChargesTheEarlyTerminationFee) {
  // SIP Trunk: 75 % of the remaining term. 2 × 20.00 a month, 12 months from 2026-01-01,
  // cancelled on 2026-07-01: 6 months left → 6 × 40.00 × 75 % = 180.00.
  const std::string sub = NewServer(trunk_, 2, 20);
  const std::string order =
      MakeOrder("Cancel", testing::TestMonth(6), {{&trunk_, 2, 20, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(Base(sub)["status"].as_string(), "SERVICE_DEACTIVATED");
  EXPECT_EQ(gtv_.billing().GetSubscription(BillingId(sub))->status, "canceled");
  EXPECT_EQ(Charges(), std::vector<int64_t>{18000});
  EXPECT_EQ(Inventory(order)["Status__c"].as_string(), "Cancelled");
}

TEST_P(GtvWorkOrders, RenewExtendsTheServiceByTheNewTerm) {
  const std::string sub = NewServer(server_);
  const std::string order =
      MakeOrder("Renew", testing::TestMonth(11), {{&server_, 2, 30, "", sub, 12}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(Base(sub)["end_date"].as_string(), testing::TestMonth(24));
  EXPECT_EQ(Base(sub)["renewal_count"].as_int(), 1);
  EXPECT_EQ(ToMinor(Base(sub)["amount"], "EUR"), 3000) << "pricing preserved";
}

// GTV's change-service: the old service becomes REPLACED, a new order makes the new one.
TEST_P(GtvWorkOrders, ReplaceEndsTheOldServiceAndStartsTheNew) {
  const std::string sub = NewServer(server_);
  const std::string old_billing = BillingId(sub);
  const std::string order =
      MakeOrder("Replace", testing::TestMonth(7), {{&server_xl_, 1, 85, "", sub, 12}});
  EXPECT_EQ(Run(order).status, "Completed") << Error(order);
  EXPECT_EQ(Base(sub)["status"].as_string(), "SERVICE_REPLACED");
  const Json inv = Inventory(order);
  const std::string new_billing = inv["Billing_Subscription_Id__c"].as_string();
  EXPECT_NE(new_billing, old_billing);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active");
  auto now = gtv_.billing().GetSubscription(new_billing);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  ASSERT_EQ(now->items.size(), 1u);
  EXPECT_EQ(now->items[0].price.product_id, server_xl_.product_billing);
  EXPECT_EQ(now->items[0].price.unit_amount_minor, 8500) << "the sold price, not 90.00";
  EXPECT_EQ(crm_.client()
                .Retrieve("Service_Subscription__c", sub, {"Status__c"})
                .value()["Status__c"]
                .as_string(),
            "Cancelled");
  EXPECT_EQ(gtv_.Count("subscription"), 2);
}

// An order effective next month: the GTV order is confirmed with the date on its lines, the
// service is scheduled, a bill run before the date charges nothing; on the date the first
// period is invoiced at the sold price and the CRM order turns Completed.
TEST_P(GtvWorkOrders, AnOrderEffectiveNextMonthIsBilledFromItsDateNotBefore) {
  const std::string effective = Day(35);
  const std::string order = MakeOrder("New", effective, {{&server_, 2, 30, "", "", 12}});
  EXPECT_EQ(Run(order).status, "Scheduled") << Error(order);
  const std::string sub = ItemSubscription(order);
  const Json base = Base(sub);
  EXPECT_EQ(base["status"].as_string(), "SERVICE_SCHEDULED");
  EXPECT_EQ(base["start_date"].as_string(), effective);
  EXPECT_EQ(base["end_date"].as_string(), AddMonths(effective, 12));
  EXPECT_EQ(Inventory(order)["Status__c"].as_string(), "Scheduled");

  EXPECT_EQ(gtv_.BillRun("", {}), 0) << "nothing billed before the date";
  EXPECT_TRUE(Objects("invoice").empty());

  gtv_.Advance(std::chrono::hours(24 * 36));
  EXPECT_EQ(gtv_.BillRun("", {}), 1);
  const auto invoices = Objects("invoice");
  ASSERT_EQ(invoices.size(), 1u);
  EXPECT_EQ(ToMinor(invoices[0]["amount"], "EUR"), 6000) << invoices[0].Dump();
  EXPECT_EQ(Base(sub)["status"].as_string(), "SERVICE_ACTIVE");
  ASSERT_TRUE(engine_->RunOnce().ok());  // the sweep writes what the order owes
  EXPECT_EQ(crm_.client()
                .Retrieve("Order", order, {"Automation_Status__c"})
                .value()["Automation_Status__c"]
                .as_string(),
            "Completed");
}

// A cancellation dated later: the service keeps billing up to that day (a scheduled
// deactivate), and stays active until then.
TEST_P(GtvWorkOrders, ACancellationDatedLaterEndsTheServiceOnThatDate) {
  const std::string sub = NewServer(server_, 2, 30, 24);
  const std::string effective = Day(20);
  const std::string order = MakeOrder("Cancel", effective, {{&server_, 2, 30, "", sub, 0}});
  EXPECT_EQ(Run(order).status, "Scheduled") << Error(order);
  EXPECT_EQ(Base(sub)["status"].as_string(), "SERVICE_ACTIVE");
  EXPECT_EQ(Base(sub)["end_date"].as_string(), effective);
  EXPECT_EQ(Inventory(order)["End_Date__c"].as_string(), effective);
}

INSTANTIATE_TEST_SUITE_P(Backends, GtvWorkOrders,
                         ::testing::Values(testing::StoreBackend{"sqlite"},
                                           testing::StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::workorders
