// `tandem serve` running work orders as an operator runs it: the real binary, the sandboxes
// on loopback, a real store. Killed with SIGKILL in the middle of a 200-order batch and
// restarted, every order completes and nothing is applied twice in billing — on Stripe (its
// idempotency keys) and on Gotransverse (no keys: the adapter looks up what it made); two
// processes on one PostgreSQL share 500 tasks and each task runs exactly once.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/billing_backends.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"
#include "tests/support/process.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/serve_process.h"
#include "tests/support/store_backends.h"
#include "tests/support/test_dates.h"
#include "util/net.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace tandem::app {
namespace {

namespace fs = std::filesystem;
using sandbox::salesforce::SalesforceFault;

// A store and a billing system to run `serve` on.
struct ServeCase {
  testing::StoreBackend store;
  testing::BillingBackendParam billing;
};
void PrintTo(const ServeCase& c, std::ostream* os) { *os << c.store.name << " " << c.billing.name; }
std::string CaseName(const ::testing::TestParamInfo<ServeCase>& info) {
  const std::string store = info.param.store.name == "postgresql" ? "PostgreSQL" : "SQLite";
  return info.param.billing.name == "stripe" ? store : store + "_Gotransverse";
}

class ServeWorkOrders : public ::testing::TestWithParam<ServeCase> {
 protected:
  void SetUp() override {
    const ServeCase& c = GetParam();
    if (!testing::ScopedStore::Available(c.store)) GTEST_SKIP() << "no PostgreSQL (set PG_CONN)";
    store_ = std::make_unique<testing::ScopedStore>(
        c.store, ::testing::UnitTest::GetInstance()->current_test_info()->name());
    const Status opened = store_->Open();
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    billing_ = c.billing.make();
    dir_ = fs::temp_directory_path() / ("tandem_serve_wo_" + std::to_string(::getpid()) + "_" +
                                        c.store.name + "_" + c.billing.name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "tandem.yaml").string();
    testing::WriteSandboxConfigWith(config_, store_->options(), crm_.sandbox.base_url(),
                                    billing_->ConfigSection(), TANDEM_SOURCE_DIR,
                                    "schedules:\n  order_poll: 200ms\n  catalog_sync: 24h\n"
                                    "workers:\n  count: 2\n  lease: 2s\n");
    // The catalog and the customer: one billing product, priced monthly and once.
    auto& billing = billing_->billing();
    const auto product = testing::CreateBillingProduct(billing, "Virtual Server", "p").value();
    const auto monthly =
        testing::CreateBillingPrice(billing, product.id, "eur", 3000, "month", "pm").value();
    const auto once =
        testing::CreateBillingPrice(billing, product.id, "eur", 9900, "", "po").value();
    const std::string pricebook = testing::CreatePricebook(crm_.client()).value();
    server_.product_crm =
        testing::CreateProduct2(crm_.client(), {"Virtual Server", "", "Virtual Server", "Base", ""})
            .value();
    fee_.product_crm =
        testing::CreateProduct2(crm_.client(), {"Setup Fee", "", "Fees", "Fee", ""}).value();
    server_.entry_crm = testing::CreatePricebookEntry(crm_.client(), pricebook, server_.product_crm,
                                                      30.0, monthly.id)
                            .value();
    fee_.entry_crm =
        testing::CreatePricebookEntry(crm_.client(), pricebook, fee_.product_crm, 30.0, once.id)
            .value();
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
    std::vector<testing::OrderSpec> orders;
    for (int i = 0; i < n; ++i) {
      testing::OrderSpec o{
          account_, testing::TestMonth(0), "New", {{&server_, 1, 30.0, "", "", 12}}};
      if (fee) o.lines.push_back({&fee_, 1, 99.0, "", "", 12});
      orders.push_back(o);
    }
    const auto ids = testing::CreateOrders(crm_.client(), orders);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    order_ids_.insert(order_ids_.end(), ids->begin(), ids->end());
  }

  // `crash_at` arms a crash point in the process (TANDEM_CRASH_AT): it kills itself there.
  pid_t StartServe(const std::string& log_name, const std::string& crash_at = "") {
    const int port = FreeLoopbackPort();
    const std::string log = (dir_ / log_name).string();
    std::vector<std::pair<std::string, std::string>> env;
    if (!crash_at.empty()) env.emplace_back("TANDEM_CRASH_AT", crash_at);
    const pid_t pid = testing::StartServeProcess(TANDEM_BINARY, config_, log, port, env);
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
    return Metric(pid, "tandem_workorder_tasks_total{outcome=\"done\"}");
  }

  // One value from the process's /metrics (0 when absent).
  int64_t Metric(pid_t pid, const std::string& name) {
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
    const std::string key = "\n" + name + " ";  // the sample, not its # HELP line
    const auto at = text.find(key);
    return at == std::string::npos ? 0 : std::atoll(text.c_str() + at + key.size());
  }

  // The 200-order batch, the first process killed by its own crash point `point` at its
  // `hit`-th hit (mid-batch), then a second process: every order completes once, nothing is
  // applied twice in billing, and reconcile finds the inventory in step.
  // `claimed`: the kill must leave tasks claimed (a point inside a task; a point between tasks
  // may fall after the last task of both workers' batches).
  void KilledAtThenRestarted(const std::string& point, int hit = 300, bool claimed = true,
                             bool writing = false) {
    const int n = 200;
    MakeOrders(n, /*fee=*/true);  // 1,200 tasks
    const pid_t first = StartServe("first.log", point + "#" + std::to_string(hit));
    const int died = WaitExit(first, 180);
    // A log's end, not all of it: a CI printout that is cut keeps the failure.
    ASSERT_NE(died, -1) << "the crash point was never reached\n" << Tail("first.log");
    ASSERT_TRUE(WIFSIGNALED(died) && WTERMSIG(died) == SIGKILL) << Ended(died, "first.log");
    EXPECT_LT(Completed(), n) << "the batch was not in the middle";
    int running = 0;  // tasks the dead process still held
    for (const auto& order : order_ids_) {
      const auto group = (*store_)->TasksInGroup(order).value();
      for (const auto& t : group) running += t.state == "running";
    }
    if (claimed) {
      EXPECT_GE(running, 1) << "the kill left no task claimed";
    }
    if (writing) {
      const auto due = (*store_)->ReportsDue(INT64_MAX, 100000).value();
      EXPECT_TRUE(std::any_of(due.begin(), due.end(), [](const auto& d) { return d.writing; }))
          << "the write in flight left no row for the sweep";
    }

    const pid_t second = StartServe("second.log");
    // The log first and what is unfinished last: a CI printout keeps a failure's end.
    EXPECT_TRUE(WaitFor([&] { return Completed() == n; }, 240))
        << "--- second process, its last lines\n"
        << Tail("second.log", 80) << "--- unfinished\n"
        << Unfinished() << TaskStates();
    const int stopped = StopServe(second, SIGTERM);
    EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << Ended(stopped, "second.log");

    // Nothing applied twice: one subscription and one setup fee per order, one customer.
    EXPECT_EQ(billing_->Count("subscription"), n);
    EXPECT_EQ(billing_->Count("charge"), n);
    EXPECT_EQ(billing_->Count("account"), 1);
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
    // And in money: billing charges what was sold, once (a doubled item would be over-billed).
    testing::ProcessRun revenue =
        testing::RunTandem(TANDEM_BINARY,
                           "--config " + config_ + " reconcile --object revenue --report " +
                               (dir_ / "revenue.csv").string(),
                           testing::SandboxEnv());
    EXPECT_EQ(revenue.exit_code, 0) << revenue.out;
    EXPECT_NE(revenue.out.find("revenue: 1 checked, 0 differences"), std::string::npos)
        << revenue.out;
    EXPECT_NE(revenue.out.find(std::to_string(n) + " subscriptions compared"), std::string::npos)
        << revenue.out;
  }

  // What holds back the orders not Completed: each one's tasks, for a failure message.
  std::string Unfinished() {
    std::map<std::string, std::string> crm_status;
    (void)crm_.client().Query(
        "SELECT Id, Automation_Status__c, Automation_Progress__c FROM Order", [&](const Json& r) {
          crm_status[r["Id"].as_string()] =
              r["Automation_Status__c"].ToText() + ", " + r["Automation_Progress__c"].ToText();
          return Status::Ok();
        });
    std::string out;
    const auto owed = (*store_)->ReportsDue(INT64_MAX, 1000).value();
    for (const auto& due : owed)
      out += "report owed: " + due.group_id + " seq " + std::to_string(due.seq) + "\n";
    for (const auto& order : order_ids_) {
      if (crm_status[order].rfind("Completed,", 0) == 0) continue;
      out += "order " + order + " (CRM: " + crm_status[order] + "):\n";
      auto group = (*store_)->TasksInGroup(order);
      if (!group.ok()) {
        out += "  " + group.status().ToString() + "\n";
        continue;
      }
      for (const auto& t : *group)
        out += "  " + t.key + " " + t.state + " attempts=" + std::to_string(t.attempts) +
               " next_run_ms=" + std::to_string(t.next_run_ms) + " claimed_by=" + t.claimed_by +
               " error=" + t.last_error + "\n";
    }
    return out;
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

  // How a process ended (its wait status), then the end of its log: a failure message.
  std::string Ended(int status, const std::string& log) {
    const std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                            : WIFSIGNALED(status)
                                ? "killed by signal " + std::to_string(WTERMSIG(status))
                                : "wait status " + std::to_string(status);
    return how + "\n" + Tail(log);
  }

  // The end of a log, for a failure message: from a sanitizer's report or a terminate when
  // there is one (its stacks are longer than a tail), else its last `lines` lines.
  std::string Tail(const std::string& name, size_t lines = 60) {
    const std::string all = Slurp(name);
    for (const char* marker : {"==ERROR: ", "runtime error: ", "terminate called"}) {
      const auto at = all.find(marker);
      if (at == std::string::npos) continue;
      const auto line = all.rfind('\n', at);
      return all.substr(line == std::string::npos ? 0 : line + 1, 20'000);
    }
    size_t at = all.size();
    for (size_t seen = 0; at > 0 && seen <= lines;)
      if (all[--at] == '\n') ++seen;
    return all.substr(at);
  }

  // How many tasks are in each state, and who holds the running ones.
  std::string TaskStates() {
    std::map<std::string, int> states;
    for (const auto& order : order_ids_) {
      auto group = (*store_)->TasksInGroup(order);
      if (!group.ok()) return group.status().ToString();
      for (const auto& t : *group)
        ++states[t.state + (t.state == "running" ? " by " + t.claimed_by : "")];
    }
    std::string out = "tasks:";
    for (const auto& [state, count] : states) out += " " + state + "=" + std::to_string(count);
    return out + "\n";
  }

  std::string Slurp(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::unique_ptr<testing::ScopedStore> store_;
  testing::SalesforceEnv crm_;
  std::unique_ptr<testing::BillingBackend> billing_;
  fs::path dir_;
  std::string config_, account_;
  testing::CatalogProduct server_, fee_;
  std::vector<std::string> order_ids_;
  std::vector<pid_t> pids_;
  std::map<pid_t, int> ports_;
};

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
  ASSERT_TRUE(WaitFor([&] { return billing_->Count("subscription") >= 10; }, 120))
      << Tail("term.log");
  const auto asked = std::chrono::steady_clock::now();
  const int stopped = StopServe(first, SIGTERM);
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << Ended(stopped, "term.log");
  EXPECT_LT(took, std::chrono::seconds(30)) << "a graceful stop waits for running tasks only";
  EXPECT_LT(Completed(), n) << "the batch was not in the middle";
  // Nothing is left claimed by the stopped process: the next one starts on it at once.
  for (const auto& order : order_ids_) {
    const auto group = (*store_)->TasksInGroup(order).value();
    for (const auto& t : group)
      EXPECT_NE(t.state, "running") << t.key << " still claimed by " << t.claimed_by;
  }
  const pid_t second = StartServe("term2.log");
  EXPECT_TRUE(WaitFor([&] { return Completed() == n; }, 240))
      << Unfinished() << "--- first process\n"
      << Tail("term.log") << "--- second process\n"
      << Tail("term2.log");
  EXPECT_EQ(StopServe(second, SIGTERM), 0);
  EXPECT_EQ(billing_->Count("subscription"), n);
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), n);
}

TEST_P(ServeWorkOrders, TwoProcessesShareFiveHundredTasksEachRunOnce) {
  if (GetParam().store.name != "postgresql") GTEST_SKIP() << "several processes need PostgreSQL";
  const pid_t a = StartServe("a.log"), b = StartServe("b.log");
  // The second calls no remote until the first counts it (app/limit_share.h): the orders come
  // once both work, or the first alone would finish them on loopback.
  const std::string share = "tandem_limit_share_processes";
  ASSERT_TRUE(WaitFor([&] { return Metric(a, share) == 2 && Metric(b, share) == 2; }, 30))
      << Tail("a.log") << Tail("b.log");
  MakeOrders(125, /*fee=*/false);  // 125 orders × 4 tasks
  EXPECT_TRUE(WaitFor([&] { return Completed() == 125; }, 240)) << Unfinished() << "--- a\n"
                                                                << Tail("a.log") << "--- b\n"
                                                                << Tail("b.log");
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
  EXPECT_EQ(billing_->Count("subscription"), 125);
}

// Processes sharing one store split the CRM's requests at once (crm.max_concurrent_requests)
// and the billing rate: two processes with a cap of 2 never have more than 2 Salesforce
// requests in flight together (each keeps 1), not 4; when one stops the other takes it all.
TEST_P(ServeWorkOrders, TwoProcessesTogetherStayWithinTheCrmsConcurrentRequests) {
  if (GetParam().store.name != "postgresql") GTEST_SKIP() << "several processes need PostgreSQL";
  testing::WriteSandboxConfigWith(config_, store_->options(), crm_.sandbox.base_url(),
                                  "  max_concurrent_requests: 2\n" + billing_->ConfigSection(),
                                  TANDEM_SOURCE_DIR,
                                  "schedules:\n  order_poll: 200ms\n  catalog_sync: 24h\n"
                                  "workers:\n  count: 2\n  lease: 10s\n");
  const pid_t a = StartServe("a.log"), b = StartServe("b.log");
  const std::string share = "tandem_limit_share_processes";
  ASSERT_TRUE(WaitFor([&] { return Metric(a, share) == 2 && Metric(b, share) == 2; }, 30))
      << Tail("a.log") << Tail("b.log");
  MakeOrders(40, /*fee=*/false);  // 160 tasks
  // From here on the CRM answers in 100 ms, so the workers' demand is far above the cap; the
  // test's own look at the orders is one request at a time.
  crm_.sandbox.ResetPeak();
  crm_.sandbox.AddFault(SalesforceFault{"", "/services/data", 0, "", -1, 100});
  EXPECT_TRUE(WaitFor([&] { return Completed() == 40; }, 240)) << Unfinished() << "--- a\n"
                                                               << Tail("a.log") << "--- b\n"
                                                               << Tail("b.log");
  std::cout << "peak CRM requests at once: " << crm_.sandbox.peak_concurrent_requests() << "\n";
  EXPECT_LE(crm_.sandbox.peak_concurrent_requests(), 2 + 1)
      << "two processes each kept the whole cap";
  EXPECT_GE(crm_.sandbox.peak_concurrent_requests(), 2) << "the workers never used the CRM much";
  EXPECT_EQ(StopServe(b, SIGTERM), 0);
  EXPECT_TRUE(WaitFor([&] { return Metric(a, share) == 1; }, 20)) << "a kept half after b left";
  EXPECT_EQ(StopServe(a, SIGTERM), 0);
  EXPECT_EQ(billing_->Count("subscription"), 40);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeWorkOrders,
                         ::testing::Values(ServeCase{{"sqlite"}, testing::StripeBilling()},
                                           ServeCase{{"postgresql"}, testing::StripeBilling()}),
                         CaseName);

// The kills that matter per billing system, so they run on Gotransverse too. GTV keeps no
// idempotency keys: what makes a task's second run harmless there is the adapter's look-up by
// natural key (the order's purchase order number, the adjustment's "[key]") before it creates.
class ServeWorkOrdersCrash : public ServeWorkOrders {};

// Killed after claiming a task, before running it: the task waits out its lease and runs once.
TEST_P(ServeWorkOrdersCrash, KilledJustBeforeATaskThenRestartedEveryOrderCompletesOnce) {
  KilledAtThenRestarted("workorders.before_task");
}

// Killed after billing did the work, before the result was recorded: the task runs again and
// billing's idempotency key (Stripe) or the adapter's look-up (GTV) finds what it did, so it
// is not done twice.
TEST_P(ServeWorkOrdersCrash, KilledAfterATaskBeforeItsResultThenRestartedNothingDoubles) {
  KilledAtThenRestarted("workorders.after_task");
}

// Killed right after a status write reached the CRM, before reading the order's state again:
// what it wrote may be older than another worker's write it landed after. Its write's row
// outlives it, and the sweep of the next process writes the order again.
TEST_P(ServeWorkOrdersCrash, KilledWithAStatusWriteUnconfirmedThenRestartedEveryOrderCompletes) {
  KilledAtThenRestarted("workorders.after_report_write", 2, /*claimed=*/false, /*writing=*/true);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeWorkOrdersCrash,
                         ::testing::Values(ServeCase{{"sqlite"}, testing::StripeBilling()},
                                           ServeCase{{"postgresql"}, testing::StripeBilling()},
                                           ServeCase{{"postgresql"}, testing::GtvBilling()}),
                         CaseName);

}  // namespace
}  // namespace tandem::app
