// The HTTP API as a CRM quick action and the billing system meet it: bearer token, body size
// limit, and the webhook endpoint (forged 401, duplicate acknowledged once).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "app/action_routes.h"
#include "app/console_routes.h"
#include "app/event_routes.h"
#include "app/history_routes.h"
#include "app/last_run.h"
#include "app/runtime.h"
#include "app/scheduled_reconcile.h"
#include "app/sync_failure_routes.h"
#include "app/tokens.h"
#include "app/workorder_routes.h"
#include "connector/billing/stripe/stripe_wire.h"
#include "connector/http/rest_client.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/store_backends.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace tandem::app {
namespace {

constexpr char kToken[] = "api-test-token-123";
constexpr char kWebhookSecret[] = "whsec_api_test";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crm_.Start().ok());
    ASSERT_TRUE(billing_.Start().ok());
    store_ = std::make_unique<testing::ScopedStore>(testing::StoreBackend{"sqlite"}, "api_test");
    Config c;
    c.store.url = store_->options().url;
    c.crm.remote.base_url = crm_.base_url();
    c.crm.client_id = "tandem-sandbox";
    c.crm.client_secret = "sandbox-secret";
    c.billing.remote.base_url = billing_.base_url();
    c.billing.api_key = "sk_test_sandbox";
    c.billing.webhook_secret = kWebhookSecret;
    c.mapping_path = std::string(TANDEM_SOURCE_DIR) + "/config/mapping.yaml";
    auto rt = BuildRuntime(c, std::make_shared<Redactor>());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
    server_ = std::make_unique<ApiServer>(
        ServerOptions{"127.0.0.1", 0, kToken, IssuedTokenScopes(*runtime_->store)},
        *runtime_->store, runtime_->counter, clock_);
    jobs_ = std::make_unique<ActionJobs>(*runtime_->actions, *runtime_->store, runtime_->clock, 2,
                                         CountSyncOutcomes(runtime_->metrics));
    RegisterActionRoutes(*server_, *runtime_, AsyncSyncs{jobs_.get(), 3});
    RegisterJobRoutes(*server_, *runtime_);
    RegisterWorkOrderRoutes(*server_, *runtime_);
    RegisterEventRoutes(*server_, *runtime_);
    RegisterHistoryRoutes(*server_, *runtime_);
    RegisterSyncFailureRoutes(*server_, *runtime_);
    RegisterConsole(*server_, *runtime_);
    ASSERT_TRUE(server_->Start().ok());
  }

  // A raw connection to the server (a client that does what RestClient would not); -1 on failure.
  int Connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  connector::http::HttpResponse Post(const std::string& path, const std::string& body,
                                     connector::http::Headers headers = {}) {
    return Call("POST", path, body, std::move(headers));
  }

  connector::http::HttpResponse Call(const std::string& method, const std::string& path,
                                     const std::string& body,
                                     connector::http::Headers headers = {}) {
    testing::FakeClock fake;
    testing::FakeSleeper sleeper(fake);
    SeededRandom random(1);
    connector::http::CallCounter counter;
    connector::http::RestClientOptions o;
    o.base_url = server_->base_url();
    o.retry.max_attempts = 1;
    connector::http::RestClient client(o, {clock_, sleeper, random, counter}, nullptr);
    connector::http::HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.headers = std::move(headers);
    connector::http::SetHeader(req.headers, "Content-Type", "application/json");
    return client.Send(req).value();
  }

  SystemClock clock_;
  sandbox::salesforce::SalesforceSandbox crm_{{}, clock_};
  sandbox::stripe::StripeSandbox billing_{{}, clock_};
  std::unique_ptr<testing::ScopedStore> store_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<ActionJobs> jobs_;  // stopped before the runtime goes
  std::unique_ptr<ApiServer> server_;
};

// The recovery API a Salesforce action calls: a failed task is listed, retried once (a second
// retry is a conflict), and bad requests are 4xx naming what is wrong, changing nothing.
TEST_F(ApiTest, AFailedWorkOrderIsListedAndRetriedThroughTheApi) {
  const std::string order = "801000000000009AAA";
  store::TaskSpec spec;
  spec.key = "tandem:wo:" + order + ":item:1:create_subscription";
  spec.group_id = order;
  spec.kind = "create_subscription";
  spec.payload = R"({"account_id":"001000000000009AAA"})";
  const int64_t now = ToEpochMillis(clock_.Now());
  ASSERT_TRUE(runtime_->store->EnqueueTask(spec, now).value());
  auto claimed = runtime_->store->ClaimTasks("w", 1, now, 60'000).value();
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_EQ(runtime_->store->FailTask(store::Lease::Of(claimed[0]), "no such price", now, now, true)
                .value(),
            "failed");
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};

  EXPECT_EQ(Post("/api/v1/workorders/list", R"({"state":"failed"})").status, 401);
  auto list = Post("/api/v1/workorders/list", R"({"state":"failed"})", auth);
  ASSERT_EQ(list.status, 200) << list.body;
  const Json listed = Json::Parse(list.body).value();
  ASSERT_EQ(listed["orders"].size(), 1u) << list.body;
  EXPECT_EQ(listed["orders"].array()[0]["order_id"].as_string(), order);
  EXPECT_EQ(listed["orders"].array()[0]["error"].as_string(), "create_subscription: no such price");
  auto by_account = Post("/api/v1/workorders/list", R"({"account_id":"001000000000009AAA"})", auth);
  EXPECT_EQ(Json::Parse(by_account.body).value()["orders"].size(), 1u) << by_account.body;
  EXPECT_EQ(Post("/api/v1/workorders/list", R"({"state":"broken"})", auth).status, 400);

  EXPECT_EQ(Post("/api/v1/workorders/retry", "not json", auth).status, 400);
  EXPECT_EQ(Post("/api/v1/workorders/retry", R"({"order_id":")" + order + "\"}", auth).status,
            400);  // nobody named
  auto unknown = Post("/api/v1/workorders/retry",
                      R"({"order_id":"801000000000000AAA","by":"sf:admin"})", auth);
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  auto no_reason = Post("/api/v1/workorders/dismiss",
                        R"({"order_id":")" + order + R"(","by":"sf:admin"})", auth);
  EXPECT_EQ(no_reason.status, 400) << no_reason.body;
  EXPECT_NE(no_reason.body.find("a reason is required"), std::string::npos) << no_reason.body;

  auto retried =
      Post("/api/v1/workorders/retry", R"({"order_id":")" + order + R"(","by":"sf:admin"})", auth);
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(Json::Parse(retried.body).value()["changed"].as_int(), 1) << retried.body;
  auto again =
      Post("/api/v1/workorders/retry", R"({"order_id":")" + order + R"(","by":"sf:admin"})", auth);
  EXPECT_EQ(again.status, 409) << again.body;
  auto show = Post("/api/v1/workorders/show", R"({"order_id":")" + order + "\"}", auth);
  ASSERT_EQ(show.status, 200) << show.body;
  const Json task = Json::Parse(show.body).value()["tasks"].array().at(0);
  EXPECT_EQ(task["state"].as_string(), "pending");
  // Its attempt count stays (a later attempt looks in billing first), with 5 more to go.
  EXPECT_EQ(task["attempts"].as_int(), 1);
  EXPECT_EQ(task["max_attempts"].as_int(), 6);
  EXPECT_EQ(Post("/api/v1/workorders/retry",
                 R"({"order_id":")" + order + R"(","by":"sf:admin","task_id":"x1"})", auth)
                .status,
            400);
  EXPECT_EQ(task["key"].as_string(), spec.key);
  const auto audit = runtime_->store->AuditFor("workorder", order).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().actor, "operator:sf:admin");
}

// Failed billing events: listed without their payloads, replayed (applied again at once: this
// one's payload is still unreadable, so it fails again, once more), dismissed with a reason.
TEST_F(ApiTest, FailedBillingEventsAreListedReplayedAndDismissed) {
  const int64_t now = ToEpochMillis(clock_.Now());
  for (const char* id : {"evt_a", "evt_b"}) {
    ASSERT_TRUE(runtime_->store
                    ->InsertInboxEvent(store::InboxEvent{id, "stripe", "invoice.paid",
                                                         "{\"personal\":\"jane@example.com\"", now,
                                                         "pending", 0, ""})
                    .value());
    ASSERT_TRUE(runtime_->store->MarkInboxEvent(id, "failed", "unreadable").ok());
  }
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(Post("/api/v1/events/list", "{}").status, 401);
  auto list = Post("/api/v1/events/list", R"({"limit":1})", auth);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body.find("jane@example.com"), std::string::npos) << list.body;
  Json page = Json::Parse(list.body).value();
  ASSERT_EQ(page["events"].size(), 1u);
  EXPECT_EQ(page["events"].array()[0]["event_id"].as_string(), "evt_a");
  EXPECT_EQ(page["next"].as_string(), "evt_a");
  page = Json::Parse(Post("/api/v1/events/list", R"({"after":"evt_a"})", auth).body).value();
  ASSERT_EQ(page["events"].size(), 1u);
  EXPECT_EQ(page["events"].array()[0]["event_id"].as_string(), "evt_b");

  EXPECT_EQ(Post("/api/v1/events/replay", R"({"event_id":"evt_zz","by":"ops"})", auth).status, 404);
  EXPECT_EQ(Post("/api/v1/events/dismiss", R"({"event_id":"evt_b","by":"ops"})", auth).status, 400);
  auto replayed = Post("/api/v1/events/replay", R"({"event_id":"evt_a","by":"ops"})", auth);
  ASSERT_EQ(replayed.status, 200) << replayed.body;
  const Json after = Json::Parse(replayed.body).value();
  EXPECT_EQ(after["state"].as_string(), "pending") << replayed.body;  // serve's worker applies it
  ASSERT_TRUE(runtime_->callbacks->ApplyPending().ok());
  const auto applied = runtime_->store->InboxEventById("evt_a").value();
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].state, "failed");  // still unreadable: failed again, once
  EXPECT_EQ(applied[0].attempts, 1);
  auto dismissed = Post("/api/v1/events/dismiss",
                        R"({"event_id":"evt_b","by":"ops","reason":"test event"})", auth);
  ASSERT_EQ(dismissed.status, 200) << dismissed.body;
  EXPECT_EQ(Json::Parse(dismissed.body).value()["state"].as_string(), "dismissed");
  EXPECT_EQ(Post("/api/v1/events/replay", R"({"event_id":"evt_b","by":"ops"})", auth).status, 409);
  const auto audit = runtime_->store->AuditFor("billing_event", "evt_b").value();
  ASSERT_EQ(audit.size(), 3u);  // refused dismiss, dismiss, refused replay
  EXPECT_EQ(audit[1].actor, "operator:ops");
  EXPECT_EQ(audit[1].detail, "test event");
  EXPECT_EQ(runtime_->store->InboxEventById("evt_b").value().at(0).last_error,
            "dismissed by ops: test event; failed: unreadable");
}

// A record's history by its CRM id or its billing id, newest first, paged; a hostile id is a
// 400 naming it, never a query.
TEST_F(ApiTest, ARecordsHistoryIsFoundByEitherIdAndPaged) {
  const std::string crm = "001000000000077AAA", billing = "cus_77";
  ASSERT_TRUE(
      runtime_->store->UpsertLinks({store::Link{"account", crm, billing, "", "", 1000}}).ok());
  ASSERT_TRUE(runtime_->store
                  ->AppendAudit({{1000, "admin:sync", "account", crm, "sync", "created", billing},
                                 {2000, "admin:sync", "account", crm, "sync", "updated", billing},
                                 {3000, "admin:sync", "account", "001000000000088AAA", "sync",
                                  "created", "cus_88"}})
                  .ok());
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(Call("GET", "/api/v1/records/" + crm + "/history", "").status, 401);
  auto first = Call("GET", "/api/v1/records/" + billing + "/history?limit=1", "", auth);
  ASSERT_EQ(first.status, 200) << first.body;
  const Json page = Json::Parse(first.body).value();
  ASSERT_EQ(page["entries"].size(), 1u) << first.body;
  EXPECT_EQ(page["entries"].array()[0]["outcome"].as_string(), "updated");  // newest first
  EXPECT_EQ(page["links"].array().at(0)["crm_id"].as_string(), crm);
  auto second =
      Call("GET", "/api/v1/records/" + crm + "/history?limit=1&before=" + page["next"].ToText(), "",
           auth);
  ASSERT_EQ(second.status, 200) << second.body;
  const Json older = Json::Parse(second.body).value();
  ASSERT_EQ(older["entries"].size(), 1u) << second.body;
  EXPECT_EQ(older["entries"].array()[0]["outcome"].as_string(), "created");
  EXPECT_EQ(second.body.find("cus_88"), std::string::npos) << second.body;
  auto hostile = Call("GET", "/api/v1/records/x'%20OR%201=1--/history", "", auth);
  EXPECT_EQ(hostile.status, 400) << hostile.body;
  EXPECT_NE(hostile.body.find("is not a record id"), std::string::npos) << hostile.body;
  EXPECT_EQ(Call("GET", "/api/v1/records/" + crm + "/history?limit=0", "", auth).status, 400);
}

TEST_F(ApiTest, ActionsNeedTheBearerTokenAndRefuseOversizedBodies) {
  EXPECT_EQ(Post("/api/v1/actions/account/sync", R"({"ids":[]})").status, 401);
  EXPECT_EQ(
      Post("/api/v1/actions/account/sync", R"({"ids":[]})", {{"Authorization", "Bearer wrong"}})
          .status,
      401);
  auto ok = Post("/api/v1/actions/account/sync", R"({"ids":["001000000000000AAA"]})",
                 {{"Authorization", std::string("Bearer ") + kToken}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("\"outcome\":\"failed\""), std::string::npos) << ok.body;
  EXPECT_EQ(Post("/api/v1/actions/account/sync", std::string(2 << 20, ' '),
                 {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            413);
  EXPECT_EQ(Post("/api/v1/actions/account/sync", "not json",
                 {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            400);
  EXPECT_EQ(
      Post("/api/v1/actions/nope/sync", "{}", {{"Authorization", std::string("Bearer ") + kToken}})
          .status,
      404);
}

// A record synced (so billing created its customer under the record's create key), unlinked,
// then synced again within Stripe's 24 hours: a new customer, not Stripe's replay of the
// first create (which would link the record back to the customer it was taken from).
TEST_F(ApiTest, ARecordSyncedUnlinkedAndSyncedAgainGetsANewCustomer) {
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  auto& crm = runtime_->crm->client();
  Json a = Json::MakeObject();
  a.Set("Name", "Acme Twice");
  const std::string acme = crm.Create("Account", a).value();
  auto sync = [&] {
    auto r = Post("/api/v1/actions/account/sync", R"({"ids":[")" + acme + "\"]}", auth);
    EXPECT_EQ(r.status, 200) << r.body;
    auto link = runtime_->store->FindLinkByCrmId("account", acme).value();
    return link ? link->billing_id : std::string();
  };
  const std::string first = sync();
  ASSERT_FALSE(first.empty());
  auto unlinked = Post("/api/v1/actions/account/unlink", R"({"ids":[")" + acme + "\"]}", auth);
  ASSERT_EQ(unlinked.status, 200) << unlinked.body;
  const auto audit = runtime_->store->AuditFor("account", acme).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().outcome, "unlinked") << "the link went with its audit row";
  const std::string second = sync();
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first) << "Stripe replayed the first create";
  EXPECT_EQ(billing_.CountObjects("customer"), 2);
  EXPECT_EQ(runtime_->billing->billing().GetAccount(second).value().external_key, acme);
  // Once more: each removal of the link is a generation of the key.
  ASSERT_EQ(Post("/api/v1/actions/account/unlink", R"({"ids":[")" + acme + "\"]}", auth).status,
            200);
  const std::string third = sync();
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
  EXPECT_EQ(billing_.CountObjects("customer"), 3);
  // A plain re-sync keeps its customer.
  EXPECT_EQ(sync(), third);
  EXPECT_EQ(billing_.CountObjects("customer"), 3);
}

// The admin's repair actions from the Salesforce package: link an Account to the customer
// billing already has (billing takes the CRM's values and id; nothing is created), refuse a
// customer held by another record, re-read its invoices from billing (twice: no row doubles),
// and unlink (the link, billing's tag and the CRM's link fields go; billing keeps the customer).
TEST_F(ApiTest, AnAccountIsLinkedItsInvoicesReReadAndUnlinked) {
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  auto& crm = runtime_->crm->client();
  auto& billing = runtime_->billing->billing();
  auto make_account = [&](const std::string& name) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    return crm.Create("Account", a).value();
  };
  const std::string acme = make_account("Acme Linked"), other = make_account("Other Co");
  connector::billing::BillingAccount existing;
  existing.name = "ACME (typed in billing)";
  const std::string customer = billing.CreateAccount(existing, "test:existing").value().id;
  // The answer's result at `i` (null when there is none).
  auto result = [](const connector::http::HttpResponse& r, size_t i = 0) {
    auto j = Json::Parse(r.body);
    const Json::Array none;
    const auto& list = j.ok() ? (*j)["results"].array() : none;
    return i < list.size() ? list[i] : Json();
  };
  auto link = [&](const std::string& id, const std::string& billing_id) {
    return Post("/api/v1/actions/account/link",
                R"({"links":[{"id":")" + id + R"(","billing_id":")" + billing_id + "\"}]}", auth);
  };

  auto linked = link(acme, customer);
  ASSERT_EQ(linked.status, 200) << linked.body;
  EXPECT_EQ(result(linked)["outcome"].ToText(), "linked") << linked.body;
  EXPECT_EQ(billing.GetAccount(customer).value().name, "Acme Linked");  // the CRM is the master
  EXPECT_EQ(billing.GetAccount(customer).value().external_key, acme);
  EXPECT_EQ(billing.GetAccount(customer).value().id, customer);
  EXPECT_EQ(billing_.CountObjects("customer"), 1);  // nothing created
  Json crm_acme = crm.Retrieve("Account", acme, {"Billing_Id__c", "Sync_Status__c"}).value();
  EXPECT_EQ(crm_acme["Billing_Id__c"].ToText(), customer);
  EXPECT_EQ(crm_acme["Sync_Status__c"].ToText(), "Synced");
  EXPECT_EQ(result(link(acme, customer))["outcome"].ToText(), "unchanged");
  EXPECT_NE(result(link(other, customer))["error"].ToText().find("is linked to Account " + acme),
            std::string::npos);
  EXPECT_NE(result(link(acme, "cus_Other"))["error"].ToText().find("unlink it first"),
            std::string::npos);
  EXPECT_NE(result(link(other, "cus_Missing"))["error"].ToText().find("no billing account"),
            std::string::npos);
  EXPECT_NE(result(link("001' OR Name != '", customer))["error"].ToText().find("not a Salesforce"),
            std::string::npos);
  EXPECT_EQ(Post("/api/v1/actions/account/link", R"({"links":[{"id":1}]})", auth).status, 400);

  // An invoice billing made while Tandem was not told (no webhook): re-read on request.
  connector::billing::Product p;
  p.name = "Virtual Server";
  connector::billing::Price price;
  price.product_id = billing.CreateProduct(p, "test:prod").value().id;
  price.currency = "eur";
  price.unit_amount_minor = 3000;
  price.interval = "month";
  connector::billing::SubscriptionSpec spec;
  spec.account_id = customer;
  spec.items.push_back({"", billing.CreatePrice(price, "test:price").value().id, 1, {}});
  ASSERT_TRUE(billing.CreateSubscription(spec, "test:sub").ok());
  auto count = [&](const std::string& object) {
    int n = 0;
    EXPECT_TRUE(crm.Query("SELECT Id FROM " + object,
                          [&](const Json&) {
                            ++n;
                            return Status::Ok();
                          })
                    .ok());
    return n;
  };
  for (int round = 0; round < 2; ++round) {
    auto refreshed = Post("/api/v1/actions/account/invoices",
                          R"({"ids":[")" + acme + R"(",")" + other + "\"]}", auth);
    ASSERT_EQ(refreshed.status, 200) << refreshed.body;
    EXPECT_EQ(result(refreshed)["invoices"].as_int(), 1) << refreshed.body;
    EXPECT_EQ(result(refreshed)["payments"].as_int(), 1) << refreshed.body;
    EXPECT_EQ(result(refreshed, 1)["error"].ToText(), "not synced to billing yet");
    EXPECT_EQ(count("Billing_Invoice__c"), 1) << "round " << round;
    EXPECT_EQ(count("Billing_Payment__c"), 1) << "round " << round;
  }

  auto unlinked = Post("/api/v1/actions/account/unlink", R"({"ids":[")" + acme + "\"]}", auth);
  ASSERT_EQ(unlinked.status, 200) << unlinked.body;
  EXPECT_EQ(result(unlinked)["outcome"].ToText(), "unlinked") << unlinked.body;
  EXPECT_EQ(result(unlinked)["billing_id"].ToText(), customer);
  EXPECT_TRUE(crm.Retrieve("Account", acme, {"Billing_Id__c"}).value()["Billing_Id__c"].is_null());
  EXPECT_EQ(billing.GetAccount(customer).value().external_key, "");
  EXPECT_FALSE(runtime_->store->FindLinkByCrmId("account", acme).value().has_value());
  EXPECT_EQ(result(Post("/api/v1/actions/account/unlink", R"({"ids":[")" + acme + "\"]}",
                        auth))["outcome"]
                .ToText(),
            "unchanged");
  // Free again: another record may take the customer.
  EXPECT_EQ(result(link(other, customer))["outcome"].ToText(), "linked");
  EXPECT_EQ(billing.GetAccount(customer).value().external_key, other);
  // And back: billing is written again (tagged with acme) though it saw this content before.
  ASSERT_EQ(result(Post("/api/v1/actions/account/unlink", R"({"ids":[")" + other + "\"]}",
                        auth))["outcome"]
                .ToText(),
            "unlinked");
  EXPECT_EQ(result(link(acme, customer))["outcome"].ToText(), "linked");
  EXPECT_EQ(billing.GetAccount(customer).value().external_key, acme);
  // CRM fields naming a billing id without a link (a clear that failed) are cleared by unlink.
  Json stale = Json::MakeObject();
  stale.Set("Billing_Id__c", "cus_Stale");
  ASSERT_TRUE(crm.Update("Account", other, stale).ok());
  auto cleared = Post("/api/v1/actions/account/unlink", R"({"ids":[")" + other + "\"]}", auth);
  EXPECT_EQ(result(cleared)["outcome"].ToText(), "unlinked") << cleared.body;
  EXPECT_TRUE(crm.Retrieve("Account", other, {"Billing_Id__c"}).value()["Billing_Id__c"].is_null());
  // Invoices belong to accounts: the contact map has no such action.
  auto contact_invoices = Post("/api/v1/actions/contact/invoices", R"({"ids":[]})", auth);
  EXPECT_EQ(contact_invoices.status, 404) << contact_invoices.body;
}

TEST_F(ApiTest, MetricsShowCallsOutcomesQueueDepthAndLatency) {
  ASSERT_EQ(Post("/api/v1/actions/account/sync", R"({"ids":["001000000000000AAA"]})",
                 {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            200);
  testing::FakeClock fake;
  testing::FakeSleeper sleeper(fake);
  SeededRandom random(1);
  connector::http::CallCounter counter;
  connector::http::RestClientOptions o;
  o.base_url = server_->base_url();
  connector::http::RestClient client(o, {clock_, sleeper, random, counter}, nullptr);
  auto m = client.Get("/metrics");
  ASSERT_TRUE(m.ok());
  const std::string& text = m->body;
  EXPECT_NE(text.find("tandem_remote_calls_total{remote=\"salesforce\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_sync_outcomes_total{object=\"account\",outcome=\"failed\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_inbox_pending 0"), std::string::npos) << text;
  EXPECT_NE(
      text.find("tandem_api_request_seconds_count{route=\"POST /api/v1/actions/account/sync\"} 1"),
      std::string::npos)
      << text;
}

// A body sent chunked announces no size: it is read, then refused with 413 all the same.
TEST_F(ApiTest, AnOversizedChunkedBodyIsRefusedToo) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  std::string request =
      "POST /api/v1/actions/account/sync HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Authorization: Bearer " +
      std::string(kToken) +
      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(64 * 1024, ' ');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  for (int i = 0; i < 20; ++i) request += size + chunk + "\r\n";  // 1.25 MiB
  request += "0\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buf[256] = {0};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 12);
  EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 413");
}

// A caller that hangs up before the answer (Salesforce's callout timed out, the admin closed the
// tab) does not stop the work it asked for: the sync runs to its end and is recorded, a job it
// started runs to its end, and the server goes on answering.
TEST_F(ApiTest, ACallerThatHangsUpDoesNotStopTheSyncItAskedFor) {
  std::vector<Json> accounts;
  for (int i = 0; i < 5; ++i) {
    Json a = Json::MakeObject();
    a.Set("Name", "Hang-up " + std::to_string(i));
    accounts.push_back(a);
  }
  const auto created = runtime_->crm->client().CreateMany("Account", accounts);
  ASSERT_TRUE(created.ok());
  std::vector<std::string> ids;
  for (const auto& r : *created) ids.push_back(r.id);
  auto hang_up = [&](size_t from, size_t to, bool async) {
    Json list = Json::MakeArray();
    for (size_t i = from; i < to; ++i) list.Push(ids[i]);
    Json body = Json::MakeObject();
    body.Set("ids", list);
    body.Set("async", async);
    const std::string text = body.Dump();
    const std::string request =
        "POST /api/v1/actions/account/sync HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer " +
        std::string(kToken) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
        "\r\n\r\n" + text;
    const int fd = Connect();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    ::close(fd);  // gone before any answer
  };
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 400 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return done();
  };
  hang_up(0, 3, /*async=*/false);  // answered when done: the caller is gone by then
  EXPECT_TRUE(wait_for([&] {
    for (size_t i = 0; i < 3; ++i)
      if (runtime_->store->AuditFor("account", ids[i]).value().empty()) return false;
    return true;
  })) << "the synchronous sync did not finish and record";
  EXPECT_EQ(billing_.CountObjects("customer"), 3);
  hang_up(3, 5, /*async=*/true);  // a job: the caller would have had its id
  EXPECT_TRUE(wait_for([&] {
    const auto jobs = runtime_->store->RecentJobs(1).value();
    return !jobs.empty() && jobs[0].state == "done";
  })) << "the job did not run to its end";
  const auto jobs = runtime_->store->RecentJobs(10).value();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].processed, 2);
  EXPECT_EQ(jobs[0].failed, 0);
  EXPECT_EQ(billing_.CountObjects("customer"), 5);
  for (const auto& id : ids)
    EXPECT_TRUE(runtime_->store->FindLinkByCrmId("account", id).value().has_value()) << id;
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(Post("/api/v1/actions/account/open", R"({"ids":[]})", auth).status, 200);
}

TEST_F(ApiTest, IssuedTokensWorkUntilRevoked) {
  const std::string issued = NewApiToken().value();
  ASSERT_TRUE(
      runtime_->store->CreateApiToken("quick-actions", TokenHash(issued), "actions", 1).ok());
  EXPECT_EQ(
      Post("/api/v1/actions/account/open", R"({"ids":[]})", {{"Authorization", "Bearer " + issued}})
          .status,
      200);
  ASSERT_TRUE(runtime_->store->RevokeApiToken("quick-actions", 2).ok());
  EXPECT_EQ(
      Post("/api/v1/actions/account/open", R"({"ids":[]})", {{"Authorization", "Bearer " + issued}})
          .status,
      401);
}

// The CRM's quick-action token must not dismiss work orders; an operator's token need not sync.
TEST_F(ApiTest, TokensReachOnlyTheRoutesOfTheirScopes) {
  const std::string crm = NewApiToken().value();
  const std::string ops = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("crm", TokenHash(crm), "actions", 1).ok());
  ASSERT_TRUE(runtime_->store->CreateApiToken("ops", TokenHash(ops), "operator", 1).ok());
  auto as = [](const std::string& t) {
    return connector::http::Headers{{"Authorization", "Bearer " + t}};
  };
  const std::string open = "/api/v1/actions/account/open";
  const std::string list = "/api/v1/workorders/list";
  EXPECT_EQ(Post(open, R"({"ids":[]})", as(crm)).status, 200);
  auto refused = Post(list, "{}", as(crm));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("lacks the 'operator' scope"), std::string::npos) << refused.body;
  EXPECT_EQ(Call("GET", "/api/v1/records/001000000000001AAA/history", "", as(crm)).status, 403);
  EXPECT_EQ(Post("/api/v1/events/list", "{}", as(crm)).status, 403);
  EXPECT_EQ(Post(list, "{}", as(ops)).status, 200);
  EXPECT_EQ(Post(open, R"({"ids":[]})", as(ops)).status, 403);
  // The configured token is the owner's: every scope.
  EXPECT_EQ(Post(list, "{}", as(kToken)).status, 200);
  EXPECT_EQ(Post(open, R"({"ids":[]})", as(kToken)).status, 200);
  // An unknown token is still 401, not 403: it learns nothing of the routes.
  EXPECT_EQ(Post(list, "{}", as("tdm_unknown")).status, 401);
}

// The console's page is served to anyone and holds nothing; its data needs an operator token,
// and the policy keeps the page from loading or sending anything elsewhere.
TEST_F(ApiTest, TheConsoleIsServedWithAStrictPolicyAndItsDataNeedsAnOperatorToken) {
  for (const char* path : {"/console", "/console/", "/console/index.html"}) {
    auto page = Call("GET", path, "");
    ASSERT_EQ(page.status, 200) << path;
    EXPECT_EQ(page.Header("Content-Type").value_or(""), "text/html; charset=utf-8") << path;
    EXPECT_NE(page.body.find("<script src=\"/console/console.js\">"), std::string::npos);
    const std::string csp = page.Header("Content-Security-Policy").value_or("");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(page.Header("X-Frame-Options").value_or(""), "DENY");
  }
  auto script = Call("GET", "/console/console.js", "");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.Header("Content-Type").value_or(""), "text/javascript; charset=utf-8");
  EXPECT_NE(script.body.find("/api/v1/console/overview"), std::string::npos);
  EXPECT_EQ(Call("GET", "/console/console.css", "").Header("Content-Type").value_or(""),
            "text/css; charset=utf-8");
  EXPECT_EQ(Call("GET", "/console/missing.js", "").status, 404);
  EXPECT_EQ(Call("POST", "/console", "").status, 405);

  const std::string crm = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("crm", TokenHash(crm), "actions", 1).ok());
  const std::string overview = "/api/v1/console/overview";
  EXPECT_EQ(Call("GET", overview, "").status, 401);
  EXPECT_EQ(Call("GET", overview, "", {{"Authorization", "Bearer " + crm}}).status, 403);

  // A failed task and a pending sync retry show in the queue depths; a finished sync job and the
  // last scheduled reconciliation in the recent runs.
  const int64_t now = ToEpochMillis(clock_.Now());
  store::TaskSpec spec;
  spec.key = "k1";
  spec.group_id = "801000000000001AAA";
  spec.kind = "create_subscription";
  spec.payload = "{}";
  ASSERT_TRUE(runtime_->store->EnqueueTask(spec, now).value());
  auto claimed = runtime_->store->ClaimTasks("w", 1, now, 60'000).value();
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(runtime_->store->FailTask(store::Lease::Of(claimed[0]), "x", now, now, true).ok());
  ASSERT_TRUE(runtime_->store
                  ->NoteSyncOutcomes("account", {{"001000000000001AAA", "503"}}, {},
                                     store::RetryPolicy{}, now)
                  .ok());
  ASSERT_TRUE(runtime_->store
                  ->PutJob({"job_1", "sync", "done", R"({"object":"account"})", 3, 3, 1, "",
                            now - 1000, now})
                  .ok());
  Json reconciled = Json::MakeObject();
  reconciled.Set("at", FormatRfc3339(clock_.Now()));
  reconciled.Set("ok", true);
  reconciled.Set("differences", 2);
  ASSERT_TRUE(StoreLastRun(*runtime_->store, kReconcileLastRun, reconciled, clock_.Now()).ok());

  auto got = Call("GET", overview, "", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(got.status, 200) << got.body;
  const Json o = Json::Parse(got.body).value();
  EXPECT_TRUE(o["health"]["ok"].as_bool()) << got.body;
  EXPECT_EQ(o["queues"]["tasks"]["failed"].as_int(), 1) << got.body;
  EXPECT_EQ(o["queues"]["sync_failures"]["pending"].as_int(), 1) << got.body;
  EXPECT_EQ(o["queues"]["jobs"]["done"].as_int(), 1) << got.body;
  EXPECT_EQ(o["activity"]["bucket_seconds"].as_int(), 60);
  ASSERT_EQ(o["activity"]["tasks_done"].size(), 60u);
  EXPECT_EQ(o["activity"]["tasks_done"].array()[59].as_int(), 0) << "the task failed";
  ASSERT_EQ(o["runs"].size(), 1u);
  EXPECT_EQ(o["runs"].array()[0]["id"].ToText(), "job_1");
  EXPECT_EQ(o["runs"].array()[0]["object"].ToText(), "account");
  EXPECT_EQ(o["runs"].array()[0]["failed"].as_int(), 1);
  EXPECT_EQ(o["reconcile"]["differences"].as_int(), 2);
  EXPECT_TRUE(o["catalog"].is_null()) << "no catalog run yet";
}

TEST_F(ApiTest, SyncFailuresAreListedForAnOperator) {
  ASSERT_TRUE(runtime_->store
                  ->NoteSyncOutcomes("account", {{"001000000000001AAA", "billing said 503"}}, {},
                                     store::RetryPolicy{}, ToEpochMillis(clock_.Now()))
                  .ok());
  const connector::http::Headers op{{"Authorization", std::string("Bearer ") + kToken}};
  auto listed = Post("/api/v1/syncs/failures", R"({"state":"pending"})", op);
  ASSERT_EQ(listed.status, 200) << listed.body;
  const Json body = Json::Parse(listed.body).value();
  ASSERT_EQ(body["failures"].size(), 1u);
  EXPECT_EQ(body["failures"].array()[0]["crm_id"].ToText(), "001000000000001AAA");
  EXPECT_EQ(body["failures"].array()[0]["state"].ToText(), "pending");
  EXPECT_EQ(body["failures"].array()[0]["last_error"].ToText(), "billing said 503");
  EXPECT_FALSE(body["failures"].array()[0]["next_retry_at"].is_null());
  EXPECT_EQ(Post("/api/v1/syncs/failures", R"({"state":"given_up"})", op).body,
            R"({"failures":[]})");
  auto bad = Post("/api/v1/syncs/failures", R"({"state":"stuck"})", op);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("state must be pending or given_up"), std::string::npos) << bad.body;
  EXPECT_EQ(Post("/api/v1/syncs/failures", R"({"after":"no-slash"})", op).status, 400);
  const std::string crm = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("crm", TokenHash(crm), "actions", 1).ok());
  EXPECT_EQ(Post("/api/v1/syncs/failures", "{}", {{"Authorization", "Bearer " + crm}}).status, 403);
}

// serve's scheduled reconciliation: its last result is kept in the store (any process shows it)
// and in /metrics, and a restart does not run it again before its interval.
TEST_F(ApiTest, AScheduledReconcileKeepsItsLastResultForMetrics) {
  DescribeReconcileMetrics(runtime_->metrics, *runtime_->store);
  EXPECT_NE(Call("GET", "/metrics", "").body.find("tandem_reconcile_last_differences -1"),
            std::string::npos);
  EXPECT_TRUE(ReconcileDue(*runtime_->store, clock_, Millis(3'600'000)));
  Json account = Json::MakeObject();
  account.Set("Name", "Drift Co");
  const std::string id = runtime_->crm->client().Create("Account", account).value();
  ASSERT_EQ(runtime_->actions->Sync("account", {id}).value().created, 1);
  Json renamed = Json::MakeObject();
  renamed.Set("Name", "Drift Company");  // not synced: billing still says Drift Co
  ASSERT_TRUE(runtime_->crm->client().Update("Account", id, renamed).ok());

  ReconcileSchedule schedule;
  schedule.every_ms = 3'600'000;
  schedule.objects = {"account"};
  schedule.report_dir = (std::filesystem::temp_directory_path() /
                         ("tandem_sched_reconcile_" + std::to_string(::getpid())))
                            .string();
  ASSERT_TRUE(CheckReconcileSchedule(schedule, runtime_->mapping).ok());
  ReconcileSchedule unknown = schedule;
  unknown.objects = {"opportunity"};
  EXPECT_TRUE(CheckReconcileSchedule(unknown, runtime_->mapping).IsInvalidArgument());

  const Status run = RunScheduledReconcile(*runtime_, schedule);
  ASSERT_TRUE(run.ok()) << run.ToString();
  const Json last = LastReconcile(*runtime_->store).value();
  EXPECT_TRUE(last["ok"].as_bool());
  EXPECT_EQ(last["differences"].ToText(), "1") << last.Dump();
  EXPECT_EQ(last["remaining"].ToText(), "1");
  ASSERT_FALSE(last["report"].is_null());
  std::ifstream csv(last["report"].ToText());
  std::stringstream text;
  text << csv.rdbuf();
  EXPECT_NE(text.str().find("field_drift"), std::string::npos) << text.str();
  const std::string metrics = Call("GET", "/metrics", "").body;
  EXPECT_NE(metrics.find("tandem_reconcile_last_differences 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tandem_reconcile_last_ok 1"), std::string::npos);
  EXPECT_FALSE(ReconcileDue(*runtime_->store, clock_, Millis(3'600'000)));
  EXPECT_TRUE(ReconcileDue(*runtime_->store, clock_, Millis(0)));
  std::filesystem::remove_all(schedule.report_dir);
}

// A sync over the threshold (3 here) does not keep the caller waiting: 202 with a job, whose
// progress and per-record outcomes the caller polls; under it, or asked, it answers at once.
TEST_F(ApiTest, ALongSyncAnswers202WithAJobToPoll) {
  std::vector<Json> accounts;
  for (int i = 0; i < 5; ++i) {
    Json a = Json::MakeObject();
    a.Set("Name", "Async " + std::to_string(i));
    accounts.push_back(a);
  }
  const auto created = runtime_->crm->client().CreateMany("Account", accounts);
  ASSERT_TRUE(created.ok());
  std::vector<std::string> ids;
  for (const auto& r : *created) ids.push_back(r.id);
  Json body = Json::MakeObject();
  Json list = Json::MakeArray();
  for (const auto& id : ids) list.Push(id);
  list.Push("not-an-id");
  body.Set("ids", list);
  const connector::http::Headers auth{{"Authorization", std::string("Bearer ") + kToken}};
  auto started = Post("/api/v1/actions/account/sync", body.Dump(), auth);
  ASSERT_EQ(started.status, 202) << started.body;
  const Json job = Json::Parse(started.body).value();
  const std::string url = job["status_url"].ToText();
  EXPECT_EQ(url, "/api/v1/jobs/" + job["job_id"].ToText());
  Json state;
  for (int i = 0; i < 200; ++i) {
    auto got = Call("GET", url, "", auth);
    ASSERT_EQ(got.status, 200) << got.body;
    state = Json::Parse(got.body).value();
    const std::string now = state["state"].ToText();
    if (now != "queued" && now != "running") break;  // queued: the job has not begun yet
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(state["state"].ToText(), "done") << state.Dump();
  EXPECT_EQ(state["total"].ToText(), "6");
  EXPECT_EQ(state["processed"].ToText(), "6");
  EXPECT_EQ(state["failed"].ToText(), "1");
  ASSERT_EQ(state["outcomes"].size(), 6u);
  EXPECT_EQ(state["outcomes"].array()[0]["outcome"].ToText(), "created");
  EXPECT_EQ(state["outcomes"].array()[5]["outcome"].ToText(), "failed");
  EXPECT_EQ(billing_.CountObjects("customer"), 5);
  // Paged: after the 4th, 1 a page.
  auto page = Json::Parse(Call("GET", url + "?after=4&limit=1", "", auth).body).value();
  ASSERT_EQ(page["outcomes"].size(), 1u);
  EXPECT_EQ(page["outcomes"].array()[0]["seq"].ToText(), "5");
  EXPECT_EQ(page["next"].ToText(), "5");
  EXPECT_EQ(Call("GET", url + "?limit=lots", "", auth).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/job_nope", "", auth).status, 404);
  // An operator's token reads it too; no token does not.
  const std::string ops = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("ops", TokenHash(ops), "operator", 1).ok());
  EXPECT_EQ(Call("GET", url, "", {{"Authorization", "Bearer " + ops}}).status, 200);
  EXPECT_EQ(Call("GET", url, "").status, 401);
  // Under the threshold: at once. Asked: a job even for one id.
  Json two = Json::MakeObject();
  Json two_ids = Json::MakeArray();
  two_ids.Push(ids[0]);
  two.Set("ids", two_ids);
  EXPECT_EQ(Post("/api/v1/actions/account/sync", two.Dump(), auth).status, 200);
  two.Set("async", true);
  EXPECT_EQ(Post("/api/v1/actions/account/sync", two.Dump(), auth).status, 202);
  two.Set("async", "yes");
  EXPECT_EQ(Post("/api/v1/actions/account/sync", two.Dump(), auth).status, 400);
  // Nothing to do is answered at once, not as a job that never moves.
  EXPECT_EQ(Post("/api/v1/actions/account/sync", R"({"ids":[],"async":true})", auth).status, 200);
}

// A job still queued when serve stops says so, rather than "running" forever.
TEST_F(ApiTest, AJobQueuedWhenServeStopsIsRecordedInterrupted) {
  ActionJobs idle(*runtime_->actions, *runtime_->store, runtime_->clock, /*threads=*/0);
  const std::string id = idle.StartSync("account", {"001000000000001AAA"}).value();
  EXPECT_EQ(JobJson(*runtime_->store, id, 0, 10, runtime_->clock).value()["state"].ToText(),
            "queued");
  // Each waiting job holds its ids in memory: past the cap the caller is told to wait (429).
  for (size_t i = 1; i < kMaxQueued; ++i)
    ASSERT_TRUE(idle.StartSync("account", {"001000000000001AAA"}).ok());
  EXPECT_TRUE(idle.StartSync("account", {"001000000000001AAA"}).status().IsRateLimited());
  idle.Stop();
  const Json job = JobJson(*runtime_->store, id, 0, 10, runtime_->clock).value();
  EXPECT_EQ(job["state"].ToText(), "failed");
  EXPECT_NE(job["error"].ToText().find("interrupted"), std::string::npos) << job.Dump();
  EXPECT_TRUE(idle.StartSync("account", {"001000000000001AAA"}).status().IsUnavailable());

  // Finished jobs go once retention.sync_jobs has passed since they last moved, not before.
  const Millis week = std::chrono::hours(24 * 7);
  EXPECT_EQ(PurgeOldSyncJobs(*runtime_->store, runtime_->clock, week).value(), 0);
  testing::FakeClock later(ToEpochMillis(runtime_->clock.Now()) + week.count() + 60'000);
  EXPECT_EQ(PurgeOldSyncJobs(*runtime_->store, later, week).value(),
            static_cast<int64_t>(kMaxQueued));
  EXPECT_TRUE(JobJson(*runtime_->store, id, 0, 10, runtime_->clock).status().IsNotFound());
}

// More old jobs than one statement deletes: the purge goes on until none is left.
TEST_F(ApiTest, OldSyncJobsArePurgedBeyondOneSlice) {
  testing::FakeClock clock;
  const int64_t old = ToEpochMillis(clock.Now()) - 8 * 24 * 3'600'000LL;
  for (int i = 0; i < 501; ++i) {
    store::Job j;
    j.id = "old-" + std::to_string(i);
    j.kind = "sync";
    j.state = "done";
    j.params = "{}";
    j.created_ms = j.updated_ms = old;
    ASSERT_TRUE(runtime_->store->PutJob(j).ok());
  }
  EXPECT_EQ(PurgeOldSyncJobs(*runtime_->store, clock, std::chrono::hours(24 * 7)).value(), 501);
  // However short the retention, a job still running goes only once it shows interrupted.
  store::Job running;
  running.id = "running-1";
  running.kind = "sync";
  running.state = "running";
  running.params = "{}";
  running.created_ms = running.updated_ms = ToEpochMillis(clock.Now());
  ASSERT_TRUE(runtime_->store->PutJob(running).ok());
  clock.Advance(kStalledAfter - Millis(1000));
  EXPECT_EQ(PurgeOldSyncJobs(*runtime_->store, clock, Millis(1000)).value(), 0);
  clock.Advance(Millis(2000));
  EXPECT_EQ(PurgeOldSyncJobs(*runtime_->store, clock, Millis(1000)).value(), 1);
}

TEST_F(ApiTest, HealthTellsAnAnonymousCallerOnlyOkAndAnOperatorTheDetails) {
  auto anonymous = Call("GET", "/healthz", "");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(anonymous.body, R"({"status":"ok"})");
  const std::string crm = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("crm", TokenHash(crm), "actions", 1).ok());
  EXPECT_EQ(Call("GET", "/healthz", "", {{"Authorization", "Bearer " + crm}}).body,
            R"({"status":"ok"})");
  auto detailed = Call("GET", "/healthz", "", {{"Authorization", std::string("Bearer ") + kToken}});
  EXPECT_EQ(detailed.status, 200);
  EXPECT_NE(detailed.body.find("\"schema_version\":" +
                               std::to_string(store::SchemaStore::LatestSchemaVersion())),
            std::string::npos)
      << detailed.body;
}

// A store that fails: the prober sees 503 and "not ok" and nothing of the error (it may name
// hosts and users); an operator sees the store's error. Another connection to the SQLite file
// replaces the migrations table with a view lacking its column, so every read of it fails.
TEST_F(ApiTest, HealthAnswers503WhenTheStoreFailsAndOnlyAnOperatorSeesWhy) {
  const std::string url = store_->options().url;
  ASSERT_EQ(url.rfind("sqlite:", 0), 0u) << url;
  {
    soci::session other(*soci::factory_sqlite3(), "db=" + url.substr(7));
    other << "ALTER TABLE schema_migrations RENAME TO schema_migrations_gone";
    other << "CREATE VIEW schema_migrations AS SELECT 1 AS unrelated";
  }
  auto anonymous = Call("GET", "/healthz", "");
  EXPECT_EQ(anonymous.status, 503);
  EXPECT_EQ(anonymous.body, R"({"status":"not ok"})");
  auto detailed = Call("GET", "/healthz", "", {{"Authorization", std::string("Bearer ") + kToken}});
  EXPECT_EQ(detailed.status, 503);
  EXPECT_NE(detailed.body.find("\"status\":\"not ok\",\"error\":"), std::string::npos)
      << detailed.body;
  EXPECT_NE(detailed.body.find("version"), std::string::npos)
      << "names what failed: " << detailed.body;
}

TEST_F(ApiTest, WebhooksAreVerifiedStoredOnceAndForgedOnesRefused) {
  const std::string payload =
      R"({"id":"evt_api_1","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_1","customer":"cus_1"}}})";
  const std::string t = std::to_string(ToEpochMillis(clock_.Now()) / 1000);
  const std::string sig =
      "t=" + t +
      ",v1=" + connector::billing::stripe::HmacSha256Hex(kWebhookSecret, t + "." + payload);
  auto first = Post("/api/v1/callbacks/billing", payload, {{"Stripe-Signature", sig}});
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("\"duplicate\":false"), std::string::npos);
  auto again = Post("/api/v1/callbacks/billing", payload, {{"Stripe-Signature", sig}});
  EXPECT_EQ(again.status, 200);
  EXPECT_NE(again.body.find("\"duplicate\":true"), std::string::npos);
  std::string forged = payload;
  forged.replace(forged.find("in_1"), 4, "in_2");
  EXPECT_EQ(Post("/api/v1/callbacks/billing", forged, {{"Stripe-Signature", sig}}).status, 401);
  EXPECT_EQ(Post("/api/v1/callbacks/billing", payload).status, 401);
  EXPECT_EQ(runtime_->store->PendingInboxEvents(10).value().size(), 1u);
}

// A path Tandem serves, asked with another method: 405 and the methods it takes in Allow
// (RFC 9110); the protected API says so only to a caller with a token.
TEST_F(ApiTest, AKnownPathWithTheWrongMethodIsMethodNotAllowedWithAllow) {
  const connector::http::Headers bearer{{"Authorization", std::string("Bearer ") + kToken}};
  auto webhook = Call("GET", "/api/v1/callbacks/billing", "");
  EXPECT_EQ(webhook.status, 405) << webhook.body;
  EXPECT_EQ(webhook.Header("Allow").value_or(""), "POST");
  EXPECT_NE(webhook.body.find("method_not_allowed"), std::string::npos) << webhook.body;
  auto health = Call("POST", "/healthz", "{}");
  EXPECT_EQ(health.status, 405);
  EXPECT_EQ(health.Header("Allow").value_or(""), "GET");
  EXPECT_EQ(Call("DELETE", "/metrics", "").Header("Allow").value_or(""), "GET");
  auto action = Call("GET", "/api/v1/actions/account/sync", "", bearer);
  EXPECT_EQ(action.status, 405) << action.body;
  EXPECT_EQ(action.Header("Allow").value_or(""), "POST");
  EXPECT_EQ(Call("GET", "/api/v1/actions/account/sync", "").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/nothing-here", "", bearer).status, 404);
  EXPECT_EQ(Call("GET", "/nothing-here", "").status, 404);
}

}  // namespace
}  // namespace tandem::app
