// The `tandem` binary as an operator meets it: help, exit codes, config errors, and the
// migration crash test (the process is killed inside a migration's transaction and
// between two migrations; the schema is never half-applied).
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/process.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/store_backends.h"

namespace tandem::app {
namespace {

using testing::ProcessRun;

ProcessRun Tandem(const std::string& args, const std::string& env = "") {
  return testing::RunTandem(TANDEM_BINARY, args, env);
}

TEST(Cli, HelpExitsZeroAndListsCommands) {
  ProcessRun r = Tandem("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* c : {"serve", "config check", "db migrate", "demo"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
}

// The demo's walk on the second billing system: every step, GTV's emulator instead of
// Stripe's (billing polled instead of webhooks). Stripe's walk runs in scripts/demo and the
// package test.
TEST(Cli, TheDemoWalksEveryStepOnGotransverse) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("tandem_gtv_demo_" + std::to_string(::getpid())))
          .string();
  ProcessRun r = Tandem("demo --billing gotransverse --workdir " + dir);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Gotransverse sandbox"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("every step passed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  ProcessRun bad = Tandem("demo --billing chargebee --workdir " + dir);
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* c : {"serve --help",
                        "config check --help",
                        "db migrate --help",
                        "db status --help",
                        "db --help",
                        "demo --help",
                        "migrate --help",
                        "migrate status --help",
                        "migrate list --help",
                        "migrate extract --help",
                        "migrate undo --help",
                        "workorder --help",
                        "workorder run --help",
                        "workorder list --help",
                        "workorder show --help",
                        "workorder retry --help",
                        "workorder restart --help",
                        "workorder dismiss --help",
                        "workorder complete --help",
                        "events --help",
                        "events list --help",
                        "history --help",
                        "sync failures --help",
                        "token --help",
                        "catalog --help",
                        "sandbox --help"}) {
    ProcessRun r = Tandem(c);
    EXPECT_EQ(r.exit_code, 0) << c << "\n" << r.out;
    EXPECT_NE(r.out.find("Usage: tandem"), std::string::npos) << c << "\n" << r.out;
  }
}

TEST(Cli, BadUsageExitsTwo) {
  EXPECT_EQ(Tandem("").exit_code, 2);
  EXPECT_EQ(Tandem("frobnicate").exit_code, 2);
  EXPECT_EQ(Tandem("--no-such-flag serve").exit_code, 2);
  EXPECT_EQ(Tandem("db migrate --no-such-flag").exit_code, 2);
  EXPECT_EQ(Tandem("--log-format xml db status --store sqlite::memory:").exit_code, 2);
  EXPECT_EQ(Tandem("config check").exit_code, 2);  // no --config
  EXPECT_EQ(Tandem("workorder list --older-than soon").exit_code, 2);
  EXPECT_EQ(Tandem("workorder retry").exit_code, 2);  // no ORDER_ID
  EXPECT_EQ(Tandem("sync failures --limit many").exit_code, 2);
}

// An argument a command does not take is a usage error naming it, never silently ignored.
TEST(Cli, AnArgumentACommandDoesNotTakeIsAUsageError) {
  for (const char* c :
       {"db status extra --store sqlite::memory:", "db migrate extra", "demo extra", "serve extra",
        "sandbox extra", "config check extra", "catalog sync extra", "reconcile extra",
        "migrate extra", "migrate status JOB extra", "migrate list extra",
        "workorder plan 801000000000001AAA extra", "workorder show 801000000000001AAA extra",
        "workorder list extra", "token list extra", "mapping check a.yaml b.yaml"}) {
    ProcessRun r = Tandem(c);
    EXPECT_EQ(r.exit_code, 2) << c << "\n" << r.out;
    const std::string word =
        std::string(c).find("b.yaml") != std::string::npos ? "'b.yaml'" : "'extra'";
    EXPECT_NE(r.out.find(word), std::string::npos) << c << "\n" << r.out;
  }
}

// `mapping check FILE` checks FILE, not the default mapping.
TEST(Cli, MappingCheckChecksTheFileItIsGiven) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem_cli_mapping_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "objects:\n  account:\n    crm: Account\n    fields: [unclosed\n";
  ProcessRun broken = Tandem("mapping check " + path.string());
  EXPECT_EQ(broken.exit_code, 2) << broken.out;
  EXPECT_NE(broken.out.find(path.string() + ":"), std::string::npos) << broken.out;
  ProcessRun flag = Tandem("mapping check --mapping " + path.string());
  EXPECT_EQ(flag.exit_code, 2) << flag.out;
  std::filesystem::remove(path);
  ProcessRun good =
      Tandem("mapping check " + std::string(TANDEM_SOURCE_DIR) + "/config/mapping.yaml");
  EXPECT_EQ(good.exit_code, 0) << good.out;
}

TEST(Cli, TokensAreMadeWithScopesAndAnUnknownScopeIsRefused) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem_cli_tokens_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "tandem.yaml").string();
  std::ofstream(config) << "store:\n  url: sqlite:" << (dir / "t.db").string() << "\n";
  const std::string base = "--config " + config + " token ";
  ProcessRun ops = Tandem(base + "create ops --scopes operator,actions");
  EXPECT_EQ(ops.exit_code, 0) << ops.out;
  EXPECT_NE(ops.out.find("\ntdm_"), std::string::npos) << ops.out;
  EXPECT_EQ(Tandem(base + "create crm").exit_code, 0);
  EXPECT_EQ(Tandem(base + "create night --scopes=operator").exit_code, 0);
  ProcessRun list = Tandem(base + "list");
  EXPECT_NE(list.out.find("crm\tactions\t"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("night\toperator\t"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("ops\tactions,operator\t"), std::string::npos) << list.out;
  ProcessRun bad = Tandem(base + "create x --scopes admin");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("unknown scope 'admin'"), std::string::npos) << bad.out;
  EXPECT_EQ(Tandem(base + "create y --scopes").exit_code, 2);
  EXPECT_EQ(Tandem(base + "list").out.find("\nx\t"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Cli, ConfigCheckReportsTheBrokenKeyAndExitsTwo) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem_cli_bad_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "store:\n  url: sqlite:x.db\nbilling:\n  timeout_ms: fast\n";
  ProcessRun r = Tandem("--config " + path.string() + " config check");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(
      r.out.find(path.string() + ":4:15: billing.timeout_ms: expected an integer, got 'fast'"),
      std::string::npos)
      << r.out;
  // Global options typed after the command are the same options (`=` form too).
  ProcessRun after = Tandem("config check --config " + path.string());
  EXPECT_EQ(after.exit_code, 2) << after.out;
  EXPECT_NE(after.out.find(path.string() + ":4:15:"), std::string::npos) << after.out;
  ProcessRun eq = Tandem("config check --log-level=warn --config=" + path.string());
  EXPECT_EQ(eq.exit_code, 2) << eq.out;
  EXPECT_NE(eq.out.find(path.string() + ":4:15:"), std::string::npos) << eq.out;
  std::filesystem::remove(path);
}

TEST(Cli, ConfigCheckAcceptsTheExampleAndNeverPrintsItsSecrets) {
  const std::string env =
      "TANDEM_API_TOKEN=tok-cli-visible-never STRIPE_API_KEY=sk_test_cli_never "
      "STRIPE_WEBHOOK_SECRET=whsec_cli_never";
  ProcessRun r = Tandem("--log-level trace --config " + std::string(TANDEM_SOURCE_DIR) +
                            "/config/tandem.example.yaml config check",
                        env);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(": OK"), std::string::npos);
  for (const char* s : {"tok-cli-visible-never", "sk_test_cli_never", "whsec_cli_never"})
    EXPECT_EQ(r.out.find(s), std::string::npos) << s;
}

class MigrationCrash : public ::testing::TestWithParam<testing::StoreBackend> {
 protected:
  void SetUp() override {
    if (!testing::ScopedStore::Available(GetParam())) GTEST_SKIP() << "no PostgreSQL";
    store_ = std::make_unique<testing::ScopedStore>(
        GetParam(), ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        /*migrate=*/false);
    ASSERT_TRUE(store_->Open().ok());
    // The binary reaches the same database (and PostgreSQL schema) through a config file.
    config_ = (std::filesystem::temp_directory_path() /
               ("tandem_crash_" + std::to_string(::getpid()) + ".yaml"))
                  .string();
    std::ofstream out(config_);
    testing::WriteStoreSection(out, config_, store_->options().url, store_->options().schema);
  }
  void TearDown() override {
    if (config_.empty()) return;
    std::filesystem::remove(config_);
    std::filesystem::remove(config_ + ".store-url");
  }

  int Version() { return (*store_)->SchemaVersion().value(); }
  bool HasTable(const std::string& t) {
    auto tables = (*store_)->TableNames().value();
    return std::find(tables.begin(), tables.end(), t) != tables.end();
  }

  std::unique_ptr<testing::ScopedStore> store_;
  std::string config_;
};

TEST_P(MigrationCrash, KilledInsideTheSecondMigrationLeavesTheFirstWhole) {
  ProcessRun r = Tandem("--config " + config_ + " db migrate",
                        "TANDEM_CRASH_AT=store.migration.before_commit#2");
  EXPECT_EQ(r.signal, 9) << r.out;
  EXPECT_EQ(Version(), 1);
  EXPECT_TRUE(HasTable("links"));
  EXPECT_FALSE(HasTable("tasks"));  // created by migration 2, rolled back with it
  EXPECT_FALSE(HasTable("inbox"));

  ProcessRun again = Tandem("--config " + config_ + " db migrate");
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(
      again.out.find("schema version 1 -> " + std::to_string(store::Store::LatestSchemaVersion())),
      std::string::npos)
      << again.out;
  EXPECT_TRUE(HasTable("tasks"));
}

TEST_P(MigrationCrash, KilledBetweenTwoMigrationsKeepsTheCommittedOne) {
  ProcessRun r = Tandem("--config " + config_ + " db migrate",
                        "TANDEM_CRASH_AT=store.migration.after_commit#1");
  EXPECT_EQ(r.signal, 9) << r.out;
  EXPECT_EQ(Version(), 1);
  EXPECT_TRUE(HasTable("audit"));
  EXPECT_FALSE(HasTable("jobs"));
  EXPECT_EQ(Tandem("--config " + config_ + " db migrate").exit_code, 0);
  EXPECT_EQ(Version(), store::Store::LatestSchemaVersion());
  ProcessRun status = Tandem("--config " + config_ + " db status");
  EXPECT_EQ(status.exit_code, 0) << status.out;
}

TEST_P(MigrationCrash, KilledInsideTheFirstMigrationLeavesNothing) {
  ProcessRun r = Tandem("--config " + config_ + " db migrate",
                        "TANDEM_CRASH_AT=store.migration.before_commit");
  EXPECT_EQ(r.signal, 9) << r.out;
  EXPECT_EQ(Version(), 0);
  EXPECT_FALSE(HasTable("links"));
  ProcessRun status = Tandem("--config " + config_ + " db status");
  EXPECT_EQ(status.exit_code, 1) << status.out;  // behind the latest schema
}

INSTANTIATE_TEST_SUITE_P(Backends, MigrationCrash,
                         ::testing::Values(testing::StoreBackend{"sqlite"},
                                           testing::StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::app
