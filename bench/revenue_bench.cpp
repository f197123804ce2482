// The revenue reconcile at scale: `tandem reconcile --object revenue` (the real CLI, in its
// own process) over SMALL, then LARGE accounts, against the sandboxes (another process) with a
// modelled latency on every API call, on SQLite. Each account has a billing customer, a link,
// a monthly subscription (1 to 5 servers at 10.00 EUR) and its service inventory record; every
// 4th a recurring add-on (2 x 5.00). Planted: every 100th subscription billed one server more
// than sold (over_billed 10.00), every 100th (offset 50) an add-on sold that billing lacks
// (missing_add_on 10.00). Prints for each run accounts/s, CRM and billing calls per account,
// peak RSS and CPU of the reconcile process, and the RSS ratio LARGE / SMALL: memory must stay
// flat (within 1.2x).
//   bench_revenue TANDEM_BINARY [SMALL=20000] [LARGE=100000] [LATENCY_MS=50] [THREADS=8]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "connector/http/rest_client.h"
#include "store/store.h"
#include "util/json.h"
#include "util/log.h"

#include <sys/resource.h>
#include <sys/wait.h>

namespace {

using namespace tandem;
namespace fs = std::filesystem;

Json Stats(connector::http::RestClient& client) {
  auto r = client.Get("/__sandbox/stats");
  if (!r.ok()) return Json();
  return Json::Parse(r->body).value_or(Json());
}

// Every API call of both emulators waits `ms` (0: none).
bool SetLatency(connector::http::RestClient& client, int ms) {
  connector::http::HttpRequest req;
  req.method = ms > 0 ? "POST" : "DELETE";
  req.path = "/__sandbox/faults";
  req.headers.emplace_back("Content-Type", "application/json");
  if (ms > 0)
    req.body = "{\"status\": 0, \"error_code\": \"\", \"count\": -1, \"latency_ms\": " +
               std::to_string(ms) + "}";
  auto r = client.Send(req);
  return r.ok() && r->status < 300;
}

// A measured `tandem ARGS...`, forked while this process is small (a child's peak RSS counts
// what it inherited before exec); it waits for a byte on its pipe.
struct Measured {
  pid_t pid = -1;
  int go = -1;
};

Measured Spawn(const char* binary, const std::string& config, const std::string& out,
               std::vector<std::string> args) {
  int go[2];
  if (pipe(go) != 0) return {};
  const pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(126);  // the bench gave up
    // Its summary lists examples of every planted difference: to a file, not the figures.
    if (FILE* f = std::fopen(out.c_str(), "w")) dup2(fileno(f), STDOUT_FILENO);
    setenv("SF_SECRET", "sandbox-secret", 1);
    setenv("STRIPE_KEY", "sk_test_sandbox", 1);
    fs::current_path(TANDEM_SOURCE_DIR);  // config/mapping.yaml and config/workorders.yaml
    args.insert(args.begin(), {binary, "--config", config, "--log-level", "warn"});
    std::vector<char*> argv_c;
    for (auto& a : args) argv_c.push_back(a.data());
    argv_c.push_back(nullptr);
    execv(binary, argv_c.data());
    _exit(127);
  }
  close(go[0]);
  return {child, go[1]};
}

struct Run : bench::ChildEnd {
  double seconds = 0;
};

Run Finish(const Measured& m) {
  Run r;
  const auto start = std::chrono::steady_clock::now();
  if (write(m.go, "g", 1) != 1) return r;
  close(m.go);
  static_cast<bench::ChildEnd&>(r) = bench::WaitChild(m.pid);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// The data of accounts [from, to): both systems, and the links in the store.
class Seeder {
 public:
  Seeder(connector::crm::CrmClient& crm, connector::billing::BillingSystem& billing,
         store::Store& store, int threads)
      : crm_(crm), billing_(billing), store_(store), threads_(threads) {}

  Status Catalog() {
    connector::billing::Product server;
    server.name = "Virtual Server";
    auto p = billing_.CreateProduct(server, "bench-server");
    if (!p.ok()) return p.status();
    connector::billing::Price price;
    price.product_id = p->id;
    price.currency = "eur";
    price.unit_amount_minor = 1000;
    price.interval = "month";
    auto monthly = billing_.CreatePrice(price, "bench-server-price");
    if (!monthly.ok()) return monthly.status();
    server_price_ = monthly->id;
    connector::billing::Product backup;
    backup.name = "Backup";
    backup.kind = "add_on";
    auto b = billing_.CreateProduct(backup, "bench-backup");
    if (!b.ok()) return b.status();
    price.product_id = b->id;
    price.unit_amount_minor = 500;
    auto add_on = billing_.CreatePrice(price, "bench-backup-price");
    if (!add_on.ok()) return add_on.status();
    backup_price_ = add_on->id;
    return Status::Ok();
  }

  Status Seed(int from, int to) {
    const size_t n = static_cast<size_t>(to - from);
    // CRM accounts, one Bulk job.
    connector::crm::BulkRequest accounts;
    accounts.object = "Account";
    accounts.columns = {"Name"};
    for (int i = from; i < to; ++i) accounts.rows.push_back({"Bench " + std::to_string(i)});
    auto made = crm_.BulkIngest(accounts);
    if (!made.ok()) return made.status();
    if (made->rows.size() != n) return Status::Internal("CRM accounts not all created");
    // Billing: customer, subscription, add-on, THREADS at a time.
    std::vector<std::string> customers(n), subs(n), add_on_items(n);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      for (size_t k = next++; k < n && !failed; k = next++) {
        const int i = from + static_cast<int>(k);
        if (!OneAccount(i, made->rows[k].id, &customers[k], &subs[k], &add_on_items[k]))
          failed = true;
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads_; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    if (failed) return Status::Internal("billing seeding failed");
    std::vector<store::Link> links;
    for (size_t k = 0; k < n; ++k) {
      links.push_back(store::Link{"account", made->rows[k].id, customers[k], "", "", 1});
      if (links.size() == 1000 || k + 1 == n) {
        TANDEM_RETURN_IF_ERROR(store_.UpsertLinks(links));
        links.clear();
      }
    }
    // The service inventory: what was sold (billing charges every 100th one server more).
    connector::crm::BulkRequest inventory;
    inventory.object = "Service_Subscription__c";
    inventory.columns = {"Name",
                         "Account__c",
                         "Billing_Subscription_Id__c",
                         "Status__c",
                         "Quantity__c",
                         "Unit_Price__c",
                         "Recurring_Amount__c",
                         "Currency__c",
                         "Billing_Interval__c",
                         "Billing_Interval_Count__c"};
    for (size_t k = 0; k < n; ++k) {
      const int i = from + static_cast<int>(k);
      const int sold = Quantity(i);
      inventory.rows.push_back({"Virtual Server", made->rows[k].id, subs[k], "Active",
                                std::to_string(sold), "10", std::to_string(sold * 10), "EUR",
                                "Month", "1"});
    }
    auto recorded = crm_.BulkIngest(inventory);
    if (!recorded.ok()) return recorded.status();
    if (recorded->rows.size() != n) return Status::Internal("inventory not all created");
    // Add-ons, every 4th (planted: every 100th, offset 50, sold and never billed).
    connector::crm::BulkRequest add_ons;
    add_ons.object = "Service_Add_On__c";
    add_ons.columns = {"Name",    "Subscription__c", "Billing_Item_Id__c", "Billing_Price_Id__c",
                       "Kind__c", "Amount__c",       "Quantity__c"};
    for (size_t k = 0; k < n; ++k) {
      const int i = from + static_cast<int>(k);
      if (i % 4 != 2) continue;
      const std::string item =
          add_on_items[k].empty() ? "si_gone_" + std::to_string(i) : add_on_items[k];
      add_ons.rows.push_back(
          {"Backup", recorded->rows[k].id, item, backup_price_, "Recurring", "10", "2"});
    }
    auto added = crm_.BulkIngest(add_ons);
    if (!added.ok()) return added.status();
    return Status::Ok();
  }

  static int Quantity(int i) { return 1 + i % 5; }
  // What the run must find among accounts [0, n).
  static int OverBilled(int n) { return (n + 99) / 100; }
  static int MissingAddOns(int n) {
    int count = 0;
    for (int i = 50; i < n; i += 100) count += i % 4 == 2;
    return count;
  }

 private:
  bool OneAccount(int i, const std::string& crm_id, std::string* customer, std::string* sub,
                  std::string* add_on_item) {
    connector::billing::BillingAccount a;
    a.name = "Bench " + std::to_string(i);
    a.external_key = crm_id;
    auto c = billing_.CreateAccount(a, "bench-cus-" + std::to_string(i));
    if (!c.ok()) return false;
    *customer = c->id;
    connector::billing::SubscriptionSpec spec;
    spec.account_id = c->id;
    const int billed = Quantity(i) + (i % 100 == 0 ? 1 : 0);  // planted: over-billed
    spec.items.push_back(connector::billing::SubscriptionItem{"", server_price_, billed, {}});
    auto s = billing_.CreateSubscription(spec, "bench-sub-" + std::to_string(i));
    if (!s.ok()) return false;
    *sub = s->id;
    if (i % 4 == 2 && i % 100 != 50) {
      auto item = billing_.AddAddOn(
          s->id, connector::billing::SubscriptionItem{"", backup_price_, 2, {}},
          connector::billing::Proration::kProrate, "bench-add-on-" + std::to_string(i));
      if (!item.ok()) return false;
      *add_on_item = item->id;
    }
    return true;
  }

  connector::crm::CrmClient& crm_;
  connector::billing::BillingSystem& billing_;
  store::Store& store_;
  const int threads_;
  std::string server_price_, backup_price_;
};

// First rows of `kind` in the report (repairs' follow-up rows have an action).
int Rows(const std::string& csv, const std::string& kind) {
  std::ifstream in(csv);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("revenue," + kind + ",", 0) == 0) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_revenue TANDEM_BINARY [SMALL] [LARGE] [LATENCY_MS] [THREADS]\n");
    return 2;
  }
  const char* binary = argv[1];
  const int small = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int large = argc > 3 ? std::atoi(argv[3]) : 100000;
  const int latency = argc > 4 ? std::atoi(argv[4]) : 50;
  const int threads = argc > 5 ? std::atoi(argv[5]) : 8;
  const fs::path dir = fs::temp_directory_path() / ("tandem_bench_rev_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string config = (dir / "tandem.yaml").string();
  const std::string csv_small = (dir / "small.csv").string(),
                    csv_large = (dir / "large.csv").string();
  const Measured first = Spawn(binary, config, (dir / "small.out").string(),
                               {"reconcile", "--object", "revenue", "--report", csv_small});
  const Measured second = Spawn(binary, config, (dir / "large.out").string(),
                                {"reconcile", "--object", "revenue", "--report", csv_large});
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  std::string crm_url, billing_url;
  const pid_t sandbox = bench::StartSandbox(binary, &crm_url, &billing_url);
  if (sandbox < 0) {
    std::fprintf(stderr, "cannot start the sandbox\n");
    return 1;
  }
  std::ofstream(config) << "store:\n  url: sqlite:" << (dir / "tandem.db").string()
                        << "\ncrm:\n  base_url: " << crm_url
                        << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: "
                           "env:SF_SECRET\nbilling:\n  base_url: "
                        << billing_url << "\n  api_key: env:STRIPE_KEY\n";

  bench::SandboxClients c(crm_url, billing_url, Millis(100));
  store::StoreOptions so;
  so.url = "sqlite:" + (dir / "tandem.db").string();
  auto store = store::Store::Open(so);
  connector::http::RestClientOptions ro;
  ro.base_url = crm_url;
  const connector::http::RestClientDeps deps{c.clock, c.sleeper, c.random, c.counter};
  connector::http::RestClient crm_admin(ro, deps, nullptr);
  ro.base_url = billing_url;
  connector::http::RestClient billing_admin(ro, deps, nullptr);
  auto give_up = [&](const std::string& why) {
    std::fprintf(stderr, "%s\n", why.c_str());
    kill(first.pid, SIGTERM);
    kill(second.pid, SIGTERM);
    kill(sandbox, SIGTERM);
    waitpid(sandbox, nullptr, 0);
    fs::remove_all(dir);
    return 1;
  };
  if (!store.ok()) return give_up(store.status().ToString());
  Seeder seeder(c.crm.client(), c.billing->billing(), **store, threads);
  if (Status st = seeder.Catalog(); !st.ok()) return give_up(st.ToString());

  int failures = 0;
  Run runs[2];
  int seeded = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const int accounts = pass == 0 ? small : large;
    const auto seed_start = std::chrono::steady_clock::now();
    if (Status st = seeder.Seed(seeded, accounts); !st.ok()) return give_up(st.ToString());
    seeded = accounts;
    std::printf(
        "seeded %d accounts in %.0f s\n", accounts,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_start).count());
    std::fflush(stdout);
    if (!SetLatency(crm_admin, latency) || !SetLatency(billing_admin, latency))
      return give_up("cannot set the latency");
    const Json crm_before = Stats(crm_admin), billing_before = Stats(billing_admin);
    runs[pass] = Finish(pass == 0 ? first : second);
    const Json crm_after = Stats(crm_admin), billing_after = Stats(billing_admin);
    SetLatency(crm_admin, 0);
    SetLatency(billing_admin, 0);
    const Run& r = runs[pass];
    const double crm_calls =
        crm_after["api_calls"].as_number() - crm_before["api_calls"].as_number();
    const double billing_calls =
        billing_after["requests"].as_number() - billing_before["requests"].as_number();
    const std::string& csv = pass == 0 ? csv_small : csv_large;
    const int over = Rows(csv, "over_billed"), missing = Rows(csv, "missing_add_on");
    std::printf(
        "revenue reconcile %d accounts (%d ms latency a call): exit %d, %.1f s, %.0f accounts/s, "
        "%.4f CRM and %.4f billing calls per account, peak RSS %.1f MiB, CPU %.1f s; found %d "
        "over_billed (planted %d), %d missing_add_on (planted %d)\n",
        accounts, latency, r.exit_code, r.seconds, accounts / r.seconds, crm_calls / accounts,
        billing_calls / accounts, r.rss_mib, r.cpu, over, Seeder::OverBilled(accounts), missing,
        Seeder::MissingAddOns(accounts));
    std::fflush(stdout);
    // Exit 1: differences remain (the planted ones), and exactly those.
    if (r.exit_code != 1 || over != Seeder::OverBilled(accounts) ||
        missing != Seeder::MissingAddOns(accounts))
      ++failures;
  }
  const double ratio = runs[1].rss_mib / runs[0].rss_mib;
  std::printf("peak RSS %d / %d accounts: %.1f / %.1f MiB = %.2fx (limit 1.2x)\n", large, small,
              runs[1].rss_mib, runs[0].rss_mib, ratio);
  if (ratio > 1.2) ++failures;
  kill(sandbox, SIGTERM);
  waitpid(sandbox, nullptr, 0);
  fs::remove_all(dir);
  std::printf("bench: %s\n", failures == 0 ? "passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
