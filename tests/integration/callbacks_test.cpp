// Billing callbacks end to end: the Stripe sandbox's signed deliveries go into the inbox
// (forged and replayed ones refused, duplicates acknowledged once) and the worker writes
// invoices, billing status and balance into the Salesforce sandbox, newest state winning.
#include "actions/callbacks.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include "actions/billing_records.h"
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
    SyncedCustomers({"Good Co", "Bad Co"});
    Subscribe(customers_);
  }

  // Accounts named `names` in the CRM, synced by Tandem (ids_ and customers_ in that order).
  void SyncedCustomers(const std::vector<std::string>& names) {
    std::vector<Json> records;
    for (const auto& n : names) {
      Json a = Json::MakeObject();
      a.Set("Name", n);
      records.push_back(a);
    }
    auto created = crm_.client().CreateMany("Account", records);
    ASSERT_TRUE(created.ok());
    for (const auto& r : *created) ids_.push_back(r.id);
    auto report = actions_->Sync("account", ids_);
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->created, static_cast<int>(names.size()));
    for (const auto& o : report->outcomes) customers_.push_back(o.remote_id);
  }

  // A 40.00 monthly subscription for each billing customer.
  void Subscribe(const std::vector<std::string>& customers) {
    const auto product =
        testing::CreateBillingProduct(stripe_.billing(), "Virtual Server", "p").value();
    const auto monthly =
        testing::CreateBillingPrice(stripe_.billing(), product.id, "usd", 4000, "month", "pr")
            .value();
    for (const auto& c : customers) {
      connector::billing::SubscriptionSpec spec;
      spec.account_id = c;
      spec.items.push_back(connector::billing::SubscriptionItem{"", monthly.id, 1, {}});
      ASSERT_TRUE(stripe_.billing().CreateSubscription(spec, "sub:" + c).ok());
    }
  }

  void Deliver() { webhooks_.Deliver(*callbacks_); }

  // Delivers, applies, and expects every event applied or ignored, none failed.
  void DeliverAndApply() {
    Deliver();
    auto report = callbacks_->ApplyPending(1000);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->failed, 0);
  }

  // Stripe sends an event again under a new id (a resend from the dashboard, a second
  // endpoint): every delivered event of `type` comes back that way. Returns how many.
  int ResendAsNewEvents(const std::string& type) {
    int sent = 0;
    for (const auto& r : webhooks_.receiver.requests()) {
      Json e = Json::Parse(r.body).value();
      if (e["type"].as_string() != type) continue;
      e.Set("id", e["id"].as_string() + "_again");
      const std::string payload = e.Dump();
      const int64_t now = ToEpochMillis(stripe_.clock.Now()) / 1000;
      const std::string header = "t=" + std::to_string(now) + ",v1=" +
                                 connector::billing::stripe::HmacSha256Hex(
                                     webhooks_.secret, std::to_string(now) + "." + payload);
      EXPECT_EQ(callbacks_->Receive(payload, header).http_status, 200);
      ++sent;
    }
    return sent;
  }

  // The customer's invoices, newest first, as billing has them.
  std::vector<connector::billing::Invoice> Invoices(const std::string& customer) {
    std::vector<connector::billing::Invoice> out;
    EXPECT_TRUE(stripe_.billing()
                    .ListInvoices(customer,
                                  [&](const connector::billing::Invoice& i) {
                                    out.push_back(i);
                                    return Status::Ok();
                                  })
                    .ok());
    return out;
  }

  // Billing_Payment__c rows by billing id, and Billing_Invoice__c rows by billing id.
  std::map<std::string, Json> PaymentRows() {
    return Rows(
        "SELECT Id, Name, Billing_Payment_Id__c, Kind__c, Amount__c, Status__c, "
        "Payment_Date__c, Invoice__c, Account__c FROM Billing_Payment__c",
        kPaymentKey);
  }
  std::map<std::string, Json> InvoiceRows() {
    return Rows(
        "SELECT Id, Billing_Invoice_Id__c, Status__c, Amount_Due__c, Amount_Paid__c, "
        "Amount_Remaining__c FROM Billing_Invoice__c",
        kInvoiceKey);
  }
  std::map<std::string, Json> Rows(const std::string& soql, const char* key) {
    std::map<std::string, Json> out;
    EXPECT_TRUE(crm_.client()
                    .Query(soql,
                           [&](const Json& r) {
                             out[r[key].as_string()] = r;
                             return Status::Ok();
                           })
                    .ok());
    return out;
  }

  // A Stripe API call made in Stripe's dashboard; expects it to succeed.
  Json StripePost(const std::string& path, const std::string& form) {
    auto [status, body] = stripe_.Api("POST", path, form);
    EXPECT_EQ(status, 200) << path << " " << form << ": " << body.Dump();
    return body;
  }

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

  // What a customer-care agent needs on each invoice: dates, what is left, where to pay it.
  int paid = 0;
  st = crm_.client().Query(
      "SELECT Status__c, Issue_Date__c, Paid_Date__c, Amount_Remaining__c, "
      "Hosted_Invoice_Url__c, Invoice_Pdf_Url__c FROM Billing_Invoice__c",
      [&](const Json& r) {
        EXPECT_EQ(r["Issue_Date__c"].ToText().size(), 10u) << r.Dump();
        EXPECT_NE(r["Hosted_Invoice_Url__c"].ToText().find("https://"), std::string::npos);
        EXPECT_NE(r["Invoice_Pdf_Url__c"].ToText().find("https://"), std::string::npos);
        if (r["Status__c"].as_string() == "Paid") {
          ++paid;
          EXPECT_EQ(r["Paid_Date__c"].ToText().size(), 10u) << r.Dump();
          EXPECT_DOUBLE_EQ(r["Amount_Remaining__c"].as_number(), 0.0);
        } else {
          EXPECT_TRUE(r["Paid_Date__c"].is_null()) << r.Dump();
          EXPECT_DOUBLE_EQ(r["Amount_Remaining__c"].as_number(), 40.0);
        }
        return Status::Ok();
      });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(paid, 3);
}

// A bill run's events cost few calls: the batch writes invoices, payments and accounts in
// Collections of 200 and takes balances from the events' own data (every customer was made by
// Tandem's sync, so its open invoices are known; a failed attempt is read, the invoice does not
// tell its date): at most 20 CRM calls and 10 billing calls per 1,000 events. And every
// balance and status is right, the failed customers' too.
TEST_P(CallbacksTest, ABillRunsEventsCostAtMostTwentyCrmCallsAndTenBillingCallsPerThousand) {
  constexpr int kAccounts = 250;
  std::vector<std::string> names;
  for (int i = 0; i < kAccounts; ++i) names.push_back("Bill Run Co " + std::to_string(i));
  SyncedCustomers(names);
  Subscribe(customers_);
  DeliverAndApply();  // the subscriptions' first invoices

  std::set<std::string> failing;  // every 25th customer's card fails
  std::vector<std::string> failing_billing;
  for (size_t k = 0; k < ids_.size(); k += 25) {
    failing.insert(ids_[k]);
    failing_billing.push_back(customers_[k]);
  }
  stripe_.sandbox.BillRun("", failing_billing);
  Deliver();
  const int64_t events = (*store_)->CountPendingInbox().value();
  const int64_t crm_before = crm_.sandbox.requests_received();
  const int64_t billing_before = stripe_.sandbox.requests_received();
  auto report = callbacks_->ApplyPending(5000);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->failed, 0);
  const int64_t crm_calls = crm_.sandbox.requests_received() - crm_before;
  const int64_t billing_calls = stripe_.sandbox.requests_received() - billing_before;
  ASSERT_GE(events, 2 * kAccounts);  // at least created and paid, per invoice
  EXPECT_LE(crm_calls * 1000, 20 * events) << crm_calls << " CRM calls for " << events;
  EXPECT_LE(billing_calls * 1000, 10 * events) << billing_calls << " billing calls for " << events;
  EXPECT_EQ(crm_.sandbox.CountRecords(kInvoiceObject), 2 * kAccounts);
  int checked = 0;
  ASSERT_TRUE(
      crm_.client()
          .Query("SELECT Id, Billing_Balance__c, Billing_Status__c FROM Account WHERE "
                 "Name LIKE 'Bill Run Co %'",
                 [&](const Json& r) {
                   const bool failed = failing.count(r["Id"].as_string()) > 0;
                   EXPECT_DOUBLE_EQ(r["Billing_Balance__c"].as_number(), failed ? 40.0 : 0.0);
                   EXPECT_EQ(r["Billing_Status__c"].as_string(), failed ? "Delinquent" : "Active");
                   ++checked;
                   return Status::Ok();
                 })
          .ok());
  EXPECT_EQ(checked, kAccounts);
}

// An account Tandem did not create (linked by a migration) may owe on invoices older than any
// event: its balance comes from one listing of its invoices, then from events.
TEST_P(CallbacksTest, ABalanceCountsOpenInvoicesFromBeforeTheFirstEvent) {
  Json record = Json::MakeObject();
  record.Set("Name", "Migrated Co");
  const std::string crm_id = crm_.client().Create("Account", record).value();
  connector::billing::BillingAccount customer;
  customer.name = "Migrated Co";
  customer.external_key = crm_id;
  const std::string billing_id =
      stripe_.billing().CreateAccount(customer, "test:migrated").value().id;
  Subscribe({billing_id});
  stripe_.sandbox.BillRun(billing_id, {billing_id});  // 40.00 left open, before Tandem knew it
  webhooks_.Drop();                                   // those events never came
  ASSERT_TRUE((*store_)->UpsertLinks({store::Link{"account", crm_id, billing_id, "", "", 0}}).ok());

  stripe_.sandbox.BillRun(billing_id, {billing_id});  // another 40.00 open
  DeliverAndApply();
  auto account = crm_.client().Retrieve("Account", crm_id, {"Billing_Balance__c"}).value();
  EXPECT_DOUBLE_EQ(account["Billing_Balance__c"].as_number(), 80.0) << account.Dump();
}

// Billing's own changes reach the CRM: a failed payment makes the service Past Due; when
// dunning gives up (the next failure) billing cancels it and the inventory says Cancelled with
// its end date; a customer deleted in billing closes the account's billing status and drops
// the link (the next sync creates a new customer instead of writing to one that is gone).
TEST_P(CallbacksTest, PastDueDunningCancellationAndADeletedCustomerReachTheCrm) {
  SetUpCustomers();
  // The service inventory Tandem records for each subscription (work orders do this).
  std::map<std::string, std::string> inventory;  // customer → Service_Subscription__c
  const int64_t now = ToEpochMillis(stripe_.clock.Now());
  ASSERT_TRUE(stripe_.billing()
                  .ListSubscriptions([&](const connector::billing::Subscription& sub) {
                    const size_t i = sub.account_id == customers_[0] ? 0 : 1;
                    Json rec = Json::MakeObject();
                    rec.Set("Name", "Virtual Server");
                    rec.Set("Account__c", ids_[i]);
                    rec.Set(kSubscriptionKey, sub.id);
                    rec.Set("Status__c", "Active");
                    auto id = crm_.client().Create(kSubscriptionObject, rec);
                    if (!id.ok()) return id.status();
                    inventory[sub.account_id] = *id;
                    return (*store_)->UpsertLinks({{"subscription", *id, sub.id, "", "", now}});
                  })
                  .ok());
  ASSERT_EQ(inventory.size(), 2u);
  auto service = [&](const std::string& customer) {
    return crm_.client()
        .Retrieve(kSubscriptionObject, inventory[customer], {"Status__c", "End_Date__c"})
        .value();
  };
  auto apply = [&] {
    Deliver();
    auto report = callbacks_->ApplyPending(1000);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->failed, 0);
  };
  stripe_.sandbox.BillRun("", {customers_[1]});
  apply();
  EXPECT_EQ(service(customers_[0])["Status__c"].as_string(), "Active");
  EXPECT_EQ(service(customers_[1])["Status__c"].as_string(), "Past Due");
  EXPECT_TRUE(service(customers_[1])["End_Date__c"].is_null());

  stripe_.sandbox.BillRun("", {customers_[1]});  // fails again: dunning cancels
  apply();
  const Json canceled = service(customers_[1]);
  EXPECT_EQ(canceled["Status__c"].as_string(), "Cancelled") << canceled.Dump();
  EXPECT_EQ(canceled["End_Date__c"].ToText().size(), 10u) << canceled.Dump();
  EXPECT_EQ(service(customers_[0])["Status__c"].as_string(), "Active");

  // The good customer is deleted in billing.
  web::http::client::http_client client(stripe_.sandbox.base_url());
  web::http::http_request del(web::http::methods::DEL);
  del.set_request_uri("/v1/customers/" + customers_[0]);
  del.headers().add("Authorization", "Bearer sk_test_sandbox");
  ASSERT_EQ(client.request(del).get().status_code(), 200);
  apply();
  const Json account =
      crm_.client()
          .Retrieve("Account", ids_[0],
                    {"Billing_Status__c", "Billing_Id__c", "Sync_Status__c", "Last_Sync_Error__c"})
          .value();
  EXPECT_EQ(account["Billing_Status__c"].as_string(), "Closed") << account.Dump();
  EXPECT_TRUE(account["Billing_Id__c"].is_null()) << account.Dump();
  EXPECT_NE(account["Last_Sync_Error__c"].ToText().find("deleted in billing"), std::string::npos);
  EXPECT_FALSE((*store_)->FindLinkByCrmId("account", ids_[0]).value().has_value());
}

// A change made in billing behind Tandem's back reaches the service record beside what was
// sold: the billed quantity, amount and period change, the sold quantity does not (the
// difference is what `reconcile --object revenue` counts). A customer change applies only
// the fields the mapping says billing decides.
TEST_P(CallbacksTest, ABillingSideChangeUpdatesTheBilledFieldsNotTheSoldOnes) {
  SetUpCustomers();
  std::string sub_id, item_id;
  ASSERT_TRUE(stripe_.billing()
                  .ListSubscriptions([&](const connector::billing::Subscription& s) {
                    if (s.account_id == customers_[0]) {
                      sub_id = s.id;
                      item_id = s.items.at(0).id;
                    }
                    return Status::Ok();
                  })
                  .ok());
  Json rec = Json::MakeObject();
  rec.Set("Name", "Virtual Server");
  rec.Set("Account__c", ids_[0]);
  rec.Set(kSubscriptionKey, sub_id);
  rec.Set("Status__c", "Active");
  rec.Set("Quantity__c", 1);
  rec.Set("Currency__c", "USD");
  rec.Set("Recurring_Amount__c", 40);
  const std::string service = crm_.client().Create(kSubscriptionObject, rec).value();
  ASSERT_TRUE((*store_)
                  ->UpsertLinks({{"subscription", service, sub_id, "", "",
                                  ToEpochMillis(stripe_.clock.Now())}})
                  .ok());

  // Someone in billing's UI raises the quantity to 3 and edits the customer's description.
  web::http::client::http_client client(stripe_.sandbox.base_url());
  auto post = [&](const std::string& path, const std::string& body) {
    web::http::http_request req(web::http::methods::POST);
    req.set_request_uri(path);
    req.headers().add("Authorization", "Bearer sk_test_sandbox");
    req.set_body(body, "application/x-www-form-urlencoded");
    return client.request(req).get().status_code();
  };
  ASSERT_EQ(post("/v1/subscription_items/" + item_id, "quantity=3"), 200);
  ASSERT_EQ(post("/v1/customers/" + customers_[0], "description=edited+in+billing"), 200);
  Deliver();
  auto report = callbacks_->ApplyPending(1000);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->failed, 0);

  const Json now = crm_.client()
                       .Retrieve(kSubscriptionObject, service,
                                 {"Quantity__c", "Recurring_Amount__c", "Billed_Quantity__c",
                                  "Billed_Amount__c", "Current_Period_End__c", "Status__c"})
                       .value();
  EXPECT_EQ(now["Billed_Quantity__c"].as_int(), 3) << now.Dump();
  EXPECT_DOUBLE_EQ(now["Billed_Amount__c"].as_number(), 120.0) << now.Dump();
  EXPECT_EQ(now["Current_Period_End__c"].ToText().size(), 10u) << now.Dump();
  EXPECT_EQ(now["Quantity__c"].as_int(), 1) << now.Dump();  // as sold
  EXPECT_DOUBLE_EQ(now["Recurring_Amount__c"].as_number(), 40.0) << now.Dump();
  const Json account =
      crm_.client()
          .Retrieve("Account", ids_[0], {"Description", "Billing_Currency__c", "Billing_Status__c"})
          .value();
  EXPECT_TRUE(account["Description"].is_null()) << account.Dump();  // the CRM is its master
  EXPECT_EQ(account["Billing_Currency__c"].as_string(), "usd") << account.Dump();
  EXPECT_EQ(account["Billing_Status__c"].as_string(), "Active") << account.Dump();
}

// Refunds made in billing reach the CRM as Billing_Payment__c rows of Kind Refund with a
// negative amount, under the refunded payment's invoice; the payment itself says Refunded
// once all of it went back. Sent again (same id or a new one) or late, nothing doubles and
// nothing goes back to Succeeded.
TEST_P(CallbacksTest, FullAndPartialRefundsAreNegativePaymentsUnderTheInvoice) {
  SetUpCustomers();
  DeliverAndApply();
  const auto good_invoices = Invoices(customers_[0]), bad_invoices = Invoices(customers_[1]);
  ASSERT_EQ(good_invoices.size(), 1u);
  ASSERT_EQ(bad_invoices.size(), 1u);
  const std::string partly = good_invoices[0].charge_id, fully = bad_invoices[0].charge_id;
  ASSERT_FALSE(partly.empty());
  ASSERT_FALSE(fully.empty());
  const Json partial = StripePost("/v1/refunds", "charge=" + partly + "&amount=1500");
  const Json full = StripePost("/v1/refunds", "charge=" + fully + "&reason=requested_by_customer");
  DeliverAndApply();

  auto invoices = InvoiceRows();
  auto rows = PaymentRows();
  EXPECT_EQ(rows.size(), 4u);  // two payments, two refunds
  const Json& p1 = rows[partly];
  EXPECT_EQ(p1["Kind__c"].as_string(), "Payment") << p1.Dump();
  EXPECT_EQ(p1["Status__c"].as_string(), "Succeeded") << p1.Dump();  // 25 of 40 still kept
  EXPECT_DOUBLE_EQ(p1["Amount__c"].as_number(), 40.0);
  EXPECT_EQ(p1["Payment_Date__c"].ToText().size(), 10u) << p1.Dump();
  const Json& r1 = rows[partial["id"].as_string()];
  EXPECT_EQ(r1["Kind__c"].as_string(), "Refund") << r1.Dump();
  EXPECT_DOUBLE_EQ(r1["Amount__c"].as_number(), -15.0);
  EXPECT_EQ(r1["Status__c"].as_string(), "Succeeded");
  EXPECT_EQ(r1["Payment_Date__c"].ToText().size(), 10u) << r1.Dump();
  EXPECT_EQ(r1["Invoice__c"].as_string(), invoices[good_invoices[0].id]["Id"].as_string());
  EXPECT_EQ(r1["Account__c"].as_string(), ids_[0]);
  EXPECT_EQ(rows[fully]["Status__c"].as_string(), "Refunded") << rows[fully].Dump();
  EXPECT_DOUBLE_EQ(rows[fully]["Amount__c"].as_number(), 40.0);
  const Json& r2 = rows[full["id"].as_string()];
  EXPECT_EQ(r2["Kind__c"].as_string(), "Refund") << r2.Dump();
  EXPECT_DOUBLE_EQ(r2["Amount__c"].as_number(), -40.0);
  EXPECT_EQ(r2["Invoice__c"].as_string(), invoices[bad_invoices[0].id]["Id"].as_string());
  EXPECT_EQ(r2["Account__c"].as_string(), ids_[1]);
  // The invoice still says what was paid: a refund is a row of its own.
  EXPECT_EQ(invoices[good_invoices[0].id]["Status__c"].as_string(), "Paid");
  EXPECT_DOUBLE_EQ(invoices[good_invoices[0].id]["Amount_Paid__c"].as_number(), 40.0);

  // The rest of the partly refunded payment goes back too: the payment now says Refunded.
  const Json rest = StripePost("/v1/refunds", "charge=" + partly);
  EXPECT_EQ(rest["amount"].as_int(), 2500);
  DeliverAndApply();
  rows = PaymentRows();
  EXPECT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[partly]["Status__c"].as_string(), "Refunded") << rows[partly].Dump();
  EXPECT_DOUBLE_EQ(rows[rest["id"].as_string()]["Amount__c"].as_number(), -25.0);

  // Sent again: under the same ids (acknowledged, kept once) and under new ids (applied
  // again), the invoice events too: late, they must not make a refunded payment Succeeded.
  for (const auto& r : webhooks_.receiver.requests())
    EXPECT_TRUE(callbacks_->Receive(r.body, r.Header("Stripe-Signature")).duplicate);
  EXPECT_GT(ResendAsNewEvents("charge.refunded"), 0);
  EXPECT_GT(ResendAsNewEvents("refund.created"), 0);
  EXPECT_GT(ResendAsNewEvents("invoice.paid"), 0);
  auto report = callbacks_->ApplyPending(1000);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->failed, 0);
  const auto again = PaymentRows();
  EXPECT_EQ(again.size(), 5u);
  for (const auto& [id, row] : rows) {
    EXPECT_EQ(again.at(id)["Status__c"].as_string(), row["Status__c"].as_string()) << id;
    EXPECT_DOUBLE_EQ(again.at(id)["Amount__c"].as_number(), row["Amount__c"].as_number()) << id;
  }
  EXPECT_EQ(crm_.sandbox.CountRecords("Billing_Invoice__c"), 2);
}

// Credit notes reach the CRM as Billing_Payment__c rows of Kind Credit Note with a negative
// amount. On an open invoice one lowers what it asks for (and one for the rest pays it); on a
// paid invoice the amounts stay and the credit goes to the customer's balance or back by
// refund (the refund is its own row, so that money is not counted twice).
TEST_P(CallbacksTest, CreditNotesOnOpenAndPaidInvoices) {
  SetUpCustomers();
  stripe_.sandbox.BillRun("", {customers_[1]});  // bad's second invoice fails: open, 40 due
  DeliverAndApply();
  connector::billing::Invoice open, paid;
  for (const auto& in : Invoices(customers_[1]))
    if (in.status == "open") open = in;
  paid = Invoices(customers_[0]).back();  // good's first invoice
  ASSERT_FALSE(open.id.empty());
  ASSERT_EQ(paid.status, "paid");
  auto account = [&](const std::string& id) {
    return crm_.client().Retrieve("Account", id, {"Billing_Balance__c"}).value();
  };
  EXPECT_DOUBLE_EQ(account(ids_[1])["Billing_Balance__c"].as_number(), 40.0);

  // Open invoice: 10 off.
  const Json pre =
      StripePost("/v1/credit_notes", "invoice=" + open.id + "&amount=1000&memo=Goodwill");
  EXPECT_EQ(pre["type"].as_string(), "pre_payment");
  DeliverAndApply();
  auto invoices = InvoiceRows();
  auto rows = PaymentRows();
  const Json& in_open = invoices[open.id];
  EXPECT_DOUBLE_EQ(in_open["Amount_Due__c"].as_number(), 30.0) << in_open.Dump();
  EXPECT_DOUBLE_EQ(in_open["Amount_Remaining__c"].as_number(), 30.0) << in_open.Dump();
  EXPECT_EQ(in_open["Status__c"].as_string(), "Payment Failed");
  const Json& cn1 = rows[pre["id"].as_string()];
  EXPECT_EQ(cn1["Kind__c"].as_string(), "Credit Note") << cn1.Dump();
  EXPECT_DOUBLE_EQ(cn1["Amount__c"].as_number(), -10.0);
  EXPECT_EQ(cn1["Status__c"].as_string(), "Succeeded");
  EXPECT_EQ(cn1["Name"].as_string(), pre["number"].as_string());
  EXPECT_EQ(cn1["Payment_Date__c"].ToText().size(), 10u) << cn1.Dump();
  EXPECT_EQ(cn1["Invoice__c"].as_string(), in_open["Id"].as_string());
  EXPECT_EQ(cn1["Account__c"].as_string(), ids_[1]);
  EXPECT_DOUBLE_EQ(account(ids_[1])["Billing_Balance__c"].as_number(), 30.0);

  // The rest, by line: nothing is left to pay, the invoice is paid.
  auto [got, full_invoice] = stripe_.Api("GET", "/v1/invoices/" + open.id);
  ASSERT_EQ(got, 200);
  const std::string line = full_invoice["lines"]["data"].array().at(0)["id"].as_string();
  const Json rest = StripePost("/v1/credit_notes", "invoice=" + open.id +
                                                       "&lines[0][type]=invoice_line_item"
                                                       "&lines[0][invoice_line_item]=" +
                                                       line + "&lines[0][amount]=3000");
  DeliverAndApply();
  invoices = InvoiceRows();
  EXPECT_EQ(invoices[open.id]["Status__c"].as_string(), "Paid") << invoices[open.id].Dump();
  EXPECT_DOUBLE_EQ(invoices[open.id]["Amount_Remaining__c"].as_number(), 0.0);
  EXPECT_DOUBLE_EQ(invoices[open.id]["Amount_Due__c"].as_number(), 0.0);
  EXPECT_DOUBLE_EQ(PaymentRows()[rest["id"].as_string()]["Amount__c"].as_number(), -30.0);
  EXPECT_DOUBLE_EQ(account(ids_[1])["Billing_Balance__c"].as_number(), 0.0);

  // Paid invoice: 15 to the customer's balance, then 10 back to the card.
  const Json post =
      StripePost("/v1/credit_notes", "invoice=" + paid.id + "&amount=1500&credit_amount=1500");
  EXPECT_EQ(post["type"].as_string(), "post_payment");
  const Json refunding =
      StripePost("/v1/credit_notes", "invoice=" + paid.id + "&amount=1000&refund_amount=1000");
  DeliverAndApply();
  invoices = InvoiceRows();
  rows = PaymentRows();
  EXPECT_EQ(invoices[paid.id]["Status__c"].as_string(), "Paid");
  EXPECT_DOUBLE_EQ(invoices[paid.id]["Amount_Paid__c"].as_number(), 40.0);
  EXPECT_DOUBLE_EQ(invoices[paid.id]["Amount_Remaining__c"].as_number(), 0.0);
  EXPECT_DOUBLE_EQ(rows[post["id"].as_string()]["Amount__c"].as_number(), -15.0);
  EXPECT_EQ(rows[post["id"].as_string()]["Invoice__c"].as_string(),
            invoices[paid.id]["Id"].as_string());
  // The refund it made is the row with the money; the credit note carries no more.
  const Json& refund = rows[refunding["refund"].as_string()];
  EXPECT_EQ(refund["Kind__c"].as_string(), "Refund") << refund.Dump();
  EXPECT_DOUBLE_EQ(refund["Amount__c"].as_number(), -10.0);
  EXPECT_DOUBLE_EQ(rows[refunding["id"].as_string()]["Amount__c"].as_number(), 0.0);
  EXPECT_EQ(rows[paid.charge_id]["Status__c"].as_string(), "Succeeded");  // 30 of 40 kept
  // bad: 2 payments + 2 credit notes; good: 2 payments + 2 credit notes + 1 refund.
  EXPECT_EQ(rows.size(), 9u);

  // Sent again under new ids: the same rows, the same amounts.
  EXPECT_EQ(ResendAsNewEvents("credit_note.created"), 4);
  EXPECT_GT(ResendAsNewEvents("invoice.updated"), 0);
  auto report = callbacks_->ApplyPending(1000);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->failed, 0);
  const auto again = PaymentRows();
  EXPECT_EQ(again.size(), rows.size());
  for (const auto& [id, row] : rows)
    EXPECT_DOUBLE_EQ(again.at(id)["Amount__c"].as_number(), row["Amount__c"].as_number()) << id;
  EXPECT_EQ(InvoiceRows()[open.id]["Status__c"].as_string(), "Paid");

  // The balance credit is voided in billing: its row says Void. One that refunded cannot be.
  StripePost("/v1/credit_notes/" + post["id"].as_string() + "/void", "");
  EXPECT_EQ(stripe_.Api("POST", "/v1/credit_notes/" + refunding["id"].as_string() + "/void").first,
            400);
  DeliverAndApply();
  const Json voided = PaymentRows()[post["id"].as_string()];
  EXPECT_EQ(voided["Status__c"].as_string(), "Void") << voided.Dump();
  EXPECT_DOUBLE_EQ(voided["Amount__c"].as_number(), -15.0);
  EXPECT_EQ(PaymentRows().size(), rows.size());
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

// How a payment, refund or credit note reads in the CRM, for the states the sandbox does not
// reach (a pending or failed refund, a voided credit note).
TEST(PaymentRows, KindSignAndStatusOfEachEntry) {
  using connector::billing::Payment;
  Payment p;
  p.id = "ch_1";
  p.amount_minor = 4000;
  p.currency = "usd";
  p.status = "succeeded";
  p.created = 1767225600;  // 2026-01-01
  Json row = PaymentFields(p, "001A");
  EXPECT_EQ(row["Kind__c"].as_string(), "Payment");
  EXPECT_EQ(row["Status__c"].as_string(), "Succeeded");
  EXPECT_EQ(row["Payment_Date__c"].as_string(), "2026-01-01");
  EXPECT_EQ(row["Account__c"].as_string(), "001A");
  p.refunded_minor = 3999;
  EXPECT_EQ(PaymentFields(p, "001A")["Status__c"].as_string(), "Succeeded");
  p.refunded_minor = 4000;
  EXPECT_EQ(PaymentFields(p, "001A")["Status__c"].as_string(), "Refunded");

  Payment r;
  r.id = "re_1";
  r.kind = Payment::Kind::kRefund;
  r.amount_minor = -1500;
  r.currency = "jpy";
  r.status = "pending";
  row = PaymentFields(r, "001A");
  EXPECT_EQ(row["Kind__c"].as_string(), "Refund");
  EXPECT_DOUBLE_EQ(row["Amount__c"].as_number(), -1500.0);  // no minor units in yen
  EXPECT_EQ(row["Status__c"].as_string(), "Pending");
  EXPECT_TRUE(row["Payment_Date__c"].is_null());
  r.status = "canceled";
  EXPECT_EQ(PaymentFields(r, "001A")["Status__c"].as_string(), "Failed");

  Payment cn;
  cn.id = "cn_1";
  cn.kind = Payment::Kind::kCreditNote;
  cn.number = "SBX-1-CN-01";
  cn.amount_minor = -250;
  cn.currency = "usd";
  cn.status = "issued";
  row = PaymentFields(cn, "001A");
  EXPECT_EQ(row["Kind__c"].as_string(), "Credit Note");
  EXPECT_EQ(row["Name"].as_string(), "SBX-1-CN-01");
  EXPECT_DOUBLE_EQ(row["Amount__c"].as_number(), -2.5);
  EXPECT_EQ(row["Status__c"].as_string(), "Succeeded");
  cn.status = "void";
  EXPECT_EQ(PaymentFields(cn, "001A")["Status__c"].as_string(), "Void");
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbacksTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::actions
