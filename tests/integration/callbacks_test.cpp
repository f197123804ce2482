// Billing callbacks end to end: the Stripe sandbox's signed deliveries go into the inbox
// (forged and replayed ones refused, duplicates acknowledged once) and the worker writes
// invoices, billing status and balance into the Salesforce sandbox, newest state winning.
#include "actions/callbacks.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "connector/billing/stripe/stripe_wire.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "tests/support/webhook_env.h"

namespace tandem::actions {
namespace {

using testing::ScopedStore;
using testing::StoreBackend;

class CallbacksTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    deps_ = std::make_unique<ActionDeps>(
        ActionDeps{crm_.client(), webhooks_.verifier, **store_, mapping_, stripe_.clock});
    actions_ = std::make_unique<Actions>(*deps_, "test");
    callbacks_ = std::make_unique<Callbacks>(*deps_);
  }

  // Two synced accounts with a subscription each: "good" pays, "bad" fails.
  void SetUpCustomers() {
    std::vector<Json> records;
    for (const char* n : {"Good Co", "Bad Co"}) {
      Json a = Json::MakeObject();
      a.Set("Name", n);
      records.push_back(a);
    }
    auto created = crm_.client().CreateMany("Account", records);
    ASSERT_TRUE(created.ok());
    for (const auto& r : *created) ids_.push_back(r.id);
    auto report = actions_->Sync("account", ids_);
    ASSERT_TRUE(report.ok());
    for (const auto& o : report->outcomes) customers_.push_back(o.remote_id);
    const auto product =
        testing::CreateBillingProduct(stripe_.billing(), "Virtual Server", "p").value();
    const auto monthly =
        testing::CreateBillingPrice(stripe_.billing(), product.id, "usd", 4000, "month", "pr")
            .value();
    for (const auto& c : customers_) {
      connector::billing::SubscriptionSpec spec;
      spec.account_id = c;
      spec.items.push_back(connector::billing::SubscriptionItem{"", monthly.id, 1, {}});
      ASSERT_TRUE(stripe_.billing().CreateSubscription(spec, "sub:" + c).ok());
    }
  }

  void Deliver() { webhooks_.Deliver(*callbacks_); }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  testing::WebhookEnv webhooks_{stripe_};
  mapping::Mapping mapping_;
  std::unique_ptr<ActionDeps> deps_;
  std::unique_ptr<Actions> actions_;
  std::unique_ptr<Callbacks> callbacks_;
  std::vector<std::string> ids_, customers_;
};

TEST_P(CallbacksTest, InvoicesStatusAndBalanceReachTheCrmOnceEach) {
  SetUpCustomers();
  stripe_.sandbox.BillRun("", {customers_[1]});
  Deliver();
  const size_t delivered = webhooks_.receiver.requests().size();
  // Delivered again (Stripe retries on timeouts): acknowledged, stored once.
  for (const auto& r : webhooks_.receiver.requests()) {
    auto res = callbacks_->Receive(r.body, r.Header("Stripe-Signature"));
    EXPECT_EQ(res.http_status, 200);
    EXPECT_TRUE(res.duplicate);
  }
  auto report = callbacks_->ApplyPending(1000);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->applied, 0);
  EXPECT_EQ(report->failed, 0);
  EXPECT_GE(report->ignored_own, 2);  // the customer.created events of Tandem's own sync
  EXPECT_TRUE(callbacks_->ApplyPending(1000).value().applied == 0);  // nothing left: once each

  // Each customer: the invoice at subscription creation (paid) and the bill run's.
  EXPECT_EQ(crm_.sandbox.CountRecords("Billing_Invoice__c"), 4);
  EXPECT_EQ(crm_.sandbox.CountRecords("Billing_Payment__c"), 4);  // 3 succeeded, 1 failed
  auto good = crm_.client()
                  .Retrieve("Account", ids_[0], {"Billing_Status__c", "Billing_Balance__c"})
                  .value();
  auto bad = crm_.client()
                 .Retrieve("Account", ids_[1], {"Billing_Status__c", "Billing_Balance__c"})
                 .value();
  EXPECT_EQ(good["Billing_Status__c"].as_string(), "Active");
  EXPECT_DOUBLE_EQ(good["Billing_Balance__c"].as_number(), 0.0);
  EXPECT_EQ(bad["Billing_Status__c"].as_string(), "Delinquent");
  EXPECT_DOUBLE_EQ(bad["Billing_Balance__c"].as_number(), 40.0);
  Status st;
  int failed_invoices = 0;
  st = crm_.client().Query(
      "SELECT Id, Status__c, Account__c FROM Billing_Invoice__c WHERE Status__c = 'Payment Failed'",
      [&](const Json& r) {
        EXPECT_EQ(r["Account__c"].as_string(), ids_[1]);
        ++failed_invoices;
        return Status::Ok();
      });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(failed_invoices, 1);
  EXPECT_GT(delivered, 0u);
}

TEST_P(CallbacksTest, ACatalogChangeInBillingAsksForAnEarlyCatalogSync) {
  int asked = 0;
  callbacks_->OnCatalogChanged([&] { ++asked; });
  connector::billing::Product p;
  p.name = "New product";
  ASSERT_TRUE(stripe_.billing().CreateProduct(p, "new-product").ok());
  Deliver();
  ASSERT_TRUE(callbacks_->ApplyPending(100).ok());
  EXPECT_EQ(asked, 1);
}

TEST_P(CallbacksTest, ForgedAndReplayedWebhooksAreRefused) {
  SetUpCustomers();
  ASSERT_TRUE(stripe_.sandbox.FlushWebhooks());
  const auto requests = webhooks_.receiver.requests();
  ASSERT_FALSE(requests.empty());
  std::string forged = requests[0].body;
  forged.replace(forged.find("\"id\""), 4, "\"Id\"");
  EXPECT_EQ(callbacks_->Receive(forged, requests[0].Header("Stripe-Signature")).http_status, 401);
  EXPECT_EQ(callbacks_->Receive(requests[0].body, "t=1,v1=00").http_status, 401);
  // A genuine signature, but an hour old: a replay.
  const int64_t old = ToEpochMillis(stripe_.clock.Now()) / 1000 - 3600;
  const std::string replay = "t=" + std::to_string(old) + ",v1=" +
                             connector::billing::stripe::HmacSha256Hex(
                                 webhooks_.secret, std::to_string(old) + "." + requests[0].body);
  EXPECT_EQ(callbacks_->Receive(requests[0].body, replay).http_status, 401);
  EXPECT_TRUE((*store_)->PendingInboxEvents(10).value().empty());
}

TEST_P(CallbacksTest, EventsOutOfOrderEndInTheNewestState) {
  SetUpCustomers();
  ASSERT_TRUE(stripe_.sandbox.FlushWebhooks());
  auto make = [&](const std::string& id, int64_t created, const std::string& type,
                  const std::string& status) {
    Json obj = Json::MakeObject();
    obj.Set("id", "in_manual_1");
    obj.Set("object", "invoice");
    obj.Set("customer", customers_[0]);
    obj.Set("status", status);
    obj.Set("currency", "usd");
    obj.Set("amount_due", 4000);
    obj.Set("amount_paid", status == "paid" ? 4000 : 0);
    Json data = Json::MakeObject();
    data.Set("object", obj);
    Json e = Json::MakeObject();
    e.Set("id", id);
    e.Set("object", "event");
    e.Set("type", type);
    e.Set("created", created);
    e.Set("data", data);
    const std::string payload = e.Dump();
    const int64_t now = ToEpochMillis(stripe_.clock.Now()) / 1000;
    const std::string header = "t=" + std::to_string(now) + ",v1=" +
                               connector::billing::stripe::HmacSha256Hex(
                                   webhooks_.secret, std::to_string(now) + "." + payload);
    return std::make_pair(payload, header);
  };
  const int64_t t = ToEpochMillis(stripe_.clock.Now()) / 1000;
  auto newer = make("evt_manual_2", t + 10, "invoice.paid", "paid");
  auto older = make("evt_manual_1", t, "invoice.finalized", "open");
  ASSERT_EQ(callbacks_->Receive(newer.first, newer.second).http_status, 200);
  ASSERT_TRUE(callbacks_->ApplyPending(1000).ok());
  ASSERT_EQ(callbacks_->Receive(older.first, older.second).http_status, 200);
  auto report = callbacks_->ApplyPending(1000);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->skipped_stale, 1);
  Status st = crm_.client().Query(
      "SELECT Status__c FROM Billing_Invoice__c WHERE Billing_Invoice_Id__c = 'in_manual_1'",
      [&](const Json& r) {
        EXPECT_EQ(r["Status__c"].as_string(), "Paid");
        return Status::Ok();
      });
  ASSERT_TRUE(st.ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbacksTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::actions
