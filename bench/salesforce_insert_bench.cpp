// Tandem's Salesforce client inserting 20,000 Accounts into the sandbox (running as its own
// process, so CPU figures are the client's alone): by sObject Collections and by Bulk API
// 2.0. Prints wall time, API calls, client CPU and the client's peak RSS; scripts/bench runs
// jsforce the same way. CRM_LATENCY_MS: every sandbox request waits this long (real: ~300).
//   bench_salesforce_insert TANDEM_BINARY [ROWS] [CRM_LATENCY_MS]
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "connector/crm/salesforce/connection.h"
#include "util/log.h"

#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_salesforce_insert TANDEM_BINARY [ROWS] [CRM_LATENCY_MS]\n");
    return 2;
  }
  const int rows = argc > 2 ? std::atoi(argv[2]) : 20000;
  tandem::log::Setup({tandem::log::Format::kText, spdlog::level::warn},
                     std::make_shared<tandem::Redactor>());
  std::string url;
  const std::string latency = argc > 3 ? argv[3] : "0";
  const pid_t sandbox =
      tandem::bench::StartSandbox(argv[1], &url, nullptr, {"--crm-latency", latency});
  if (sandbox < 0) {
    std::fprintf(stderr, "cannot start the sandbox\n");
    return 1;
  }
  tandem::SystemClock clock;
  tandem::RealSleeper sleeper;
  tandem::SeededRandom random(1);
  tandem::connector::http::CallCounter counter;
  tandem::Redactor redactor;
  tandem::connector::crm::salesforce::ConnectionOptions o;
  o.instance_url = url;
  o.oauth.client_id = "tandem-sandbox";
  o.oauth.client_secret = "sandbox-secret";
  o.api.bulk_poll_initial = tandem::Millis(100);
  tandem::connector::crm::salesforce::SalesforceConnection conn(
      o, {clock, sleeper, random, counter}, redactor, sleeper);
  auto& client = conn.client();
  int failures = 0;

  // Collections.
  {
    std::vector<tandem::Json> records;
    for (int i = 0; i < rows; ++i) {
      tandem::Json r = tandem::Json::MakeObject();
      r.Set("Name", "TdCol " + std::to_string(i));
      r.Set("Ext__c", "TdCol-" + std::to_string(i));
      records.push_back(std::move(r));
    }
    counter.Reset();
    const double cpu0 = tandem::bench::CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto results = client.CreateMany("Account", records);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int ok = 0;
    if (results.ok())
      for (const auto& r : *results) ok += r.success;
    failures += rows - ok;
    std::printf(
        "tandem collections (CRM %s ms): %d accounts in %.2f s, %lld API calls, client CPU %.2f s "
        "(%d ok)\n",
        latency.c_str(), rows, wall, static_cast<long long>(counter.Total("salesforce").attempts),
        tandem::bench::CpuSeconds() - cpu0, ok);
  }
  // Bulk API 2.0.
  {
    tandem::connector::crm::BulkRequest req;
    req.object = "Account";
    req.columns = {"Name", "Ext__c"};
    for (int i = 0; i < rows; ++i)
      req.rows.push_back({"TdBulk " + std::to_string(i), "TdBulk-" + std::to_string(i)});
    counter.Reset();
    const double cpu0 = tandem::bench::CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto result = client.BulkIngest(req);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const long long ok = result.ok() ? result->succeeded : 0;
    failures += rows - static_cast<int>(ok);
    std::printf(
        "tandem bulk2 (CRM %s ms): %d accounts in %.2f s, %lld API calls, client CPU %.2f s (%lld "
        "ok)\n",
        latency.c_str(), rows, wall, static_cast<long long>(counter.Total("salesforce").attempts),
        tandem::bench::CpuSeconds() - cpu0, ok);
  }
  kill(sandbox, SIGTERM);
  waitpid(sandbox, nullptr, 0);
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  std::printf("tandem client peak RSS: %ld MiB\n", self.ru_maxrss / 1024);
  std::printf("bench: %d passed, %d failed\n", failures == 0 ? 2 : 0, failures == 0 ? 0 : 2);
  return failures == 0 ? 0 : 1;
}
