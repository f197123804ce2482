// Step 6 at scale: 10,000 products with 3 prices each in the Stripe sandbox, pulled into the
// Salesforce sandbox. Full sync time and CRM calls (asserted to be the minimum number of
// 200-record batches), a quiet run (asserted: at most 2 billing reads, no CRM write), and an
// incremental run after 100 products change. CRM_MS / BILLING_MS: every request to that
// sandbox waits this long once the catalog is seeded (real: ~300 and ~150).
//   bench_catalog [PRODUCTS] [CRM_MS] [BILLING_MS]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "bench/bench_util.h"
#include "catalog-sync/apply.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/log.h"

using namespace tandem;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int crm_ms = argc > 2 ? std::atoi(argv[2]) : 0;
  const int billing_ms = argc > 3 ? std::atoi(argv[3]) : 0;
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  SystemClock sandbox_clock;
  sandbox::salesforce::SalesforceSandbox crm_sb({}, sandbox_clock);
  sandbox::stripe::StripeSandbox billing_sb({}, sandbox_clock);
  if (!crm_sb.Start().ok() || !billing_sb.Start().ok()) return 1;
  bench::SandboxClients clients(crm_sb.base_url(), billing_sb.base_url());
  auto& crm = clients.crm;
  auto& billing = *clients.billing;
  const Clock& clock = clients.clock;
  connector::http::CallCounter& counter = clients.counter;
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem-catalog-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  store::StoreOptions so;
  so.url = "sqlite:" + (dir / "bench.db").string();
  auto store = store::Store::Open(so);
  if (!store.ok()) return 1;
  auto mapping = mapping::ParseMapping(
      "objects:\n  - name: product\n    crm: Product2\n    billing: product\n    master: billing\n"
      "    fields:\n      - {crm: Name, billing: name, direction: to_crm}\n"
      "      - {crm: IsActive, billing: active, direction: to_crm}\n",
      "bench-mapping.yaml");
  if (!mapping.ok()) return 1;

  std::printf("seeding %d products and %d prices in billing...\n", n, 3 * n);
  std::vector<std::string> products;
  for (int i = 0; i < n; ++i) {
    connector::billing::Product p;
    p.name = "Product " + std::to_string(i);
    auto prod = billing.billing().CreateProduct(p, "seed-p" + std::to_string(i));
    if (!prod.ok()) return 1;
    products.push_back(prod->id);
    for (int k = 0; k < 3; ++k) {
      connector::billing::Price price;
      price.product_id = prod->id;
      price.currency = "usd";
      price.unit_amount_minor = 100 * (k + 1);
      price.interval = k == 2 ? "" : "month";
      if (!billing.billing()
               .CreatePrice(price, "seed-pr" + std::to_string(i) + "-" + std::to_string(k))
               .ok())
        return 1;
    }
  }
  // The network, from here on (the seeding is not what is measured).
  if (crm_ms > 0) crm_sb.AddFault({"", "", 0, "", -1, crm_ms});
  if (billing_ms > 0) billing_sb.AddFault({"", "", 0, "", -1, billing_ms});
  std::printf("CRM %d ms, billing %d ms\n", crm_ms, billing_ms);
  catalog_sync::CatalogSync sync({crm.client(), billing.billing(), **store, *mapping, clock});
  int failures = 0;
  auto run = [&](const char* name) {
    counter.Reset();
    const auto t0 = std::chrono::steady_clock::now();
    auto s = sync.Run({});
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      std::printf("%s: %s\n", name, s.status().ToString().c_str());
      ++failures;
      return catalog_sync::RunSummary{};
    }
    const auto snap = counter.Snapshot();
    auto calls = [&](const std::string& key) {
      auto it = snap.find(key);
      return it == snap.end() ? 0LL : static_cast<long long>(it->second.calls);
    };
    const long long product_writes = calls(
        "salesforce|PATCH /services/data/v61.0/composite/sobjects/Product2/Billing_Product_Id__c");
    const long long entry_writes = calls(
        "salesforce|PATCH "
        "/services/data/v61.0/composite/sobjects/PricebookEntry/Billing_Price_Id__c");
    std::printf(
        "%s: %.2f s; %d written; CRM reads %lld, product upserts %lld, entry upserts %lld; billing "
        "reads %lld\n",
        name, wall, s->written,
        calls("salesforce|GET /query") + calls("salesforce|GET /query/next"), product_writes,
        entry_writes, static_cast<long long>(s->billing_reads));
    if (s->failed) ++failures;
    return *s;
  };
  auto full = run("full sync");
  const auto snap_products = crm_sb.CountRecords("Product2");
  if (snap_products != n || crm_sb.CountRecords("PricebookEntry") != 3 * n) ++failures;
  // The minimum number of 200-record batches for n products and 3n entries.
  const auto& calls = crm_sb.calls_by_endpoint();
  const long long min_batches = (n + 199) / 200 + (3 * n + 199) / 200;
  const long long batches =
      calls.at("PATCH /composite/sobjects/Product2/Billing_Product_Id__c") +
      calls.at("PATCH /composite/sobjects/PricebookEntry/Billing_Price_Id__c");
  std::printf("CRM upsert calls %lld, minimum %lld\n", batches, min_batches);
  if (batches != min_batches) ++failures;
  auto quiet = run("quiet run");
  if (quiet.billing_reads > 2 || !quiet.plan.empty()) ++failures;
  for (int i = 0; i < 100; ++i) {
    connector::billing::Product rename;
    rename.name = "Product " + std::to_string(i) + " v2";
    if (!billing.billing()
             .UpdateProduct(products[static_cast<size_t>(i) * 97 % n], rename,
                            "r" + std::to_string(i))
             .ok())
      ++failures;
  }
  auto incremental = run("incremental after 100 product changes");
  if (incremental.written != 100) ++failures;
  std::filesystem::remove_all(dir);
  std::printf("peak RSS %.0f MiB (Tandem and the sandboxes in one process)\n", bench::PeakRssMiB());
  std::printf("bench: %d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
  (void)full;
  return failures == 0 ? 0 : 1;
}
