// The HTTP API as a CRM quick action and the billing system meet it: bearer token, body size
// limit, and the webhook endpoint (forged 401, duplicate acknowledged once).
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "app/action_routes.h"
#include "app/runtime.h"
#include "app/tokens.h"
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
        ServerOptions{"127.0.0.1", 0, kToken,
                      [this](const std::string& t) {
                        return runtime_->store->IsActiveApiToken(TokenHash(t)).value_or(false);
                      }},
        *runtime_->store, runtime_->counter, clock_);
    RegisterActionRoutes(*server_, *runtime_);
    ASSERT_TRUE(server_->Start().ok());
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
  std::unique_ptr<ApiServer> server_;
};

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
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
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

TEST_F(ApiTest, IssuedTokensWorkUntilRevoked) {
  const std::string issued = NewApiToken().value();
  ASSERT_TRUE(runtime_->store->CreateApiToken("quick-actions", TokenHash(issued), 1).ok());
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
