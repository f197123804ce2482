// The operator console in a real browser: Debian's Chromium driven by puppeteer-core
// (tests/peers/console_browser_test.js) against `tandem serve` — the real binary, the sandboxes
// on loopback, a store — with a planted failure: a work order whose subscription billing
// refused. The page signs in with an operator token, shows the failed order, its Retry runs the
// order to completion, and the order's history shows who retried it. Billing holds one
// subscription: the retry reused the task's key, nothing was doubled.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/billing_backends.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/serve_process.h"
#include "tests/support/store_backends.h"
#include "tests/support/test_dates.h"
#include "util/net.h"

#include <sys/wait.h>

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "console-test-operator-token";

class ConsoleBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem_console_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<testing::ScopedStore>(testing::StoreBackend{"sqlite"}, "console");
    ASSERT_TRUE(store_->Open().ok());
    config_ = (dir_ / "tandem.yaml").string();
    testing::WriteSandboxConfigWith(config_, store_->options(), crm_.sandbox.base_url(),
                                    billing_.ConfigSection(), TANDEM_SOURCE_DIR,
                                    "server:\n  api_token: env:TANDEM_API_TOKEN\n"
                                    "schedules:\n  order_poll: 200ms\n  catalog_sync: 24h\n"
                                    "workers:\n  count: 1\n  lease: 5s\n");
    auto& billing = billing_.billing();
    const auto product = testing::CreateBillingProduct(billing, "Virtual Server", "p").value();
    const auto monthly =
        testing::CreateBillingPrice(billing, product.id, "eur", 3000, "month", "pm").value();
    const std::string pricebook = testing::CreatePricebook(crm_.client()).value();
    server_.product_crm =
        testing::CreateProduct2(crm_.client(), {"Virtual Server", "", "Virtual Server", "Base", ""})
            .value();
    server_.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook, server_.product_crm,
                                                      30.0, monthly.id)
                            .value();
    Json account = Json::MakeObject();
    account.Set("Name", "Console Co");
    const std::string account_id = crm_.client().Create("Account", account).value();
    // The planted failure: billing refuses the subscription once, as invalid (not retried).
    billing_.AddFault({"POST", "/v1/subscriptions", 400, "parameter_invalid_integer", 1, 0});
    const auto ids = testing::CreateOrders(
        crm_.client(),
        {{account_id, testing::TestMonth(0), "New", {{&server_, 1, 30.0, "", "", 12}}}});
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    order_ = ids->front();
    port_ = FreeLoopbackPort();
    pid_ = testing::StartServeProcess(TANDEM_BINARY, config_, (dir_ / "serve.log").string(), port_,
                                      {{"TANDEM_API_TOKEN", kToken}});
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  bool OrderFailed() {
    store::GroupFilter f;
    f.state = "failed";
    auto groups = (*store_)->ListGroups(f);
    return groups.ok() && groups->size() == 1 && groups->front().group_id == order_;
  }

  std::string Slurp(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::unique_ptr<testing::ScopedStore> store_;
  testing::SalesforceEnv crm_;
  testing::StripeBackend billing_;
  testing::CatalogProduct server_;
  fs::path dir_;
  std::string config_, order_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(ConsoleBrowser, AnOperatorSeesAFailedOrderRetriesItAndSeesItComplete) {
  ASSERT_STRNE(TANDEM_NODE, "") << "node is missing: apt-get install nodejs npm";
  ASSERT_STRNE(TANDEM_CHROMIUM, "") << "chromium is missing: apt-get install chromium";
  for (int i = 0; i < 600 && !OrderFailed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(OrderFailed()) << "the planted failure did not happen\n" << Slurp("serve.log");
  EXPECT_EQ(billing_.Count("subscription"), 0);

  // TANDEM_CONSOLE_SCREENSHOTS=docs/ keeps the pages (the docs' pictures); else a scratch folder.
  const char* keep = std::getenv("TANDEM_CONSOLE_SCREENSHOTS");
  const fs::path shots = keep && *keep ? fs::path(keep) : dir_;
  const std::string cmd = std::string(TANDEM_NODE) + " " + TANDEM_SOURCE_DIR +
                          "/tests/peers/console_browser_test.js --chromium " + TANDEM_CHROMIUM +
                          " --url http://127.0.0.1:" + std::to_string(port_) + " --token " +
                          kToken + " --order " + order_ + " --screenshots " + shots.string() +
                          " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out << "\n--- serve\n"
                                                             << Slurp("serve.log");
  std::cout << out;
  EXPECT_TRUE(fs::exists(shots / "console-failure.png"));
  EXPECT_TRUE(fs::exists(shots / "console-retried.png"));

  // The store agrees with what the page showed: every task done, one subscription in billing.
  const auto tasks = (*store_)->TasksInGroup(order_).value();
  EXPECT_FALSE(tasks.empty());
  for (const auto& t : tasks) EXPECT_EQ(t.state, "done") << t.key << ": " << t.last_error;
  EXPECT_EQ(billing_.Count("subscription"), 1);
  EXPECT_EQ(billing_.FaultHits("400"), 1) << "the planted fault never fired";
}

}  // namespace
}  // namespace tandem::app
