// Steps 4–5 at scale: ORDERS activated Orders (one new 12-month subscription each: account
// sync, create, start, record = 4 tasks) run by PROCESSES `tandem serve` processes sharing
// one store, against the sandboxes (another process). Prints orders/s and tasks/s from the
// first poll to the last order completed. Several processes need PostgreSQL (STORE_URL).
//   bench_workorders TANDEM_BINARY ORDERS PROCESSES [STORE_URL]
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
#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"
#include "util/log.h"

#include <sys/wait.h>

namespace {

using namespace tandem;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_workorders TANDEM_BINARY ORDERS PROCESSES [STORE_URL]\n");
    return 2;
  }
  const char* binary = argv[1];
  const int orders = std::atoi(argv[2]);
  const int processes = std::atoi(argv[3]);
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tandem_bench_wo_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string store_url = argc > 4 ? argv[4] : "sqlite:" + (dir / "tandem.db").string();
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  std::string crm_url, billing_url;
  const pid_t sandbox = bench::StartSandbox(binary, &crm_url, &billing_url);
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
    out << "store:\n  url: \"" << store_url << "\"\n";
    if (store_url.rfind("postgres", 0) == 0) out << "  schema: bench_wo_" << getpid() << "\n";
    out << "crm:\n  base_url: " << crm_url
        << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: env:SF_SECRET\n"
        << "billing:\n  base_url: " << billing_url << "\n  api_key: env:STRIPE_KEY\n"
        << "paths:\n  mapping: " << TANDEM_SOURCE_DIR << "/config/mapping.yaml\n"
        << "  workorders: " << TANDEM_SOURCE_DIR << "/config/workorders.yaml\n"
        << "schedules:\n  order_poll: 100ms\n  catalog_sync: 24h\n"
        << "workers:\n  count: 4\n";
  }
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
      execl(binary, binary, "--config", config.c_str(), "--log-level", "warn", "serve", "--listen",
            "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    serves.push_back(pid);
  }
  int64_t completed = 0;
  for (int i = 0; i < 6000 && completed < orders; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    completed = 0;
    (void)crm.client().Query("SELECT Id FROM Order WHERE Automation_Status__c = 'Completed'",
                             [&](const Json&) {
                               ++completed;
                               return Status::Ok();
                             });
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (pid_t pid : serves) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  std::printf(
      "work orders: %d orders x 4 tasks, %d process(es) x 4 workers, %s: %lld completed in "
      "%.1f s = %.0f orders/s, %.0f tasks/s\n",
      orders, processes, store_url.rfind("postgres", 0) == 0 ? "PostgreSQL" : "SQLite",
      static_cast<long long>(completed), seconds, static_cast<double>(completed) / seconds,
      4.0 * static_cast<double>(completed) / seconds);
  kill(sandbox, SIGTERM);
  waitpid(sandbox, nullptr, 0);
  fs::remove_all(dir);
  return completed == orders ? 0 : 1;
}
