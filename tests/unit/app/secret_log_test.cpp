// A secret placed in the config (through env: or file:) never appears in the log, whatever
// logs it: the REST pipeline at trace level, a remote that echoes it back, or a careless
// log line.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "app/config.h"
#include "connector/http/rest_client.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/capture_log.h"
#include "tests/support/scripted_http_server.h"
#include "util/log.h"

namespace tandem::app {
namespace {

TEST(SecretsInLogs, ConfigSecretsNeverReachTheLogOutput) {
  constexpr char kApiKey[] = "sk_test_51SecretFromEnv";
  constexpr char kWebhook[] = "whsec_FromAFileNeverLogged";
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem_secret_log_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "whsec.txt") << kWebhook << "\n";
  std::ofstream(dir / "tandem.yaml") << "billing:\n  base_url: http://127.0.0.1:1\n"
                                        "  api_key: env:TEST_STRIPE_KEY\n"
                                        "  webhook_secret: file:whsec.txt\n";
  auto redactor = std::make_shared<Redactor>();
  auto config = LoadConfig((dir / "tandem.yaml").string(),
                           [&](const std::string& k) -> std::optional<std::string> {
                             if (k == "TEST_STRIPE_KEY") return std::string(kApiKey);
                             return std::nullopt;
                           },
                           *redactor);
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_EQ(config->billing.api_key, kApiKey);

  for (auto format : {log::Format::kText, log::Format::kJson}) {
    testing::CaptureLog capture(redactor, spdlog::level::trace, format);
    testing::ScriptedHttpServer server;
    // A remote that echoes the credentials back in a header and in the body.
    server.SetHandler([&](const testing::RecordedRequest& req) {
      testing::ScriptedResponse r;
      r.status = 400;
      r.headers.emplace_back("X-Echo", req.Header("Authorization"));
      r.body = std::string(R"({"error":{"message":"Invalid API Key provided: )") + kApiKey +
               R"(","webhook":")" + kWebhook + R"("}})";
      return r;
    });
    testing::FakeClock clock;
    testing::FakeSleeper sleeper(clock);
    SeededRandom random(1);
    connector::http::CallCounter counter;
    connector::http::RestClientOptions o;
    o.remote = "stripe";
    o.base_url = server.base_url();
    connector::http::RestClient client(
        o, {clock, sleeper, random, counter},
        std::make_shared<connector::http::BearerTokenAuth>(config->billing.api_key, *redactor));
    auto r = client.PostForm("/v1/customers", {{"description", kWebhook}}, "idem-key-1");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400);
    log::Get("app.careless")
        ->error("config dump: key={} webhook={}", config->billing.api_key,
                config->billing.webhook_secret);

    const std::string text = capture.text();
    EXPECT_NE(text.find("POST /v1/customers"), std::string::npos) << text;
    EXPECT_NE(text.find("config dump: key=*** webhook=***"), std::string::npos) << text;
    EXPECT_EQ(text.find(kApiKey), std::string::npos) << text;
    EXPECT_EQ(text.find(kWebhook), std::string::npos) << text;
    EXPECT_EQ(text.find("sk_test_51"), std::string::npos) << text;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::app
