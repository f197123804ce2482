// Reconciliation end to end on the sandboxes and a real store (SQLite and PostgreSQL): each
// kind of difference is planted behind Tandem's back, found, repaired with fix, and a second
// run finds nothing — and what callbacks and work-order writes leave behind compares equal.
#include <fstream>
#include <sstream>

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include "actions/billing_records.h"
#include "actions/callbacks.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "tests/support/webhook_env.h"

namespace tandem::reconcile {
namespace {

class ReconcileTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    billing_ = &webhooks_.verifier;
    deps_ = std::make_unique<actions::ActionDeps>(
        actions::ActionDeps{crm_.client(), *billing_, **store_, mapping_, stripe_.clock});
    actions_ = std::make_unique<actions::Actions>(*deps_, "test:reconcile");
  }

  std::vector<std::string> SyncedAccounts(int n) {
    std::vector<Json> records;
    for (int i = 0; i < n; ++i) {
      Json a = Json::MakeObject();
      a.Set("Name", "Rec Co " + std::to_string(i));
      a.Set("Phone", "+351 21 000 " + std::to_string(1000 + i));
      a.Set("BillingCity", "Porto");
      records.push_back(a);
    }
    auto created = crm_.client().CreateMany("Account", records);
    EXPECT_TRUE(created.ok());
    std::vector<std::string> ids;
    for (const auto& r : *created) ids.push_back(r.id);
    auto synced = actions_->Sync("account", ids);
    EXPECT_TRUE(synced.ok());
    EXPECT_EQ(synced->created, n);
    return ids;
  }

  std::string BillingId(const std::string& crm_id) {
    return (*store_)->FindLinkByCrmId("account", crm_id).value()->billing_id;
  }

  // Runs a reconciliation; the report's CSV lands in the test's temp folder.
  std::unique_ptr<Report> Run(std::vector<std::string> objects, bool fix) {
    csv_ = ::testing::TempDir() + "reconcile_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".csv";
    for (char& c : csv_)
      if (c == '/' && &c > csv_.data() + ::testing::TempDir().size()) c = '_';
    auto report = Report::Open(csv_, 3);
    EXPECT_TRUE(report.ok());
    Reconciler reconciler(*deps_, *actions_, **report);
    ReconcileOptions options;
    options.objects = std::move(objects);
    options.fix = fix;
    const Status st = reconciler.Run(options);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE((*report)->Close().ok());
    summary_ = (*report)->Summary(fix);
    return std::move(report).value();
  }

  // Rows of the CSV with this kind (and field, when given), excluding follow-up rows.
  int Rows(const std::string& kind, const std::string& field = "") {
    std::ifstream in(csv_);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if (line.find("," + kind + ",") == std::string::npos) continue;
      if (!field.empty() && line.find("," + field + ",") == std::string::npos) continue;
      if (line.find(",fixed,") != std::string::npos || line.find("fix failed") != std::string::npos)
        continue;
      ++n;
    }
    return n;
  }

  void DeleteCustomer(const std::string& id) {
    web::http::client::http_client client(stripe_.sandbox.base_url());
    web::http::http_request req(web::http::methods::DEL);
    req.set_request_uri("/v1/customers/" + id);
    req.headers().add("Authorization", "Bearer sk_test_sandbox");
    ASSERT_EQ(client.request(req).get().status_code(), 200);
  }

  // A monthly price and a subscription per customer: billing invoices and charges them.
  std::vector<std::string> Subscribe(const std::vector<std::string>& customers) {
    const auto product = testing::CreateBillingProduct(*billing_, "Virtual Server", "p").value();
    const auto monthly =
        testing::CreateBillingPrice(*billing_, product.id, "eur", 4050, "month", "pr").value();
    std::vector<std::string> subs;
    for (const auto& c : customers) {
      connector::billing::SubscriptionSpec spec;
      spec.account_id = c;
      spec.items.push_back(connector::billing::SubscriptionItem{"", monthly.id, 1, {}});
      auto sub = billing_->CreateSubscription(spec, "sub:" + c + ":" + std::to_string(subs.size()));
      EXPECT_TRUE(sub.ok()) << sub.status().ToString();
      subs.push_back(sub->id);
    }
    return subs;
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  testing::WebhookEnv webhooks_{stripe_};
  mapping::Mapping mapping_;
  std::string csv_, summary_;
  connector::billing::stripe::StripeBilling* billing_ = nullptr;
  std::unique_ptr<actions::ActionDeps> deps_;
  std::unique_ptr<actions::Actions> actions_;
};

TEST_P(ReconcileTest, InStepFindsNothingAndReadsInBatches) {
  SyncedAccounts(450);
  const auto before = crm_.sandbox.calls_by_endpoint();
  const int64_t billing_before = stripe_.sandbox.requests();
  auto report = Run({"account"}, false);
  EXPECT_EQ(report->differences(), 0) << summary_;
  EXPECT_NE(summary_.find("account: 450 checked, 0 differences"), std::string::npos) << summary_;
  // Billing: 5 pages of 100 customers. CRM: the 450 linked records by id (3 calls of 200)
  // and the records that claim a billing id (1 query page): no call per record.
  EXPECT_EQ(stripe_.sandbox.requests() - billing_before, 5);
  const auto after = crm_.sandbox.calls_by_endpoint();
  EXPECT_EQ(after.at("GET /query") - before.at("GET /query"), 4);
}

TEST_P(ReconcileTest, FieldDriftInBillingIsFoundAndRepairedFromTheCrm) {
  const auto ids = SyncedAccounts(3);
  connector::billing::BillingAccount changed;
  changed.phone = "+1 555 0100";
  ASSERT_TRUE(billing_->UpdateAccount(BillingId(ids[1]), changed, "behind-the-back").ok());

  auto found = Run({"account"}, false);
  EXPECT_EQ(found->differences(), 1) << summary_;
  EXPECT_EQ(Rows(kFieldDrift, "phone"), 1);
  EXPECT_NE(summary_.find("+1 555 0100"), std::string::npos) << summary_;

  auto fixed = Run({"account"}, true);
  EXPECT_EQ(fixed->fixed(), 1) << summary_;
  EXPECT_EQ(billing_->GetAccount(BillingId(ids[1]))->phone, "+351 21 000 1001");
  EXPECT_EQ(Run({"account"}, false)->differences(), 0) << summary_;
}

TEST_P(ReconcileTest, ABillingDecidedFieldDriftsInTheCrmAndIsSetBack) {
  const auto ids = SyncedAccounts(2);
  Json wrong = Json::MakeObject();
  wrong.Set("Billing_Currency__c", "gbp");
  ASSERT_TRUE(crm_.client().Update("Account", ids[0], wrong).ok());
  auto found = Run({"account"}, true);
  EXPECT_EQ(Rows(kFieldDrift, "Billing_Currency__c"), 1) << summary_;
  EXPECT_EQ(found->remaining(), 0) << summary_;
  EXPECT_EQ(crm_.client()
                .Retrieve("Account", ids[0], {"Billing_Currency__c"})
                .value()["Billing_Currency__c"]
                .ToText(),
            "");
  EXPECT_EQ(Run({"account"}, false)->differences(), 0) << summary_;
}

TEST_P(ReconcileTest, ACrmAccountThatNamesAMissingCustomerIsCreatedInBilling) {
  SyncedAccounts(1);
  Json a = Json::MakeObject();
  a.Set("Name", "Claims To Be Billed");
  a.Set("Billing_Id__c", "cus_nosuchcustomer");
  const std::string id = crm_.client().Create("Account", a).value();

  auto found = Run({"account"}, true);
  EXPECT_EQ(Rows(kMissingInBilling), 1) << summary_;
  EXPECT_EQ(found->remaining(), 0) << summary_;
  auto link = (*store_)->FindLinkByCrmId("account", id).value();
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(billing_->GetAccount(link->billing_id)->name, "Claims To Be Billed");
  EXPECT_EQ(
      crm_.client().Retrieve("Account", id, {"Billing_Id__c"}).value()["Billing_Id__c"].ToText(),
      link->billing_id);
  EXPECT_EQ(Run({"account"}, false)->differences(), 0) << summary_;
}

TEST_P(ReconcileTest, ABillingCustomerTheCrmDoesNotKnowIsReportedNotInvented) {
  SyncedAccounts(2);
  connector::billing::BillingAccount stray;
  stray.name = "Billed Directly Ltd";
  ASSERT_TRUE(billing_->CreateAccount(stray, "stray").ok());
  auto report = Run({"account"}, true);
  EXPECT_EQ(Rows(kMissingInCrm), 1) << summary_;
  EXPECT_EQ(report->remaining(), 1) << summary_;  // a person decides: nothing is created
  EXPECT_NE(summary_.find("Billed Directly Ltd"), std::string::npos) << summary_;
  EXPECT_EQ(crm_.sandbox.CountRecords("Account"), 2);
}

TEST_P(ReconcileTest, ALostLinkIsFoundFromBothSidesAndRestored) {
  const auto ids = SyncedAccounts(3);
  const std::string bid = BillingId(ids[2]);
  ASSERT_TRUE((*store_)->DeleteLinks("account", {ids[2]}, {}).ok());
  auto report = Run({"account"}, true);
  EXPECT_EQ(report->differences(), 1) << summary_;  // one finding, not one per pass
  EXPECT_EQ(Rows(kUnlinked), 1) << summary_;
  EXPECT_EQ(report->remaining(), 0) << summary_;
  EXPECT_EQ(BillingId(ids[2]), bid);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 3);  // linked, not created again
  EXPECT_EQ(Run({"account"}, false)->differences(), 0) << summary_;
}

TEST_P(ReconcileTest, OrphanedLinksAreDroppedOrTheBillingRecordRecreated) {
  const auto ids = SyncedAccounts(3);
  ASSERT_TRUE(crm_.client().Delete("Account", ids[0]).ok());
  const std::string gone = BillingId(ids[1]);
  DeleteCustomer(gone);

  auto report = Run({"account"}, true);
  EXPECT_EQ(Rows(kOrphanedLink), 2) << summary_;
  EXPECT_EQ(report->remaining(), 0) << summary_;
  EXPECT_FALSE((*store_)->FindLinkByCrmId("account", ids[0]).value().has_value());
  const std::string recreated = BillingId(ids[1]);
  EXPECT_NE(recreated, gone);
  EXPECT_EQ(billing_->GetAccount(recreated)->name, "Rec Co 1");

  // The customer of the deleted CRM account remains: billed, unknown to the CRM.
  auto again = Run({"account"}, true);
  EXPECT_EQ(again->differences(), 1) << summary_;
  EXPECT_EQ(Rows(kMissingInCrm), 1) << summary_;
  EXPECT_EQ(Rows(kOrphanedLink), 0) << summary_;
}

// One billing customer linked by an Account and by a Contact (what an old migration's matching
// did): each map finds it, reports it as linked twice, compares none of its fields, and
// `--fix` never rewrites it (one map's repair would be undone by the other's on the next run).
TEST_P(ReconcileTest, OneBillingCustomerLinkedByTwoMapsIsFlaggedNeverFlipped) {
  const auto ids = SyncedAccounts(2);
  const std::string bid = BillingId(ids[0]);
  Json person = Json::MakeObject();
  person.Set("FirstName", "Ana");
  person.Set("LastName", "Silva");
  person.Set("AccountId", ids[0]);
  const std::string contact = crm_.client().Create("Contact", person).value();
  ASSERT_TRUE((*store_)
                  ->UpsertLinks({store::Link{"contact", contact, bid, "", "",
                                             ToEpochMillis(stripe_.clock.Now())}})
                  .ok());
  for (int run = 0; run < 2; ++run) {
    auto report = Run({"account", "contact"}, true);
    EXPECT_EQ(Rows(kLinkedTwice), 2) << summary_;  // once from each map
    EXPECT_EQ(Rows(kFieldDrift), 0) << "a doubly linked record's fields are not compared\n"
                                    << summary_;
    EXPECT_EQ(report->fixed(), 0) << summary_;
    EXPECT_EQ(billing_->GetAccount(bid)->name, "Rec Co 0") << "renamed by the contact's repair";
  }
}

TEST_P(ReconcileTest, InvoicesAndPaymentsMissingInTheCrmAreWrittenAsCallbacksWould) {
  const auto ids = SyncedAccounts(2);
  Subscribe({BillingId(ids[0]), BillingId(ids[1])});
  // No callback was applied: billing has two paid invoices the CRM has never seen.
  auto found = Run({"invoice"}, false);
  EXPECT_EQ(Rows(kMissingInCrm), 4) << summary_;  // 2 invoices + 2 payments
  EXPECT_NE(summary_.find("invoice: 2 checked"), std::string::npos) << summary_;

  auto fixed = Run({"invoice"}, true);
  EXPECT_EQ(fixed->fixed(), 4) << summary_;
  EXPECT_EQ(crm_.sandbox.CountRecords(actions::kInvoiceObject), 2);
  EXPECT_EQ(crm_.sandbox.CountRecords(actions::kPaymentObject), 2);
  EXPECT_EQ(Run({"invoice"}, false)->differences(), 0) << summary_;

  // Billing voids nothing, but someone edits an amount in the CRM: drift, set back.
  std::string invoice_crm_id;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id FROM Billing_Invoice__c LIMIT 1",
                         [&](const Json& r) {
                           invoice_crm_id = r["Id"].as_string();
                           return Status::Ok();
                         })
                  .ok());
  Json edit = Json::MakeObject();
  edit.Set("Amount_Paid__c", 1.0);
  ASSERT_TRUE(crm_.client().Update(actions::kInvoiceObject, invoice_crm_id, edit).ok());
  auto drift = Run({"invoice"}, true);
  EXPECT_EQ(Rows(kFieldDrift, "Amount_Paid__c"), 1) << summary_;
  EXPECT_EQ(drift->remaining(), 0) << summary_;
}

TEST_P(ReconcileTest, WhatCallbacksWriteReconcilesToNothing) {
  const auto ids = SyncedAccounts(2);
  Subscribe({BillingId(ids[0]), BillingId(ids[1])});
  stripe_.sandbox.BillRun("", {BillingId(ids[1])});  // the second customer's card fails
  actions::Callbacks callbacks(*deps_);
  webhooks_.Deliver(callbacks);
  ASSERT_TRUE(callbacks.ApplyPending(1000).ok());
  auto report = Run({"invoice", "account"}, false);
  EXPECT_EQ(report->differences(), 0) << summary_;
  EXPECT_NE(summary_.find("invoice: 4 checked"), std::string::npos) << summary_;
}

TEST_P(ReconcileTest, ServiceInventoryAgainstBillingSubscriptions) {
  const auto ids = SyncedAccounts(1);
  const auto subs = Subscribe({BillingId(ids[0]), BillingId(ids[0]), BillingId(ids[0])});
  // Inventory for the first two, as work orders record it; the third is billed, unrecorded.
  const mapping::ObjectMap* map = mapping_.Find("subscription");
  std::vector<std::string> inventory;
  for (int i = 0; i < 2; ++i) {
    Json fields = actions::SubscriptionStateFields(map, billing_->GetSubscription(subs[i]).value());
    fields.Set("Name", "Virtual Server");
    fields.Set("Account__c", ids[0]);
    auto saved = crm_.client().Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey,
                                      subs[i], fields);
    ASSERT_TRUE(saved.ok() && saved->success);
    inventory.push_back(saved->id);
    ASSERT_TRUE(
        (*store_)->UpsertLinks({store::Link{"subscription", saved->id, subs[i], "", "", 1}}).ok());
  }
  // Sold, never billed: an inventory record with no billing subscription.
  Json sold = Json::MakeObject();
  sold.Set("Name", "SIP Trunk");
  sold.Set("Account__c", ids[0]);
  sold.Set("Status__c", "Active");
  ASSERT_TRUE(crm_.client().Create(actions::kSubscriptionObject, sold).ok());
  // Billing cancels the second behind the CRM's back.
  ASSERT_TRUE(billing_->Cancel(subs[1], false, "cancel-behind").ok());

  auto report = Run({"subscription"}, true);
  EXPECT_EQ(Rows(kMissingInCrm), 1) << summary_;      // billed, not in the inventory
  EXPECT_EQ(Rows(kMissingInBilling), 1) << summary_;  // sold, not billed
  EXPECT_EQ(Rows(kFieldDrift, "Status__c"), 1) << summary_;
  EXPECT_EQ(report->remaining(), 2) << summary_;  // the drift is fixed; the rest is a person's
  EXPECT_EQ(crm_.client()
                .Retrieve(actions::kSubscriptionObject, inventory[1], {"Status__c"})
                .value()["Status__c"]
                .as_string(),
            "Cancelled");
  auto again = Run({"subscription"}, false);
  EXPECT_EQ(Rows(kFieldDrift), 0) << summary_;
  EXPECT_EQ(again->differences(), 2) << summary_;
}

TEST_P(ReconcileTest, AnUnknownObjectIsABadArgument) {
  auto report = Report::Open("", 3);
  Reconciler reconciler(*deps_, *actions_, **report);
  ReconcileOptions options;
  options.objects = {"Opportunity"};
  const Status st = reconciler.Run(options);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("account"), std::string::npos) << st.message();
}

INSTANTIATE_TEST_SUITE_P(Backends, ReconcileTest,
                         ::testing::Values(testing::StoreBackend{"sqlite"},
                                           testing::StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::reconcile
