// Step 7 at scale: `tandem migrate` (the real CLI, in its own process) loading ROWS CRM
// Accounts into billing against the sandboxes (another process), on SQLite, then `tandem
// reconcile --object account` over the result. Prints for each: records/s, CRM and billing
// API calls per 1,000 records, and the process's peak RSS and CPU, so runs at 100,000 and
// 1,000,000 rows show whether memory stays flat. The sandbox models the network
// (CRM_LATENCY_MS on every Salesforce request, BILLING_LATENCY_MS ± a fifth on every billing
// one) and billing's rate limit (RATE/s, answering 429 beyond it; the config asks Tandem for
// 96 % of it and a burst of 3 %: bench::BillingRateYaml), so the throughput is what a user
// waits for, as a share of the limit.
// OBJECT subscription loads ROWS Service_Subscription__c records instead (the cut-over into a
// new billing system: one product sold at a discount, a 12-month term), spread over ROWS/100
// Accounts migrated first, and reconciles revenue after.
// RETAIN > 0 runs the Stripe emulator with --billing-retain RETAIN: at a million rows the
// emulator's own objects (an invoice, a charge and ten events per subscription, as JSON trees)
// outgrow the machine long before Tandem does. Billing then forgets all but its newest RETAIN
// subscriptions, so the reconciliation is skipped; the count made comes from its stats.
//   bench_migrate TANDEM_BINARY ROWS [CONCURRENCY] [CRM_LATENCY_MS] [BILLING_LATENCY_MS] [RATE]
//                 [OBJECT] [RETAIN]
//   (CONCURRENCY 0, the default: follow billing's rate and latency; latencies 0; RATE 100;
//   OBJECT account; RETAIN 0: billing keeps everything). BENCH_LOG_LEVEL=debug shows every
//   call of the migrate process with its time (where a run's seconds go).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "connector/crm/salesforce/connection.h"
#include "connector/http/rest_client.h"
#include "tests/support/catalog_builder.h"
#include "util/json.h"
#include "util/log.h"

#include <sys/resource.h>
#include <sys/wait.h>

namespace {

using namespace tandem;

}  // namespace

namespace {

// ROWS / 100 Accounts (accounts.csv) and ROWS services sold on them (services.csv): one product
// both sides know (15.00 a month in the catalog), sold at 12.50, two each, for 12 months.
bool SeedServices(connector::crm::CrmClient& crm, connector::billing::BillingSystem& billing,
                  int64_t rows, const std::string& accounts_csv, const std::string& services_csv) {
  const int64_t n_accounts = std::max<int64_t>(1, rows / 100);
  connector::crm::BulkRequest accounts;
  accounts.object = "Account";
  accounts.columns = {"Name"};
  for (int64_t i = 0; i < n_accounts; ++i) accounts.rows.push_back({"Bench " + std::to_string(i)});
  auto made = crm.BulkIngest(accounts);
  if (!made.ok() || made->failed > 0) return false;
  std::vector<std::string> account_ids;
  {
    std::ofstream out(accounts_csv);
    out << "Id,Name\n";
    for (size_t k = 0; k < made->rows.size(); ++k) {
      account_ids.push_back(made->rows[k].id);
      out << made->rows[k].id << "," << accounts.rows[k][0] << "\n";
    }
  }
  auto book = testing::CreatePricebook(crm);
  if (!book.ok()) return false;
  auto trunk = testing::CreateCatalogProduct(crm, billing, *book, "SIP Trunk", "BENCH-T", "Voice",
                                             "Base", 1500);
  if (!trunk.ok()) return false;
  const std::string today = FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
  std::ofstream out(services_csv);
  out << "Id,Name\n";
  const int64_t per_job = 100000;
  for (int64_t start = 0; start < rows; start += per_job) {
    connector::crm::BulkRequest req;
    req.object = "Service_Subscription__c";
    req.columns = {"Name",          "Account__c",  "Product__c",    "Quantity__c",
                   "Unit_Price__c", "Currency__c", "Start_Date__c", "Term_Months__c"};
    const int64_t end = std::min(rows, start + per_job);
    for (int64_t i = start; i < end; ++i)
      req.rows.push_back({"Trunk " + std::to_string(i),
                          account_ids[static_cast<size_t>(i % n_accounts)], trunk->product_crm, "2",
                          "12.5", "EUR", today, "12"});
    auto services = crm.BulkIngest(req);
    if (!services.ok() || services->failed > 0) return false;
    for (size_t k = 0; k < services->rows.size(); ++k)
      out << services->rows[k].id << "," << req.rows[k][0] << "\n";
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_migrate TANDEM_BINARY ROWS [CONCURRENCY] [CRM_LATENCY_MS] "
                 "[BILLING_LATENCY_MS] [RATE] [account|subscription] [RETAIN]\n");
    return 2;
  }
  const char* binary = argv[1];
  const int64_t rows = std::atoll(argv[2]);
  const std::string concurrency = argc > 3 ? argv[3] : "0";
  const int crm_latency = argc > 4 ? std::atoi(argv[4]) : 0;
  const int billing_latency = argc > 5 ? std::atoi(argv[5]) : 0;
  const double rate = argc > 6 ? std::atof(argv[6]) : 100;
  const std::string object = argc > 7 ? argv[7] : "account";
  const std::string retain = argc > 8 ? argv[8] : "0";
  const bool forgetful = std::atoll(retain.c_str()) > 0;
  if (object != "account" && object != "subscription") {
    std::fprintf(stderr, "OBJECT must be account or subscription\n");
    return 2;
  }
  const bool subscriptions = object == "subscription";
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("tandem_bench_migrate_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string csv = (dir / "accounts.csv").string();
  const std::string config = (dir / "tandem.yaml").string();
  // Both measured processes are forked now, while this one is small: a child's peak RSS
  // counts what it inherited before exec, and the seeding below holds every row in memory.
  // Each waits for a byte on its pipe, then becomes `tandem ARGS...`.
  const std::string out_dir = (dir / "out").string();
  auto spawn = [&](std::vector<std::string> args, int* go_fd) -> pid_t {
    int go[2];
    if (pipe(go) != 0) return -1;
    const pid_t child = fork();
    if (child == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 1) _exit(126);  // the bench gave up
      setenv("SF_SECRET", "sandbox-secret", 1);
      setenv("STRIPE_KEY", "sk_test_sandbox", 1);
      // The config names no mapping: the default config/mapping.yaml of the source tree.
      fs::current_path(TANDEM_SOURCE_DIR);
      args.insert(args.begin(),
                  {binary, "--config", config, "--log-level",
                   std::getenv("BENCH_LOG_LEVEL") ? std::getenv("BENCH_LOG_LEVEL") : "warn"});
      std::vector<char*> argv_c;
      for (auto& a : args) argv_c.push_back(a.data());
      argv_c.push_back(nullptr);
      execv(binary, argv_c.data());
      _exit(127);
    }
    close(go[0]);
    *go_fd = go[1];
    return child;
  };
  // Runs a spawned process to its end: exit status, seconds, peak RSS (MiB), CPU seconds.
  struct Run : bench::ChildEnd {
    double seconds = 0;
  };
  auto run = [](pid_t child, int go_fd) {
    Run r;
    const auto start = std::chrono::steady_clock::now();
    if (write(go_fd, "g", 1) != 1) return r;
    close(go_fd);
    static_cast<bench::ChildEnd&>(r) = bench::WaitChild(child);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  };
  int migrate_go = -1, reconcile_go = -1, accounts_go = -1;
  const std::string accounts_csv = (dir / "accounts.csv").string();
  const std::string services_csv = (dir / "services.csv").string();
  // Subscriptions: their customers first (not measured).
  const pid_t accounts_pid =
      subscriptions ? spawn({"migrate", "--object", "account", "--file", accounts_csv,
                             "--concurrency", concurrency, "--output", out_dir + "-accounts"},
                            &accounts_go)
                    : -1;
  const pid_t pid =
      spawn({"migrate", "--object", object, "--file", subscriptions ? services_csv : csv,
             "--concurrency", concurrency, "--output", out_dir},
            &migrate_go);
  // Then: is everything in step? A reconciliation of what was migrated, streamed.
  const pid_t reconciler = spawn({"reconcile", "--object", subscriptions ? "revenue" : "account",
                                  "--report", (dir / "reconcile.csv").string()},
                                 &reconcile_go);
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  std::string crm_url, billing_url;
  const pid_t sandbox = bench::StartSandbox(
      binary, &crm_url, &billing_url,
      {"--crm-latency", std::to_string(crm_latency), "--billing-latency",
       std::to_string(billing_latency), "--billing-jitter", std::to_string(billing_latency / 5),
       "--billing-rate-limit", std::to_string(rate), "--billing-retain", retain});
  if (sandbox < 0) {
    std::fprintf(stderr, "cannot start the sandbox\n");
    return 1;
  }

  bench::SandboxClients clients(crm_url, subscriptions ? billing_url : "", Millis(100));
  auto& conn = clients.crm;
  const connector::http::RestClientDeps deps{clients.clock, clients.sleeper, clients.random,
                                             clients.counter};
  // The CRM side: ROWS Accounts, and their export as the consultant's CSV.
  if (subscriptions) {
    if (!SeedServices(conn.client(), clients.billing->billing(), rows, accounts_csv,
                      services_csv)) {
      std::fprintf(stderr, "seeding the CRM failed\n");
      kill(sandbox, SIGTERM);
      return 1;
    }
  } else {
    std::ofstream out(csv);
    out << "Id,Name,Website\n";
    const int64_t per_job = 100000;
    for (int64_t start = 0; start < rows; start += per_job) {
      connector::crm::BulkRequest req;
      req.object = "Account";
      req.columns = {"Name", "Website"};
      const int64_t end = std::min(rows, start + per_job);
      for (int64_t i = start; i < end; ++i)
        req.rows.push_back({"Bench " + std::to_string(i), "b" + std::to_string(i) + ".example"});
      auto made = conn.client().BulkIngest(req);
      if (!made.ok() || made->failed > 0) {
        std::fprintf(stderr, "seeding the CRM failed\n");
        kill(sandbox, SIGTERM);
        return 1;
      }
      for (size_t k = 0; k < made->rows.size(); ++k)
        out << made->rows[k].id << "," << req.rows[k][0] << "," << req.rows[k][1] << "\n";
    }
  }
  std::ofstream(config) << "store:\n  url: sqlite:" << (dir / "tandem.db").string()
                        << "\ncrm:\n  base_url: " << crm_url
                        << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: "
                           "env:SF_SECRET\nbilling:\n  base_url: "
                        << billing_url << "\n  api_key: env:STRIPE_KEY\n"
                        << bench::BillingRateYaml(rate);
  auto crm_stats = [&] { return bench::SandboxStats(crm_url, deps); };
  auto billing_stats = [&] { return bench::SandboxStats(billing_url, deps); };
  if (subscriptions) {
    const Run linked = run(accounts_pid, accounts_go);
    if (linked.exit_code != 0) {
      std::fprintf(stderr, "migrating the accounts failed\n");
      kill(sandbox, SIGTERM);
      return 1;
    }
  }
  const Json crm_before = crm_stats(), billing_before = billing_stats();

  const Run m = run(pid, migrate_go);
  const Json crm_after = crm_stats(), billing_after = billing_stats();
  const double crm_calls = crm_after["api_calls"].as_number() - crm_before["api_calls"].as_number();
  const double billing_calls =
      billing_after["requests"].as_number() - billing_before["requests"].as_number();
  const int64_t made = billing_after["made"][subscriptions ? "subscription" : "customer"].as_int();
  const double per_k = 1000.0 / static_cast<double>(rows);
  std::printf(
      "migrate %lld rows (concurrency %s, CRM %d ms, billing %d±%d ms): exit %d, %.1f s, %.0f "
      "rows/s, billing %.0f calls/s = %.0f %% of its %.0f/s limit, %lld 429s; %.1f CRM calls "
      "and %.1f billing calls per 1,000 rows, peak RSS %.1f MiB, CPU %.1f s, %lld %ss in "
      "billing\n",
      static_cast<long long>(rows), concurrency.c_str(), crm_latency, billing_latency,
      billing_latency / 5, m.exit_code, m.seconds, static_cast<double>(rows) / m.seconds,
      billing_calls / m.seconds, 100 * billing_calls / m.seconds / rate, rate,
      static_cast<long long>(billing_after["rate_limited"].as_int() -
                             billing_before["rate_limited"].as_int()),
      crm_calls * per_k, billing_calls * per_k, m.rss_mib, m.cpu, static_cast<long long>(made),
      subscriptions ? "subscription" : "customer");
  if (forgetful) {
    std::printf("reconcile skipped: billing kept only its newest %s objects of each kind\n",
                retain.c_str());
    kill(reconciler, SIGKILL);
    waitpid(reconciler, nullptr, 0);
    kill(sandbox, SIGTERM);
    waitpid(sandbox, nullptr, 0);
    fs::remove_all(dir);
    return m.exit_code == 0 && made == rows ? 0 : 1;
  }
  const Run r = run(reconciler, reconcile_go);
  const Json crm_end = crm_stats(), billing_end = billing_stats();
  std::printf(
      "reconcile %lld %ss: exit %d (0: no difference), %.1f s, %.0f records/s, %.1f CRM "
      "calls and %.1f billing calls per 1,000 records, peak RSS %.1f MiB, CPU %.1f s\n",
      static_cast<long long>(rows), subscriptions ? "subscription" : "account", r.exit_code,
      r.seconds, static_cast<double>(rows) / r.seconds,
      (crm_end["api_calls"].as_number() - crm_after["api_calls"].as_number()) * per_k,
      (billing_end["requests"].as_number() - billing_after["requests"].as_number()) * per_k,
      r.rss_mib, r.cpu);
  kill(sandbox, SIGTERM);
  waitpid(sandbox, nullptr, 0);
  fs::remove_all(dir);
  const auto ok = [](const Run& x) { return x.exit_code == 0; };
  return ok(m) && ok(r) && made == rows ? 0 : 1;
}
