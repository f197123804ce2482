// The REST client core against a scripted server on loopback (real sockets): retries,
// Retry-After, timeouts, dropped connections, idempotency, auth refresh, rate limiting,
// keep-alive and redaction. Time is fake: waits are recorded, not slept.
#include "connector/http/rest_client.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/support/capture_log.h"
#include "tests/support/scripted_http_server.h"

namespace tandem::connector::http {
namespace {

using testing::FakeClock;
using testing::FakeSleeper;
using testing::ScriptedHttpServer;
using testing::ScriptedResponse;

constexpr char kRemote[] = "billing";

ScriptedResponse Status503(const std::string& retry_after = "") {
  ScriptedResponse r;
  r.status = 503;
  r.body = R"({"error":{"type":"api_error","message":"try later"}})";
  if (!retry_after.empty()) r.headers.emplace_back("Retry-After", retry_after);
  return r;
}

class FixedTokenSource final : public TokenSource {
 public:
  Result<AccessToken> Fetch() override {
    ++fetches;
    return AccessToken{"token-generation-" + std::to_string(fetches), "Bearer", std::nullopt};
  }
  int fetches = 0;
};

class RestClientTest : public ::testing::Test {
 protected:
  RestClientTest() : sleeper_(clock_), random_(1234) {}

  std::unique_ptr<RestClient> MakeClient(AuthProviderPtr auth = nullptr,
                                         RestClientOptions options = {}) {
    options.remote = kRemote;
    options.base_url = server_.base_url();
    if (options.timeout == Millis(30'000)) options.timeout = Millis(2'000);
    return std::make_unique<RestClient>(
        options, RestClientDeps{clock_, sleeper_, random_, counter_}, std::move(auth));
  }

  ScriptedHttpServer server_;
  FakeClock clock_;
  FakeSleeper sleeper_;
  SeededRandom random_;
  CallCounter counter_;
  Redactor redactor_;
};

TEST_F(RestClientTest, GivenTransient503WithRetryAfter2WhenGetThenWaits2sAndSucceeds) {
  server_.Enqueue(Status503("2"));
  server_.Enqueue(ScriptedResponse{});
  auto client = MakeClient();
  auto r = client->Get("/v1/customers");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server_.requests().size(), 2u);
  EXPECT_EQ(sleeper_.sleeps(), std::vector<Millis>{Millis(2000)});
  EXPECT_EQ(counter_.Total(kRemote).calls, 1);
  EXPECT_EQ(counter_.Total(kRemote).attempts, 2);
}

TEST_F(RestClientTest, Given429WithHttpDateRetryAfterWhenGetThenWaitsUntilThatDate) {
  // FakeClock starts at 2026-01-01T00:00:00Z; ask for 00:00:07.
  ScriptedResponse limited;
  limited.status = 429;
  limited.headers.emplace_back("Retry-After", "Thu, 01 Jan 2026 00:00:07 GMT");
  server_.Enqueue(limited);
  auto client = MakeClient();
  auto r = client->Get("/v1/prices");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(sleeper_.sleeps(), std::vector<Millis>{Millis(7000)});
}

TEST_F(RestClientTest, GivenDroppedConnectionWhenGetThenRetriesWithJitteredBackoff) {
  ScriptedResponse drop;
  drop.drop = true;
  server_.Enqueue(drop);
  auto client = MakeClient();
  auto r = client->Get("/v1/customers/cus_1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server_.requests().size(), 2u);
  ASSERT_EQ(sleeper_.sleeps().size(), 1u);
  EXPECT_LE(sleeper_.sleeps()[0], RestClientOptions{}.backoff_base);  // first window: [0, base]
  EXPECT_EQ(client->retry_stats().retries.load(), 1);
}

TEST_F(RestClientTest, GivenSlowAnswerWhenGetThenTimesOutAndRetries) {
  ScriptedResponse slow;
  slow.delay_ms = 800;
  server_.Enqueue(slow);
  RestClientOptions o;
  o.timeout = Millis(200);
  auto client = MakeClient(nullptr, o);
  auto r = client->Get("/slow");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(counter_.Total(kRemote).attempts, 2);
}

TEST_F(RestClientTest, GivenOnlySlowAnswersWhenGetThenSurfacesTimeout) {
  ScriptedResponse slow;
  slow.delay_ms = 400;
  server_.SetDefault(slow);
  RestClientOptions o;
  o.timeout = Millis(150);
  o.retry.max_attempts = 2;
  auto client = MakeClient(nullptr, o);
  auto r = client->Get("/slow");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsTimeout()) << r.status().ToString();
  EXPECT_EQ(counter_.Total(kRemote).attempts, 2);
}

TEST_F(RestClientTest, GivenPostWithoutIdempotencyKeyWhen503ThenNotRetried) {
  server_.Enqueue(Status503("1"));
  auto client = MakeClient();
  auto r = client->PostForm("/v1/customers", {{"name", "Acme"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(server_.requests().size(), 1u);
  EXPECT_TRUE(sleeper_.sleeps().empty());
}

TEST_F(RestClientTest, GivenPostWithoutIdempotencyKeyWhenConnectionDropsThenNotRetried) {
  ScriptedResponse drop;
  drop.drop = true;
  server_.Enqueue(drop);
  auto client = MakeClient();
  auto r = client->PostJson("/v1/charges", "{}");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(RestClientTest, GivenPostWithIdempotencyKeyWhen503TwiceThenRetriedWithSameKey) {
  server_.Enqueue(Status503());
  server_.Enqueue(Status503());
  auto client = MakeClient();
  auto r = client->PostForm("/v1/customers", {{"name", "Acme"}}, "acct-001-create");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& req : requests) {
    EXPECT_EQ(req.Header("Idempotency-Key"), "acct-001-create");
    EXPECT_EQ(req.body, "name=Acme");
  }
  ASSERT_EQ(sleeper_.sleeps().size(), 2u);
  EXPECT_LE(sleeper_.sleeps()[1], Millis(2 * RestClientOptions{}.backoff_base.count()));
}

TEST_F(RestClientTest, GivenPersistent503WhenGetThenGivesUpAfterMaxAttempts) {
  server_.SetDefault(Status503());
  auto client = MakeClient();
  auto r = client->Get("/down");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(server_.requests().size(), 4u);
  EXPECT_EQ(sleeper_.sleeps().size(), 3u);
  EXPECT_EQ(client->retry_stats().gave_up.load(), 1);
  EXPECT_EQ(counter_.Total(kRemote).failures, 1);
}

TEST_F(RestClientTest, GivenRetryAfterBeyondLimitWhenGetThenAnswerGoesToCaller) {
  server_.Enqueue(Status503("3600"));
  auto client = MakeClient();
  auto r = client->Get("/maintenance");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(server_.requests().size(), 1u);
  EXPECT_TRUE(sleeper_.sleeps().empty());
}

TEST_F(RestClientTest, Given404WhenGetThenNoRetry) {
  ScriptedResponse missing;
  missing.status = 404;
  server_.Enqueue(missing);
  auto client = MakeClient();
  auto r = client->Get("/v1/customers/cus_missing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(RestClientTest, Given401WhenCallingWithOAuthThenRefreshesOnceAndRepeats) {
  ScriptedResponse expired;
  expired.status = 401;
  expired.body = R"([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])";
  server_.Enqueue(expired);
  FixedTokenSource source;
  auto auth = std::make_shared<OAuthTokenAuth>(source, redactor_, clock_);
  auto client = MakeClient(auth);
  auto r = client->Get("/services/data/v61.0/limits");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("Authorization"), "Bearer token-generation-1");
  EXPECT_EQ(requests[1].Header("Authorization"), "Bearer token-generation-2");
  EXPECT_EQ(source.fetches, 2);
}

TEST_F(RestClientTest, GivenRevokedCredentialsWhenCallingThenRefreshesOnlyOnce) {
  ScriptedResponse expired;
  expired.status = 401;
  server_.SetDefault(expired);
  FixedTokenSource source;
  auto client = MakeClient(std::make_shared<OAuthTokenAuth>(source, redactor_, clock_));
  auto r = client->Get("/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(server_.requests().size(), 2u);
  EXPECT_EQ(source.fetches, 2);
}

TEST_F(RestClientTest, BasicAuthSendsRfc7617Header) {
  auto client = MakeClient(std::make_shared<BasicAuth>("Aladdin", "open sesame", redactor_));
  ASSERT_TRUE(client->Get("/").ok());
  EXPECT_EQ(server_.requests().at(0).Header("Authorization"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_F(RestClientTest, GivenRateLimitWhenBurstingThenEachAttemptWaitsForAToken) {
  RestClientOptions o;
  o.rate_per_second = 10;
  o.burst = 1;
  auto client = MakeClient(nullptr, o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Get("/r").ok());
  EXPECT_EQ(sleeper_.sleeps(), (std::vector<Millis>{Millis(100), Millis(100)}));
}

TEST_F(RestClientTest, ReusesConnectionsForSequentialRequests) {
  auto client = MakeClient();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(client->Get("/k").value().status, 200);
  EXPECT_EQ(server_.requests().size(), 50u);
  // cpprest hands a connection back to its pool asynchronously, so under load a request may
  // open a new one; without keep-alive this would be 50.
  EXPECT_LE(server_.connections(), 10);
}

TEST_F(RestClientTest, SendsJsonAndFormBodiesWithTheirContentTypes) {
  auto client = MakeClient();
  ASSERT_TRUE(client->PostJson("/j", R"({"a":1})", "k-json").ok());
  ASSERT_TRUE(client->PostForm("/f", {{"items[0][price]", "p 1"}}, "k-form").ok());
  const auto requests = server_.requests();
  EXPECT_EQ(requests[0].Header("Content-Type").rfind("application/json", 0), 0u);
  EXPECT_EQ(requests[0].body, R"({"a":1})");
  EXPECT_EQ(requests[1].Header("Content-Type").rfind("application/x-www-form-urlencoded", 0), 0u);
  EXPECT_EQ(requests[1].body, "items%5B0%5D%5Bprice%5D=p%201");
}

TEST_F(RestClientTest, CountsCallsPerEndpoint) {
  auto client = MakeClient();
  ASSERT_TRUE(client->Get("/v1/customers?limit=10").ok());
  ASSERT_TRUE(client->Get("/v1/customers?limit=20").ok());
  ASSERT_TRUE(client->Get("/v1/prices").ok());
  const auto snap = counter_.Snapshot();
  EXPECT_EQ(snap.at("billing|GET /v1/customers").calls, 2);
  EXPECT_EQ(snap.at("billing|GET /v1/prices").calls, 1);
}

TEST_F(RestClientTest, TraceLogsNeverShowCredentialsOrTokens) {
  auto redactor = std::make_shared<Redactor>();
  testing::CaptureLog capture(redactor, spdlog::level::trace);
  ScriptedResponse token_answer;
  token_answer.body = R"({"access_token":"00D-issued-token-xyz","instance_url":"http://x"})";
  token_answer.headers.emplace_back("Set-Cookie", "sid=cookie-secret-123");
  server_.Enqueue(token_answer);
  auto client = MakeClient(std::make_shared<BearerTokenAuth>("sk_test_bearer_4242", *redactor));
  auto r = client->PostForm("/services/oauth2/token?client_secret=query-secret-1",
                            {{"grant_type", "client_credentials"},
                             {"client_id", "tandem-sandbox"},
                             {"client_secret", "form-secret-77"}},
                            "idem-1");
  ASSERT_TRUE(r.ok());
  const std::string text = capture.text();
  ASSERT_NE(text.find("/services/oauth2/token"), std::string::npos) << text;
  for (const char* secret : {"sk_test_bearer_4242", "form-secret-77", "query-secret-1",
                             "00D-issued-token-xyz", "cookie-secret-123"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
  EXPECT_NE(text.find("client_id=tandem-sandbox"), std::string::npos) << text;
}

}  // namespace
}  // namespace tandem::connector::http
