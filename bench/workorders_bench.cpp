// Steps 4–5 at scale: ORDERS activated Orders (one new 12-month subscription each: account
// sync, create, start, record = 4 tasks) run by PROCESSES `tandem serve` processes sharing
// one store, against the sandboxes (another process). Prints orders/s and tasks/s from the
// start of the serve processes to the last order completed, billing's calls/s as a share of
// its limit, and 429s.
// Several processes need PostgreSQL (STORE_URL; "sqlite" for the embedded default). The sandbox
// models the network (CRM_LATENCY_MS, BILLING_LATENCY_MS ± a fifth) and billing's RATE/s.
// Also the CRM calls per 1,000 orders and the
// serve processes' peak RSS, and billing's calls in each second of the run (stderr: where
// the share is lost). BATCH: workers.batch (0: follow billing). BENCH_LOG_LEVEL=debug keeps
// the serve processes' logs, every call with its time.
//   bench_workorders TANDEM_BINARY ORDERS PROCESSES [STORE_URL] [CRM_LATENCY_MS]
//                    [BILLING_LATENCY_MS] [RATE] [WORKERS] [BATCH]  (defaults: 0, 0, 100, 4, 0)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "connector/http/form.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"
#include "tests/support/sandbox_config.h"
#include "util/log.h"

#include <sys/wait.h>

namespace {

using namespace tandem;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: bench_workorders TANDEM_BINARY ORDERS PROCESSES [STORE_URL] "
                 "[CRM_LATENCY_MS] [BILLING_LATENCY_MS] [RATE] [WORKERS] [BATCH]\n");
    return 2;
  }
  const char* binary = argv[1];
  const int orders = std::atoi(argv[2]);
  const int processes = std::atoi(argv[3]);
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tandem_bench_wo_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string store_arg = argc > 4 ? argv[4] : "sqlite";
  const std::string store_url =
      store_arg == "sqlite" ? "sqlite:" + (dir / "tandem.db").string() : store_arg;
  const int crm_latency = argc > 5 ? std::atoi(argv[5]) : 0;
  const int billing_latency = argc > 6 ? std::atoi(argv[6]) : 0;
  const double rate = argc > 7 ? std::atof(argv[7]) : 100;
  const int workers = argc > 8 ? std::atoi(argv[8]) : 4;  // workers.count's default
  const int task_batch = argc > 9 ? std::atoi(argv[9]) : 0;
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  std::string crm_url, billing_url;
  const pid_t sandbox = bench::StartSandbox(
      binary, &crm_url, &billing_url,
      {"--crm-latency", std::to_string(crm_latency), "--billing-latency",
       std::to_string(billing_latency), "--billing-jitter", std::to_string(billing_latency / 5),
       "--billing-rate-limit", std::to_string(rate)});
  if (sandbox < 0) return 1;

  bench::SandboxClients clients(crm_url, billing_url);
  auto& crm = clients.crm;
  auto& billing = *clients.billing;
  // The catalog, the account and the orders.
  const auto product =
      testing::CreateBillingProduct(billing.billing(), "Virtual Server", "bench-p").value();
  const auto monthly = testing::CreateBillingPrice(billing.billing(), product.id, "eur", 3000,
                                                   "month", "bench-price")
                           .value();
  const std::string pricebook = testing::CreatePricebook(crm.client()).value();
  testing::CatalogProduct server;
  server.product_crm =
      testing::CreateProduct2(crm.client(), {"Virtual Server", "", "Virtual Server", "", ""})
          .value();
  server.entry_crm =
      testing::CreatePricebookEntry(crm.client(), pricebook, server.product_crm, 30.0, monthly.id)
          .value();
  for (int start = 0; start < orders; start += 200) {
    std::vector<Json> batch;
    for (int i = start; i < std::min(orders, start + 200); ++i) {
      Json a = Json::MakeObject();
      a.Set("Name", "Bench Customer " + std::to_string(i));
      batch.push_back(a);
    }
    const auto accounts = crm.client().CreateMany("Account", batch).value();
    std::vector<testing::OrderSpec> specs;
    for (const auto& a : accounts)
      specs.push_back({a.id,
                       MonthDay(std::chrono::system_clock::now(), -11),
                       "New",
                       {{&server, 1, 30.0, "", "", 12}}});
    const auto made = testing::CreateOrders(crm.client(), specs);
    if (!made.ok()) {
      std::fprintf(stderr, "creating the orders: %s\n", made.status().ToString().c_str());
      kill(sandbox, SIGTERM);
      waitpid(sandbox, nullptr, 0);
      fs::remove_all(dir);
      return 1;
    }
  }
  const std::string config = (dir / "tandem.yaml").string();
  {
    std::ofstream out(config);
    testing::WriteStoreSection(
        out, config, store_url,
        store_url.rfind("postgres", 0) == 0 ? "bench_wo_" + std::to_string(getpid()) : "");
    out << "crm:\n  base_url: " << crm_url
        << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: env:SF_SECRET\n"
        << "billing:\n  base_url: " << billing_url << "\n  api_key: env:STRIPE_KEY\n"
        << bench::BillingRateYaml(rate) << "paths:\n  mapping: " << TANDEM_SOURCE_DIR
        << "/config/mapping.yaml\n"
        << "  workorders: " << TANDEM_SOURCE_DIR << "/config/workorders.yaml\n"
        << "schedules:\n  order_poll: 100ms\n  catalog_sync: 24h\n"
        << "workers:\n  count: " << workers << "\n  batch: " << task_batch << "\n";
  }
  const connector::http::RestClientDeps deps{clients.clock, clients.sleeper, clients.random,
                                             clients.counter};
  const Json billing_before = bench::SandboxStats(billing_url, deps);
  const Json crm_before = bench::SandboxStats(crm_url, deps);
  // BENCH_LOG_LEVEL=debug: every call of the serve processes with its time, in serveN.log,
  // kept (the folder is named at the end).
  const char* level_env = std::getenv("BENCH_LOG_LEVEL");
  const std::string log_level = level_env ? level_env : "warn";
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> serves;
  for (int i = 0; i < processes; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("SF_SECRET", "sandbox-secret", 1);
      setenv("STRIPE_KEY", "sk_test_sandbox", 1);
      const int fd = open((dir / ("serve" + std::to_string(i) + ".log")).c_str(),
                          O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execl(binary, binary, "--config", config.c_str(), "--log-level", log_level.c_str(), "serve",
            "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    serves.push_back(pid);
  }
  int64_t completed = 0;
  connector::http::RestClientOptions admin_options;
  admin_options.base_url = crm_url;
  connector::http::RestClient admin(admin_options, deps, nullptr);
  // The steady state, apart from the ramp (serve starting, the first poll, the first accounts)
  // and the tail (the last chains with little beside them): from 10 % to 90 % completed.
  using Steady = std::chrono::steady_clock;
  Steady::time_point at10{}, at90{};
  int64_t done10 = 0, done90 = 0;
  double billing10 = 0, billing90 = 0;  // billing's requests at those points
  // Billing's calls per second over the run (stderr), to see where the share is lost.
  std::vector<double> per_second;
  double billing_last = bench::SandboxStats(billing_url, deps)["requests"].as_number();
  auto second_start = Steady::now();
  for (int i = 0; i < 12'000 && completed < orders; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // The sandbox's own tally, not an API query: a COUNT() at the CRM's latency, one after
    // another, saw the run's end 0.2 s late on average (up to 0.4 s) and was 1 of the
    // requests at once the bench reports.
    const Json tally = bench::SandboxTally(admin, "Order", "Automation_Status__c");
    if (tally.is_object()) completed = tally["Completed"].as_int();
    if (Steady::now() - second_start >= std::chrono::seconds(1)) {
      const double now_requests = bench::SandboxStats(billing_url, deps)["requests"].as_number();
      const auto now = Steady::now();
      per_second.push_back((now_requests - billing_last) /
                           std::chrono::duration<double>(now - second_start).count());
      billing_last = now_requests;
      second_start = now;
    }
    if (at10 == Steady::time_point{} && completed * 10 >= orders) {
      at10 = Steady::now();
      done10 = completed;
      billing10 = bench::SandboxStats(billing_url, deps)["requests"].as_number();
    }
    if (at90 == Steady::time_point{} && completed * 10 >= orders * 9) {
      at90 = Steady::now();
      done90 = completed;
      billing90 = bench::SandboxStats(billing_url, deps)["requests"].as_number();
    }
  }
  std::fprintf(stderr, "billing calls per second:");
  for (double n : per_second) std::fprintf(stderr, " %.0f", n);
  std::fprintf(stderr, "\n");
  const double steady_seconds = std::chrono::duration<double>(at90 - at10).count();
  const double steady_tasks =
      steady_seconds > 0 ? 4.0 * static_cast<double>(done90 - done10) / steady_seconds : 0;
  const double steady_billing = steady_seconds > 0 ? (billing90 - billing10) / steady_seconds : 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double peak_rss = 0;
  for (pid_t pid : serves) {
    kill(pid, SIGTERM);
    peak_rss = std::max(peak_rss, bench::WaitChild(pid).rss_mib);
  }
  const Json billing_after = bench::SandboxStats(billing_url, deps);
  const Json crm_after = bench::SandboxStats(crm_url, deps);
  const double crm_calls = crm_after["api_calls"].as_number() - crm_before["api_calls"].as_number();
  const double billing_calls =
      billing_after["requests"].as_number() - billing_before["requests"].as_number();
  std::printf(
      "work orders: %d orders x 4 tasks, %d process(es) x %d workers (batch %s), %s, CRM %d ms, "
      "billing "
      "%d±%d ms: %lld completed in %.1f s = %.1f orders/s, %.1f tasks/s (10-90 %%: %.1f tasks/s = "
      "%.0f %% of the limit); billing %.1f calls/s = "
      "%.0f %% of its %.0f/s limit (10-90 %%: %.1f calls/s = %.0f %%), %lld 429s, %.0f billing and "
      "%.0f CRM calls per 1,000 orders; "
      "peak RSS %.0f MiB per process; at most %lld CRM requests at once\n",
      orders, processes, workers,
      task_batch == 0 ? "follows billing" : std::to_string(task_batch).c_str(),
      store_url.rfind("postgres", 0) == 0 ? "PostgreSQL" : "SQLite", crm_latency, billing_latency,
      billing_latency / 5, static_cast<long long>(completed), seconds,
      static_cast<double>(completed) / seconds, 4.0 * static_cast<double>(completed) / seconds,
      steady_tasks, 100 * steady_tasks / rate, billing_calls / seconds,
      100 * billing_calls / seconds / rate, rate, steady_billing, 100 * steady_billing / rate,
      static_cast<long long>(billing_after["rate_limited"].as_int() -
                             billing_before["rate_limited"].as_int()),
      1000 * billing_calls / std::max(1.0, static_cast<double>(completed)),
      1000 * crm_calls / std::max(1.0, static_cast<double>(completed)), peak_rss,
      static_cast<long long>(crm_after["peak_concurrent_requests"].as_int()));
  kill(sandbox, SIGTERM);
  waitpid(sandbox, nullptr, 0);
  if (level_env)
    std::fprintf(stderr, "serve logs kept in %s\n", dir.c_str());
  else
    fs::remove_all(dir);
  return completed == orders ? 0 : 1;
}
