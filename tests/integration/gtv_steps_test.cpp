// The method's steps on Gotransverse: sync / open / query of accounts, work orders, catalog
// and reconciliation, against the GTV emulator and the Salesforce sandbox on a real store
// (SQLite and PostgreSQL). GTV keeps no idempotency keys: a create whose answer is lost must
// still make one account and one order.
#include "tests/support/gtv_steps.h"

#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "actions/billing_poll.h"
#include "actions/callbacks.h"
#include "actions/sync.h"
#include "catalog-sync/apply.h"
#include "connector/billing/gtv/gtv_wire.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/test_dates.h"

namespace tandem {
namespace {

using testing::StoreBackend;

class GtvSteps : public testing::GtvStepsTest {
 protected:
  // What the polling tests stand on: the server (30.00 a month) sold from GTV's catalog in a
  // price book, the appliers, and the poller.
  void StartPolling() {
    pricebook_ = testing::CreatePricebook(crm_.client()).value();
    auto server =
        testing::CreateCatalogProduct(crm_.client(), gtv_.billing(), pricebook_, "Virtual Server",
                                      "VS-2", "Virtual Server", "Base", 3000);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = *server;
    callbacks_ = std::make_unique<actions::Callbacks>(
        actions::ActionDeps{crm_.client(), gtv_.billing(), **store_, mapping_, gtv_.clock()});
    poller_ = std::make_unique<actions::BillingPoller>(gtv_.billing(), **store_, gtv_.clock());
  }

  std::string pricebook_;
  testing::CatalogProduct server_;
  std::unique_ptr<actions::Callbacks> callbacks_;
  std::unique_ptr<actions::BillingPoller> poller_;
};

TEST_P(GtvSteps, AnAccountIsSyncedOpenedAndQueriedInStep) {
  const std::string id = CrmAccount("Acme");
  auto report = actions_->Sync("account", {id});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->created, 1) << report->outcomes.at(0).reason;
  const std::string billing_id = report->outcomes.at(0).remote_id;

  auto accounts = Objects("billing-account");
  ASSERT_EQ(accounts.size(), 1u);
  const Json& a = accounts[0];
  EXPECT_EQ(a["external_account_num"].as_string(), id);
  EXPECT_EQ(a["responsible_party"]["organization_name"].as_string(), "Acme");
  bool postal = false;
  for (const auto& addr : a["responsible_party"]["addresses"].array())
    if (addr["address_type"].as_string() == "postal") {
      postal = true;
      EXPECT_EQ(addr["country"].as_string(), "FRA") << "GTV keeps ISO alpha-3";
      EXPECT_EQ(addr["city"].as_string(), "Lyon");
    }
  EXPECT_TRUE(postal);
  bool website = false;
  for (const auto& cv : a["custom_field_values"].array())
    website |= cv["custom_field"]["name"].as_string() == "website" &&
               cv["value"].as_string() == "https://Acme.example";
  EXPECT_TRUE(website) << "custom.website is a GTV custom field value";

  auto crm = crm_.client()
                 .Retrieve("Account", id,
                           {"Billing_Id__c", "Sync_Status__c", "Billing_Account_Number__c",
                            "Billing_Cycle__c", "Billing_Category__c", "Billing_Currency__c"})
                 .value();
  EXPECT_EQ(crm["Billing_Id__c"].as_string(), billing_id);
  // What GTV decided about the account reaches the CRM with the link (Nextian's fields).
  EXPECT_EQ(crm["Billing_Account_Number__c"].as_string(), a["account_num"].as_string());
  EXPECT_EQ(crm["Billing_Cycle__c"].as_string(), "Monthly 1st EUR");
  EXPECT_EQ(crm["Billing_Category__c"].as_string(), "DEFAULT");
  EXPECT_EQ(crm["Billing_Currency__c"].as_string(), "eur");
  auto open = actions_->Open("account", {id});
  ASSERT_TRUE(open.ok());
  EXPECT_NE(open->at(0).url.find("/billing-accounts/" + billing_id), std::string::npos);
  auto query = actions_->Query("account", {id});
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_TRUE(query->at(0).error.empty()) << query->at(0).error;
  for (const auto& d : query->at(0).diffs)
    ADD_FAILURE() << d.field << ": CRM " << d.crm_value << " billing " << d.billing_value;

  // Edited in the CRM: the next sync updates the one account, a phone removed is removed.
  Json edit = Json::MakeObject();
  edit.Set("BillingCity", "Paris");
  edit.Set("Phone", Json());
  ASSERT_TRUE(crm_.client().Update("Account", id, edit).ok());
  auto again = actions_->Sync("account", {id});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->updated, 1) << again->outcomes.at(0).reason;
  auto now = gtv_.billing().GetAccount(billing_id).value();
  EXPECT_EQ(now.address.city, "Paris");
  EXPECT_EQ(now.phone, "");
  EXPECT_EQ(gtv_.Count("account"), 1);
}

// GTV made the account, the answer was lost: the sync looks it up by the CRM id and links
// that one instead of making a second.
TEST_P(GtvSteps, ALostAnswerOnAccountCreateDoesNotDoubleTheAccount) {
  const std::string id = CrmAccount("Lost");
  gtv_.AddFault({"POST", "/billing/2/billing-accounts", 0, "LOSE_RESPONSE", 1, 0});
  auto report = actions_->Sync("account", {id});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(gtv_.FaultHits("LOSE_RESPONSE"), 1);
  EXPECT_EQ(report->created, 1) << report->outcomes.at(0).reason;
  EXPECT_EQ(gtv_.Count("account"), 1);
  // The one GTV made is the one linked.
  const std::string made = Objects("billing-account").at(0)["id"].as_string();
  EXPECT_EQ(
      crm_.client().Retrieve("Account", id, {"Billing_Id__c"}).value()["Billing_Id__c"].as_string(),
      made);
}

TEST_P(GtvSteps, ANewOrderBecomesAConfirmedGtvOrderAtTheSoldPriceEvenWhenAnswersAreLost) {
  const std::string pricebook = testing::CreatePricebook(crm_.client()).value();
  auto server =
      testing::CreateCatalogProduct(crm_.client(), gtv_.billing(), pricebook, "Virtual Server",
                                    "VS-2", "Virtual Server", "Base", 3000);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string account = CrmAccount("Orders");
  gtv_.AddFault({"POST", "/billing/2/orders", 0, "LOSE_RESPONSE", 1, 0});
  testing::OrderSpec spec{account, testing::TestMonth(0), "New", {{&*server, 2, 25.5, "", "", 12}}};
  spec.pricebook = pricebook;
  const std::string order = testing::CreateOrder(crm_.client(), spec).value();
  auto state = Run(order);
  EXPECT_EQ(state.status, "Completed") << state.error;
  EXPECT_EQ(gtv_.FaultHits("LOSE_RESPONSE"), 1);
  EXPECT_EQ(gtv_.Count("subscription"), 1) << "one order, though its answer was lost";
  auto services = Objects("service");
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0]["status"].as_string(), "SERVICE_ACTIVE");
  EXPECT_EQ(services[0]["quantity"].as_int(), 2);
  EXPECT_EQ(connector::billing::gtv::ToMinor(services[0]["amount"], "EUR"), 2550)
      << "billed at the sold price, not the catalog's 30.00";
  const Json inv = Inventory(order);
  EXPECT_EQ(inv["Status__c"].as_string(), "Active") << inv.Dump();
  EXPECT_EQ(inv["Billed_Quantity__c"].as_number(), 2);
  EXPECT_DOUBLE_EQ(inv["Billed_Amount__c"].as_number(), 51.0);
}

// GTV calls no webhooks: invoices, payments and service changes are polled (a cursor per
// kind), go through the inbox and the same appliers as Stripe's events.
TEST_P(GtvSteps, InvoicesPaymentsAndServiceChangesArePolledIntoTheCrm) {
  ASSERT_NO_FATAL_FAILURE(StartPolling());
  const std::string& pricebook = pricebook_;
  const testing::CatalogProduct* server = &server_;
  actions::Callbacks& callbacks = *callbacks_;
  actions::BillingPoller& poller = *poller_;
  ASSERT_TRUE(poller.active());
  // History from before Tandem polled: an invoice and its payment, billed already.
  const std::string old = CrmAccount("Before");
  {
    testing::OrderSpec spec{old, testing::TestMonth(0), "New", {{&*server, 1, 30, "", "", 12}}};
    spec.pricebook = pricebook;
    ASSERT_EQ(Run(testing::CreateOrder(crm_.client(), spec).value()).status, "Completed");
    const auto link = (*store_)->FindLinkByCrmId("account", old).value();
    ASSERT_EQ(gtv_.BillRun(link->billing_id, {}), 1);
  }
  // Beyond the service poll's minute of lookback (a change that recent is read again).
  gtv_.Advance(std::chrono::minutes(2));
  auto first = poller.PollOnce();  // from now on: the history is not replayed
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->events, 0);
  EXPECT_EQ(first->reads, 2) << "the invoice and payment lists; no service is read";

  const std::string good = CrmAccount("Payer"), bad = CrmAccount("Decliner");
  std::map<std::string, std::string> order_of;
  for (const auto& account : {good, bad}) {
    testing::OrderSpec spec{account, testing::TestMonth(0), "New", {{&*server, 1, 30, "", "", 12}}};
    spec.pricebook = pricebook;
    order_of[account] = testing::CreateOrder(crm_.client(), spec).value();
    ASSERT_EQ(Run(order_of[account]).status, "Completed");
  }
  const std::string bad_billing = (*store_)->FindLinkByCrmId("account", bad).value()->billing_id;
  const std::string good_billing = (*store_)->FindLinkByCrmId("account", good).value()->billing_id;
  EXPECT_EQ(gtv_.BillRun(good_billing, {}), 1);
  EXPECT_EQ(gtv_.BillRun(bad_billing, {bad_billing}), 1);

  auto round = poller.PollOnce();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->events, 6) << "2 invoices, 2 payments, 2 services billed into a new period";
  EXPECT_EQ(round->duplicates, 0);
  EXPECT_EQ(round->reads, 4) << "a page each of invoices, payments, their invoices, services";
  auto applied = callbacks.ApplyPending(100);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(applied->failed, 0);
  EXPECT_EQ(crm_.sandbox.CountRecords("Billing_Invoice__c"), 2) << "not the one billed before";
  int paid = 0, failed = 0;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Status__c, Amount_Due__c FROM Billing_Invoice__c",
                         [&](const Json& r) {
                           paid += r["Status__c"].as_string() == "Paid";
                           failed += r["Status__c"].as_string() == "Payment Failed";
                           EXPECT_DOUBLE_EQ(r["Amount_Due__c"].as_number(), 30.0);
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(paid, 1);
  EXPECT_EQ(failed, 1);
  auto status = crm_.client().Retrieve("Account", bad, {"Billing_Status__c"}).value();
  EXPECT_EQ(status["Billing_Status__c"].as_string(), "Delinquent");

  // Nothing changed since: one list call per kind, nothing new.
  auto quiet = poller.PollOnce();
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->events, 0);
  EXPECT_EQ(quiet->reads, 3);

  // A service deactivated in GTV by hand reaches the CRM's service inventory.
  const std::string order_id = Inventory(order_of[good])["Billing_Subscription_Id__c"].as_string();
  ASSERT_TRUE(gtv_.billing().Cancel(order_id, false, "by-hand").ok());
  auto changed = poller.PollOnce();
  ASSERT_TRUE(changed.ok());
  EXPECT_GE(changed->events, 1);
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_EQ(Inventory(order_of[good])["Status__c"].as_string(), "Cancelled");

  // A GTV notification is a hint, trusted only with the token: it asks for a poll, no more.
  bool hinted = false;
  callbacks.OnPollHint([&] { hinted = true; });
  const std::string hint = R"({"type":"invoice.distributed","id":"1","billing_account_id":"2"})";
  EXPECT_EQ(callbacks.Receive(hint, "wrong-token").http_status, 401);
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_FALSE(hinted) << "a refused hint is not kept";
  EXPECT_EQ(callbacks.Receive(hint, "gtv-notification-token").http_status, 200);
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_TRUE(hinted);
  EXPECT_EQ(crm_.sandbox.CountRecords("Billing_Invoice__c"), 2) << "a hint writes nothing";
}

// GTV lists no change of a payment: one still processing when polled is read again each
// poll until it settles, and its settling reaches the CRM; then it is read no more. A refund
// later reaches the CRM by GTV's notification naming the payment.
TEST_P(GtvSteps, APaymentIsFollowedUntilItSettlesAndARefundByItsNotification) {
  ASSERT_NO_FATAL_FAILURE(StartPolling());
  const std::string& pricebook = pricebook_;
  const testing::CatalogProduct* server = &server_;
  actions::Callbacks& callbacks = *callbacks_;
  actions::BillingPoller& poller = *poller_;
  ASSERT_TRUE(poller.PollOnce().ok());  // from now on
  const std::string account = CrmAccount("Slow Payer");
  testing::OrderSpec spec{account, testing::TestMonth(0), "New", {{&*server, 1, 30, "", "", 12}}};
  spec.pricebook = pricebook;
  ASSERT_EQ(Run(testing::CreateOrder(crm_.client(), spec).value()).status, "Completed");
  const std::string billing_id = (*store_)->FindLinkByCrmId("account", account).value()->billing_id;
  ASSERT_EQ(gtv_.sandbox().BillRun(billing_id, {}, {billing_id}).invoices, 1);
  auto invoice_status = [&] {
    std::string status;
    (void)crm_.client().Query("SELECT Status__c FROM Billing_Invoice__c", [&](const Json& r) {
      status = r["Status__c"].as_string();
      return Status::Ok();
    });
    return status;
  };

  auto payment_status = [&] {
    std::string status;
    (void)crm_.client().Query("SELECT Status__c FROM Billing_Payment__c", [&](const Json& r) {
      status = r["Status__c"].as_string();
      return Status::Ok();
    });
    return status;
  };
  auto billed = poller.PollOnce();
  ASSERT_TRUE(billed.ok()) << billed.status().ToString();
  EXPECT_EQ(billed->events, 3) << "the invoice, its processing payment, the service";
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_EQ(invoice_status(), "Open");
  EXPECT_EQ(payment_status(), "Pending");

  auto waiting = poller.PollOnce();
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->events, 0) << "still processing: nothing new";
  EXPECT_EQ(waiting->reads, 5) << "a page a kind, the watched payment and its invoice";

  const std::string payment = Objects("payment").at(0)["id"].as_string();
  ASSERT_TRUE(gtv_.sandbox().SettlePayment(payment, true).ok());
  auto settled = poller.PollOnce();
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(settled->events, 1) << "the payment, completed";
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_EQ(invoice_status(), "Paid");

  auto quiet = poller.PollOnce();
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->reads, 3) << "settled: no longer read";

  // Refunded in GTV later: no listing shows a payment again, GTV's notification names it, and
  // applying that reads the payment from GTV. A hint without the token changes nothing.
  EXPECT_EQ(payment_status(), "Succeeded");
  auto reconcile_invoices = [&] { return Reconcile("invoice"); };
  EXPECT_EQ(reconcile_invoices()->differences(), 0);
  ASSERT_TRUE(gtv_.sandbox().RefundPayment(payment).ok());
  // Without a notification, reconciliation finds the refund (the invoice's payment, read with
  // it) the CRM does not show.
  auto behind = reconcile_invoices();
  EXPECT_EQ(behind->differences(), 1) << behind->Summary(false);
  const std::string hint = R"({"type":"payment.refunded","id":")" + payment +
                           R"(","billing_account_id":")" + billing_id + R"("})";
  EXPECT_EQ(callbacks.Receive(hint, "forged").http_status, 401);
  ASSERT_TRUE(callbacks.ApplyPending(100).ok());
  EXPECT_EQ(payment_status(), "Succeeded");
  EXPECT_EQ(callbacks.Receive(hint, "gtv-notification-token").http_status, 200);
  auto refunded = callbacks.ApplyPending(100);
  ASSERT_TRUE(refunded.ok()) << refunded.status().ToString();
  EXPECT_EQ(refunded->failed, 0);
  EXPECT_EQ(payment_status(), "Refunded");
  EXPECT_EQ(reconcile_invoices()->differences(), 0);
}

// Step 6 on GTV: the catalog (more than a page of products and of prices) comes into the
// CRM; with no change feed, a quiet run is a full scan compared with the last and writes
// nothing; a product renamed in GTV is the one record written again, the CRM's enrichment
// kept; one deactivated in GTV is deactivated in the CRM.
TEST_P(GtvSteps, TheCatalogComesFromGtvAndOnlyWhatChangedIsWrittenAgain) {
  constexpr int kProducts = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < kProducts; ++i) {
    auto product = testing::CreateBillingProduct(gtv_.billing(), "Firewall " + std::to_string(i),
                                                 "fw" + std::to_string(i));
    ASSERT_TRUE(product.ok()) << product.status().ToString();
    ids.push_back(product->id);
    for (const char* period : {"month", "year"})
      ASSERT_TRUE(testing::CreateBillingPrice(gtv_.billing(), product->id, "eur",
                                              1500 + i * 10 + (period[0] == 'y' ? 15000 : 0),
                                              period, "fw" + std::to_string(i) + period)
                      .ok());
  }
  catalog_sync::CatalogSync sync(
      catalog_sync::CatalogDeps{crm_.client(), gtv_.billing(), **store_, mapping_, gtv_.clock()});
  auto first = sync.Run({});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->failed, 0) << (first->errors.empty() ? "" : first->errors[0]);
  EXPECT_EQ(first->written, kProducts * 3);
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), kProducts);
  EXPECT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), kProducts * 2);

  auto quiet = sync.Run({});
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->plan.empty()) << "nothing changed: nothing written";
  EXPECT_EQ(quiet->billing_reads, 5) << "2 pages of products, 3 of prices: a full scan";

  auto crm_product = [&](const std::string& billing_id) {
    Json found;
    EXPECT_TRUE(crm_.client()
                    .Query("SELECT Id, Name, Description, IsActive FROM Product2 WHERE "
                           "Billing_Product_Id__c = '" +
                               billing_id + "'",
                           [&](const Json& r) {
                             found = r;
                             return Status::Ok();
                           })
                    .ok());
    return found;
  };
  Json enrich = Json::MakeObject();
  enrich.Set("Description", "Enriched in the CRM");
  ASSERT_TRUE(crm_.client().Update("Product2", crm_product(ids[7])["Id"].as_string(), enrich).ok());
  connector::billing::Product rename;
  rename.name = "Firewall 7 Pro";
  ASSERT_TRUE(gtv_.billing().UpdateProduct(ids[7], rename, "rename-7").ok());
  connector::billing::Product retire;
  retire.active = false;
  ASSERT_TRUE(gtv_.billing().UpdateProduct(ids[8], retire, "retire-8").ok());
  auto changed = sync.Run({});
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->plan.products.size(), 2u) << "the renamed and the retired, no other";
  EXPECT_EQ(crm_product(ids[7])["Name"].as_string(), "Firewall 7 Pro");
  EXPECT_EQ(crm_product(ids[7])["Description"].as_string(), "Enriched in the CRM");
  EXPECT_FALSE(crm_product(ids[8])["IsActive"].as_bool());
  EXPECT_TRUE(crm_product(ids[9])["IsActive"].as_bool());
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), kProducts) << "never deleted";
}

// Reconciliation on GTV: in step after a sync, and a field changed in GTV behind Tandem's
// back is the one difference found.
TEST_P(GtvSteps, ReconcileFindsNoDifferenceAfterASyncAndTheOneChangedInGtv) {
  const std::string a = CrmAccount("Recon A"), b = CrmAccount("Recon B");
  auto report = actions_->Sync("account", {a, b});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->created, 2);
  auto reconcile = [&] { return Reconcile("account"); };
  auto clean = reconcile();
  EXPECT_EQ(clean->differences(), 0) << clean->Summary(false);

  connector::billing::BillingAccount behind;
  behind.phone = "+33 1 00 00 00 00";
  ASSERT_TRUE(gtv_.billing()
                  .UpdateAccount(report->outcomes.at(1).remote_id, behind, "behind-the-back")
                  .ok());
  auto drift = reconcile();
  EXPECT_EQ(drift->differences(), 1) << drift->Summary(false);
}

INSTANTIATE_TEST_SUITE_P(Backends, GtvSteps,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem
