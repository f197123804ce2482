// `tandem serve` running work orders as an operator runs it: the real binary, the sandboxes
// on loopback, a real store. Killed with SIGKILL in the middle of a 200-order batch and
// restarted, every order completes and nothing is applied twice in billing; two processes
// on one PostgreSQL share 500 tasks and each task runs exactly once.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/process.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "util/net.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

class ServeWorkOrders : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    dir_ = fs::temp_directory_path() /
           ("tandem_serve_wo_" + std::to_string(::getpid()) + "_" + GetParam().name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "tandem.yaml").string();
    testing::WriteSandboxConfig(config_, store_->options(), crm_.sandbox.base_url(),
                                stripe_.sandbox.base_url(), TANDEM_SOURCE_DIR,
                                "schedules:\n  order_poll: 200ms\n  catalog_sync: 24h\n"
                                "workers:\n  count: 2\n  lease: 2s\n");
    // The catalog and the customer.
    connector::billing::Product p;
    p.name = "Virtual Server";
    const auto product = stripe_.billing().CreateProduct(p, "p").value();
    connector::billing::Price price;
    price.product_id = product.id;
    price.currency = "eur";
    price.unit_amount_minor = 3000;
    price.interval = "month";
    const auto monthly = stripe_.billing().CreatePrice(price, "pm").value();
    price.interval = "";
    price.unit_amount_minor = 9900;
    const auto once = stripe_.billing().CreatePrice(price, "po").value();
    Json book = Json::MakeObject();
    book.Set("Name", "Standard Price Book");
    const std::string pricebook = crm_.client().Create("Pricebook2", book).value();
    auto product2 = [&](const std::string& name, const std::string& family,
                        const std::string& kind) {
      Json p2 = Json::MakeObject();
      p2.Set("Name", name);
      p2.Set("Family", family);
      p2.Set("Product_Kind__c", kind);
      return crm_.client().Create("Product2", p2).value();
    };
    auto entry = [&](const std::string& product_id, const std::string& billing_price) {
      Json e = Json::MakeObject();
      e.Set("Pricebook2Id", pricebook);
      e.Set("Product2Id", product_id);
      e.Set("UnitPrice", 30.0);
      e.Set("Billing_Price_Id__c", billing_price);
      return crm_.client().Create("PricebookEntry", e).value();
    };
    server_ = product2("Virtual Server", "Virtual Server", "Base");
    fee_ = product2("Setup Fee", "Fees", "Fee");
    server_entry_ = entry(server_, monthly.id);
    fee_entry_ = entry(fee_, once.id);
    Json account = Json::MakeObject();
    account.Set("Name", "Serve Co");
    account_ = crm_.client().Create("Account", account).value();
  }
  void TearDown() override {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // n activated orders: a 12-month server (4 tasks with the account sync), and with `fee` a
  // one-time setup fee too (2 more).
  void MakeOrders(int n, bool fee) {
    std::vector<Json> orders;
    for (int i = 0; i < n; ++i) {
      Json o = Json::MakeObject();
      o.Set("AccountId", account_);
      o.Set("EffectiveDate", "2026-01-01");
      o.Set("Status", "Activated");
      o.Set("Operation_Type__c", "New");
      orders.push_back(o);
    }
    std::vector<Json> items;
    const auto created = crm_.client().CreateMany("Order", orders).value();
    for (const auto& r : created) {
      Json it = Json::MakeObject();
      it.Set("OrderId", r.id);
      it.Set("Product2Id", server_);
      it.Set("PricebookEntryId", server_entry_);
      it.Set("Quantity", 1);
      it.Set("UnitPrice", 30.0);
      it.Set("Term_Months__c", 12);
      items.push_back(it);
      if (fee) {
        Json f = it;
        f.Set("Product2Id", fee_);
        f.Set("PricebookEntryId", fee_entry_);
        f.Set("UnitPrice", 99.0);
        items.push_back(f);
      }
      order_ids_.push_back(r.id);
    }
    for (size_t start = 0; start < items.size(); start += 200) {
      std::vector<Json> part(
          items.begin() + static_cast<long>(start),
          items.begin() + static_cast<long>(std::min(items.size(), start + 200)));
      const auto saved = crm_.client().CreateMany("OrderItem", part).value();
      for (const auto& r : saved) ASSERT_TRUE(r.success) << r.ErrorText();
    }
  }

  // `crash_at` arms a crash point in the process (TANDEM_CRASH_AT): it kills itself there.
  pid_t StartServe(const std::string& log_name, const std::string& crash_at = "") {
    const int port = FreeLoopbackPort();
    const std::string log = (dir_ / log_name).string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("SF_SECRET", "sandbox-secret", 1);
      ::setenv("STRIPE_KEY", "sk_test_sandbox", 1);
      if (!crash_at.empty()) ::setenv("TANDEM_CRASH_AT", crash_at.c_str(), 1);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      const std::string listen = "127.0.0.1:" + std::to_string(port);
      ::execl(TANDEM_BINARY, TANDEM_BINARY, "--config", config_.c_str(), "serve", "--listen",
              listen.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pids_.push_back(pid);
    ports_[pid] = port;
    return pid;
  }

  int StopServe(pid_t pid, int sig) {
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
    return status;
  }

  // Waits up to `seconds` for the process to end by itself; its wait status, or -1.
  int WaitExit(pid_t pid, int seconds) {
    for (int i = 0; i < seconds * 20; ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  // The process's count of tasks it completed, from its /metrics.
  int64_t TasksDone(pid_t pid) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(ports_[pid]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string text;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
      (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    const std::string key = "tandem_workorder_tasks_total{outcome=\"done\"} ";
    const auto at = text.find(key);
    return at == std::string::npos ? 0 : std::atoll(text.c_str() + at + key.size());
  }

  // The 200-order batch, the first process killed by its own crash point `point` at its
  // `hit`-th hit (mid-batch), then a second process: every order completes once, nothing is
  // applied twice in billing, and reconcile finds the inventory in step.
  // `claimed`: the kill must leave tasks claimed (a point inside a task; a point between tasks
  // may fall after the last task of both workers' batches).
  void KilledAtThenRestarted(const std::string& point, int hit = 300, bool claimed = true) {
    const int n = 200;
    MakeOrders(n, /*fee=*/true);  // 1,200 tasks
    const pid_t first = StartServe("first.log", point + "#" + std::to_string(hit));
    const int died = WaitExit(first, 180);
    ASSERT_NE(died, -1) << "the crash point was never reached\n" << Slurp("first.log");
    ASSERT_TRUE(WIFSIGNALED(died) && WTERMSIG(died) == SIGKILL) << Slurp("first.log");
    EXPECT_LT(Completed(), n) << "the batch was not in the middle";
    int running = 0;  // tasks the dead process still held
    for (const auto& order : order_ids_) {
      const auto group = (*store_)->TasksInGroup(order).value();
      for (const auto& t : group) running += t.state == "running";
    }
    if (claimed) {
      EXPECT_GE(running, 1) << "the kill left no task claimed";
    }

    const pid_t second = StartServe("second.log");
    EXPECT_TRUE(WaitFor([&] { return Completed() == n; }, 240)) << Completed() << " completed\n"
                                                                << Slurp("second.log");
    const int stopped = StopServe(second, SIGTERM);
    EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << Slurp("second.log");

    // Nothing applied twice: one subscription and one setup fee per order, one customer.
    EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), n);
    EXPECT_EQ(stripe_.sandbox.CountObjects("invoiceitem"), n);
    EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 1);
    EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), n);
    EXPECT_EQ(crm_.sandbox.CountRecords("Service_Add_On__c"), n);
    // `tandem reconcile` finds the service inventory in step with billing. (The account's
    // billing currency and invoices come by webhooks, which this test does not route to serve.)
    testing::ProcessRun reconciled =
        testing::RunTandem(TANDEM_BINARY,
                           "--config " + config_ + " reconcile --object subscription --report " +
                               (dir_ / "reconcile.csv").string(),
                           testing::SandboxEnv());
    EXPECT_EQ(reconciled.exit_code, 0) << reconciled.out;
    EXPECT_NE(reconciled.out.find("subscription: " + std::to_string(n) + " checked, 0 differences"),
              std::string::npos)
        << reconciled.out;
  }

  int64_t Completed() {
    int64_t n = 0;
    (void)crm_.client().Query("SELECT Id FROM Order WHERE Automation_Status__c = 'Completed'",
                              [&](const Json&) {
                                ++n;
                                return Status::Ok();
                              });
    return n;
  }

  bool WaitFor(const std::function<bool()>& done, int seconds) {
    for (int i = 0; i < seconds * 20; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  std::string Slurp(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  fs::path dir_;
  std::string config_, server_, fee_, server_entry_, fee_entry_, account_;
  std::vector<std::string> order_ids_;
  std::vector<pid_t> pids_;
  std::map<pid_t, int> ports_;
};

// Killed after claiming a task, before running it: the task waits out its lease and runs once.
TEST_P(ServeWorkOrders, KilledJustBeforeATaskThenRestartedEveryOrderCompletesOnce) {
  KilledAtThenRestarted("workorders.before_task");
}

// Killed after billing did the work, before the result was recorded: the task runs again and
// its idempotency key makes billing answer with what it did, not do it twice.
TEST_P(ServeWorkOrders, KilledAfterATaskBeforeItsResultThenRestartedNothingDoubles) {
  KilledAtThenRestarted("workorders.after_task");
}

// Killed after an order's last task was recorded but before the CRM heard the order was
// complete: nothing would bring that order back to a worker (the poller takes new orders only);
// the store holds the report owed, and the second process writes it.
TEST_P(ServeWorkOrders, KilledBeforeAnOrdersCompletionReachedTheCrmThenRestartedItIsReported) {
  KilledAtThenRestarted("workorders.before_completed_report", 100, /*claimed=*/false);
}

TEST_P(ServeWorkOrders, SigtermMidBatchFinishesOrGivesBackEveryClaimedTask) {
  const int n = 60;
  MakeOrders(n, /*fee=*/false);
  const pid_t first = StartServe("term.log");
  ASSERT_TRUE(WaitFor([&] { return stripe_.sandbox.CountObjects("subscription") >= 10; }, 120))
      << Slurp("term.log");
  const auto asked = std::chrono::steady_clock::now();
  const int stopped = StopServe(first, SIGTERM);
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << Slurp("term.log");
  EXPECT_LT(took, std::chrono::seconds(30)) << "a graceful stop waits for running tasks only";
  EXPECT_LT(Completed(), n) << "the batch was not in the middle";
  // Nothing is left claimed by the stopped process: the next one starts on it at once.
  for (const auto& order : order_ids_) {
    const auto group = (*store_)->TasksInGroup(order).value();
    for (const auto& t : group)
      EXPECT_NE(t.state, "running") << t.key << " still claimed by " << t.claimed_by;
  }
  const pid_t second = StartServe("term2.log");
  EXPECT_TRUE(WaitFor([&] { return Completed() == n; }, 240)) << Slurp("term2.log");
  EXPECT_EQ(StopServe(second, SIGTERM), 0);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), n);
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), n);
}

TEST_P(ServeWorkOrders, TwoProcessesShareFiveHundredTasksEachRunOnce) {
  if (GetParam().name != "postgresql") GTEST_SKIP() << "several processes need PostgreSQL";
  MakeOrders(125, /*fee=*/false);  // 125 orders × 4 tasks
  const pid_t a = StartServe("a.log"), b = StartServe("b.log");
  EXPECT_TRUE(WaitFor([&] { return Completed() == 125; }, 240)) << Completed() << " completed\n"
                                                                << Slurp("a.log") << Slurp("b.log");
  // Both processes did part of the work (each completed tasks), and together all of it.
  // A batch's count reaches /metrics just after its orders show Completed: wait for it.
  int64_t done_a = 0, done_b = 0;
  WaitFor(
      [&] {
        done_a = TasksDone(a);
        done_b = TasksDone(b);
        return done_a + done_b == 500;
      },
      20);
  EXPECT_GT(done_a, 0) << "process a completed no task";
  EXPECT_GT(done_b, 0) << "process b completed no task";
  EXPECT_EQ(done_a + done_b, 500);
  EXPECT_EQ(StopServe(a, SIGTERM), 0);
  EXPECT_EQ(StopServe(b, SIGTERM), 0);
  int tasks = 0;
  for (const auto& order : order_ids_) {
    const auto group = (*store_)->TasksInGroup(order).value();
    for (const auto& t : group) {
      ++tasks;
      EXPECT_EQ(t.state, "done") << t.key;
      EXPECT_EQ(t.attempts, 1) << t.key << " ran more than once";
    }
  }
  EXPECT_EQ(tasks, 500);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 125);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeWorkOrders,
                         ::testing::Values(testing::StoreBackend{"sqlite"},
                                           testing::StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::app
