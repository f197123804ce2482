#include "app/config.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

namespace tandem::app {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem_config_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  Result<Config> Load(const std::string& path) {
    return LoadConfig(
        path,
        [this](const std::string& k) -> std::optional<std::string> {
          auto it = env_.find(k);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        },
        redactor_);
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
  Redactor redactor_;
};

TEST_F(ConfigTest, TheShippedExampleIsValidWhenItsSecretsAreSet) {
  env_ = {{"TANDEM_API_TOKEN", "api-token-123"},
          {"STRIPE_API_KEY", "sk_test_example_key"},
          {"STRIPE_WEBHOOK_SECRET", "whsec_example"}};
  auto c = Load(std::string(TANDEM_SOURCE_DIR) + "/config/tandem.example.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->store.url, "sqlite:/var/lib/tandem/tandem.db");
  EXPECT_EQ(c->server.port, 8080);
  EXPECT_EQ(c->crm.auth_flow, "jwt_bearer");
  EXPECT_NE(c->crm.private_key.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(c->billing.api_key, "sk_test_example_key");
  EXPECT_EQ(c->billing.webhook_tolerance_s, 300);
  EXPECT_EQ(c->schedules.catalog_sync_ms, 15 * 60'000);
  EXPECT_EQ(c->retention.event_payloads_ms, 30 * 24 * 3'600'000LL);
  EXPECT_EQ(c->retention.sync_jobs_ms, 7 * 24 * 3'600'000LL);
  EXPECT_EQ(redactor_.Scrub("sk_test_example_key api-token-123"), "*** ***");
}

// Paths the file names are relative to the file's folder, not to the working directory
// (systemd runs the service from /, and /etc/tandem/tandem.yaml names /etc/tandem/mapping.yaml).
TEST_F(ConfigTest, PathsTheFileNamesAreRelativeToItsFolder) {
  auto c =
      Load(Write("tandem.yaml", "paths:\n  mapping: mapping.yaml\n  workorders: /abs/wo.yaml\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mapping_path, (dir_ / "mapping.yaml").string());
  EXPECT_EQ(c->workorders_path, "/abs/wo.yaml");
  auto defaults = Load(Write("empty.yaml", ""));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->mapping_path, "config/mapping.yaml");  // a default is not the file's
}

TEST_F(ConfigTest, RetentionPeriodsAreRead) {
  auto c = Load(Write("retention.yaml", "retention:\n  event_payloads: 3d\n  sync_jobs: 36h\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->retention.event_payloads_ms, 3 * 24 * 3'600'000LL);
  EXPECT_EQ(c->retention.sync_jobs_ms, 36 * 3'600'000LL);
  EXPECT_FALSE(Load(Write("typo.yaml", "retention:\n  sync_job: 1d\n")).ok());
}

TEST_F(ConfigTest, AnEmptyFileMeansAllDefaults) {
  auto c = Load(Write("empty.yaml", ""));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->store.url, "sqlite:tandem.db");
  EXPECT_EQ(c->crm.api_version, "61.0");
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineColumnAndTheKeysExpected) {
  const auto path = Write("bad.yaml", "store:\n  url: sqlite:x.db\n  pool_sise: 3\n");
  auto c = Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(
      c.status().message(),
      path +
          ":3:3: store.pool_sise: unknown key (expected one of: url, password, pool_size, schema)");
}

TEST_F(ConfigTest, WrongTypeSaysWhatWasExpected) {
  const auto path =
      Write("bad.yaml", "store:\n  pool_size: lots\nschedules:\n  order_poll: soon\n");
  auto c = Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      c.status().message().find(path + ":2:14: store.pool_size: expected an integer, got 'lots'"),
      std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find(":4:15: schedules.order_poll: expected a duration"),
            std::string::npos)
      << c.status().message();
}

TEST_F(ConfigTest, OutOfRangeAndBadEnumAreRejected) {
  auto c = Load(Write("bad.yaml", "store:\n  pool_size: 500\nlogging:\n  format: xml\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("store.pool_size: expected a value from 1 to 64, got 500"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("logging.format: expected one of text, json, got 'xml'"),
            std::string::npos)
      << c.status().message();
}

// billing.in_flight: as set, or enough to fill the rate limit at 400 ms a call.
// billing.in_flight caps what the flow control asks for (connector/http/flow_control.h); unset,
// the cap is 64. workers.batch: the tasks a worker runs at once (0: follow billing).
TEST_F(ConfigTest, BillingCallsInFlightFollowTheRemoteUpToACap) {
  auto defaults = Load(Write("d.yaml", "billing:\n  rate_per_second: 100\n"));
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(BillingInFlight(defaults->billing), 64);
  EXPECT_EQ(defaults->workers.count, 4);
  EXPECT_EQ(defaults->workers.batch, 0);
  auto set = Load(
      Write("x.yaml", "billing:\n  rate_per_second: 100\n  in_flight: 3\nworkers:\n  batch: 12\n"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(BillingInFlight(set->billing), 3);
  EXPECT_EQ(set->workers.batch, 12);
  auto bad = Load(Write("b.yaml", "billing:\n  in_flight: 65\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("billing.in_flight: expected a value from 0 to 64"),
            std::string::npos)
      << bad.status().message();
}

TEST_F(ConfigTest, ASecretWrittenInClearIsRefusedWithoutEchoingIt) {
  auto c = Load(Write("bad.yaml", "billing:\n  api_key: sk_live_abcdef123456\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(":2:12: billing.api_key: a secret must be a reference"),
            std::string::npos)
      << c.status().message();
  EXPECT_EQ(c.status().message().find("sk_live_abcdef123456"), std::string::npos);
}

TEST_F(ConfigTest, MissingEnvironmentVariableIsNamed) {
  auto c = Load(Write("bad.yaml", "server:\n  api_token: env:NOT_SET_ANYWHERE\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(
                "server.api_token: environment variable NOT_SET_ANYWHERE is not set"),
            std::string::npos)
      << c.status().message();
}

TEST_F(ConfigTest, FileSecretIsReadRelativeToTheConfigAndTrimmed) {
  Write("token.txt", "file-token-value\n");
  auto c = Load(Write("ok.yaml", "server:\n  api_token: file:token.txt\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->server.api_token, "file-token-value");
  EXPECT_EQ(redactor_.Scrub("x file-token-value y"), "x *** y");
}

TEST_F(ConfigTest, YamlSyntaxErrorHasPosition) {
  const auto path = Write("bad.yaml", "store:\n  url: [unclosed\n");
  auto c = Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind(path + ":", 0), 0u) << c.status().message();
  EXPECT_NE(c.status().message().find("YAML syntax"), std::string::npos);
}

TEST_F(ConfigTest, BadUrlsAndListenAddressesAreRejected) {
  auto c = Load(
      Write("bad.yaml",
            "store:\n  url: mysql://x\nserver:\n  listen: nowhere\ncrm:\n  base_url: ftp://x\n"));
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_NE(m.find("store.url: expected sqlite:PATH or postgresql://"), std::string::npos) << m;
  EXPECT_NE(m.find("server.listen: expected HOST:PORT"), std::string::npos) << m;
  EXPECT_NE(m.find("crm.base_url: expected an http:// or https:// URL"), std::string::npos) << m;
}

// A database password written in the file would be in every backup and every support bundle.
TEST_F(ConfigTest, AStorePasswordIsAcceptedOnlyAsASecretReference) {
  for (const char* url : {"postgresql://tandem:hunter2secret@db:5432/tandem",
                          "postgresql:host=db dbname=tandem password=hunter2secret",
                          "postgresql:host=db password = 'hunter2secret'"}) {
    auto c = Load(Write("bad.yaml", std::string("store:\n  url: \"") + url + "\"\n"));
    ASSERT_FALSE(c.ok()) << url;
    const std::string m = c.status().message();
    EXPECT_NE(m.find("bad.yaml:2:"), std::string::npos) << m;
    EXPECT_NE(m.find("store.url: a password written in clear"), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2secret"), std::string::npos) << m;
  }
  // An unknown scheme is named without the rest, which may hold credentials.
  auto scheme = Load(Write("bad.yaml", "store:\n  url: mysql://root:hunter2secret@db/x\n"));
  ASSERT_FALSE(scheme.ok());
  EXPECT_EQ(scheme.status().message().find("hunter2secret"), std::string::npos);

  // A secret that resolves to no URL at all is refused without being shown.
  env_ = {{"BAD_URL", "host=db user=t password=hunter2secret"}};
  auto bad_ref = Load(Write("bad.yaml", "store:\n  url: env:BAD_URL\n"));
  ASSERT_FALSE(bad_ref.ok());
  EXPECT_EQ(bad_ref.status().message().find("hunter2secret"), std::string::npos)
      << bad_ref.status().message();
  auto no_scheme = Load(Write("bad.yaml", "store:\n  url: host=db password=hunter2secret\n"));
  ASSERT_FALSE(no_scheme.ok());
  EXPECT_EQ(no_scheme.status().message().find("hunter2secret"), std::string::npos)
      << no_scheme.status().message();

  env_ = {{"PGPW", "it's s3cret"}, {"STORE_URL", "postgresql://tandem:urlsecret@db/tandem"}};
  auto with_password = Load(Write(
      "ok.yaml", "store:\n  url: postgresql://tandem@db:5432/tandem\n  password: env:PGPW\n"));
  ASSERT_TRUE(with_password.ok()) << with_password.status().ToString();
  EXPECT_EQ(with_password->store.url,
            "postgresql:user='tandem' host='db' port='5432' dbname='tandem' "
            "password='it\\'s s3cret'");
  auto whole = Load(Write("ok.yaml", "store:\n  url: env:STORE_URL\n"));
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->store.url, "postgresql://tandem:urlsecret@db/tandem");
  EXPECT_EQ(redactor_.Scrub("it's s3cret"), "***");
  // A password in clear under store.password is refused like any other secret.
  auto clear = Load(Write("bad.yaml", "store:\n  url: postgresql://db/t\n  password: hunter2\n"));
  ASSERT_FALSE(clear.ok());
  EXPECT_NE(clear.status().message().find("store.password"), std::string::npos);
  auto sqlite = Load(Write("bad.yaml", "store:\n  url: sqlite:x.db\n  password: env:PGPW\n"));
  ASSERT_FALSE(sqlite.ok());
  EXPECT_NE(sqlite.status().message().find("store.password: a password is for a PostgreSQL"),
            std::string::npos)
      << sqlite.status().message();
}

TEST_F(ConfigTest, ScheduledReconcileAndSyncRetryAreRead) {
  auto c = Load(Write("ok.yaml",
                      "reconcile:\n  every: 24h\n  objects: [account, invoice]\n  fix: true\n"
                      "  report_dir: reports\nsync_retry:\n  first: 10m\n  give_up_after: 3d\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->reconcile.every_ms, 24 * 3'600'000LL);
  EXPECT_EQ(c->reconcile.objects, (std::vector<std::string>{"account", "invoice"}));
  EXPECT_TRUE(c->reconcile.fix);
  EXPECT_EQ(c->reconcile.report_dir, (dir_ / "reports").string());
  EXPECT_EQ(c->sync_retry.first_ms, 10 * 60'000);
  EXPECT_EQ(c->sync_retry.max_interval_ms, 12 * 3'600'000LL);
  EXPECT_EQ(c->sync_retry.give_up_after_ms, 3 * 86'400'000LL);
  auto bad = Load(
      Write("bad.yaml", "reconcile:\n  objects: account\n  fix: yes\nsync_retry:\n  first: 13h\n"));
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  EXPECT_NE(m.find("reconcile.objects: expected a list"), std::string::npos) << m;
  EXPECT_NE(m.find("reconcile.fix: expected true or false, got 'yes'"), std::string::npos) << m;
  EXPECT_NE(m.find("sync_retry.max_interval: must not be shorter"), std::string::npos) << m;
}

TEST_F(ConfigTest, MissingFileIsAClearError) {
  auto c = Load((dir_ / "nope.yaml").string());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cannot read the config file"), std::string::npos);
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(ParseDurationMs("500ms"), 500);
  EXPECT_EQ(ParseDurationMs("30s"), 30'000);
  EXPECT_EQ(ParseDurationMs("15m"), 900'000);
  EXPECT_EQ(ParseDurationMs("2h"), 7'200'000);
  EXPECT_EQ(ParseDurationMs("1d"), 86'400'000);
  EXPECT_FALSE(ParseDurationMs("15").has_value());
  EXPECT_FALSE(ParseDurationMs("m").has_value());
  EXPECT_FALSE(ParseDurationMs("1.5h").has_value());
}

}  // namespace
}  // namespace tandem::app
