// Step 3 end to end on the sandboxes (in this process) and a SQLite store:
//  1. accounts synced per second, with CRM and billing calls per record, first and second
//     (no change) sync;
//  2. webhook receipt → CRM update latency (p50/p99) at a steady rate of signed invoice
//     events posted to the callback endpoint while the worker applies them.
//   bench_sync [ACCOUNTS] [EVENTS_PER_S] [SECONDS]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/runtime.h"
#include "connector/billing/stripe/stripe_wire.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/log.h"

using namespace tandem;

int main(int argc, char** argv) {
  const int accounts = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int rate = argc > 2 ? std::atoi(argv[2]) : 200;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  SystemClock clock;
  sandbox::salesforce::SalesforceSandbox crm({}, clock);
  sandbox::stripe::StripeSandbox billing({}, clock);
  if (!crm.Start().ok() || !billing.Start().ok()) return 1;
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  app::Config c;
  c.store.url = "sqlite:" + (dir / "bench.db").string();
  c.crm.remote.base_url = crm.base_url();
  c.crm.client_id = "tandem-sandbox";
  c.crm.client_secret = "sandbox-secret";
  c.billing.remote.base_url = billing.base_url();
  c.billing.api_key = "sk_test_sandbox";
  c.billing.remote.rate_per_second = 0;
  c.billing.webhook_secret = "whsec_bench";
  c.mapping_path = "config/mapping.yaml";
  auto rt_or = app::BuildRuntime(c, std::make_shared<Redactor>());
  if (!rt_or.ok()) {
    std::fprintf(stderr, "%s\n", rt_or.status().ToString().c_str());
    return 1;
  }
  auto& rt = **rt_or;

  std::vector<Json> records;
  for (int i = 0; i < accounts; ++i) {
    Json a = Json::MakeObject();
    a.Set("Name", "Bench " + std::to_string(i));
    a.Set("BillingCity", "Porto");
    records.push_back(a);
  }
  std::vector<std::string> ids;
  auto created = rt.crm->client().CreateMany("Account", records);
  if (!created.ok()) return 1;
  for (const auto& r : *created) ids.push_back(r.id);
  int failures = 0;
  for (int pass = 1; pass <= 2; ++pass) {
    rt.counter.Reset();
    const auto t0 = std::chrono::steady_clock::now();
    auto report = rt.actions->Sync("account", ids);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!report.ok() || report->failed || report->writeback_failed) ++failures;
    const auto sf = rt.counter.Total("salesforce"), st = rt.counter.Total("stripe");
    std::printf(
        "sync pass %d: %d accounts in %.2f s = %.0f accounts/s; CRM calls %lld (%.4f per record), "
        "billing calls %lld (%.3f per record); %d created, %d unchanged\n",
        pass, accounts, wall, accounts / wall, static_cast<long long>(sf.calls),
        static_cast<double>(sf.calls) / accounts, static_cast<long long>(st.calls),
        static_cast<double>(st.calls) / accounts, report.ok() ? report->created : -1,
        report.ok() ? report->unchanged : -1);
  }

  // Webhooks at a steady rate, applied by a worker; latency from receipt to CRM update.
  auto links = rt.store->FindLinksByCrmIds("account", ids).value();
  std::vector<double> latencies_ms;
  std::atomic<bool> done{false};
  std::thread worker([&] {
    while (!done || !rt.store->PendingInboxEvents(1).value().empty()) {
      auto pending = rt.store->PendingInboxEvents(200);
      if (!pending.ok() || pending->empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      auto applied = rt.callbacks->ApplyPending(200);
      const int64_t now = ToEpochMillis(clock.Now());
      if (applied.ok())
        for (const auto& e : *pending)
          latencies_ms.push_back(static_cast<double>(now - e.received_ms));
    }
  });
  const int total = rate * seconds;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000LL * i / rate));
    const auto& link = links[static_cast<size_t>(i) % links.size()];
    Json obj = Json::MakeObject();
    obj.Set("id", "in_bench_" + std::to_string(i));
    obj.Set("object", "invoice");
    obj.Set("customer", link.billing_id);
    obj.Set("status", "open");
    obj.Set("currency", "eur");
    obj.Set("amount_due", 4900);
    obj.Set("amount_paid", 0);
    Json data = Json::MakeObject();
    data.Set("object", obj);
    Json e = Json::MakeObject();
    e.Set("id", "evt_bench_" + std::to_string(i));
    e.Set("object", "event");
    e.Set("type", "invoice.finalized");
    e.Set("created", static_cast<int64_t>(ToEpochMillis(clock.Now()) / 1000));
    e.Set("data", data);
    const std::string payload = e.Dump();
    const std::string t = std::to_string(ToEpochMillis(clock.Now()) / 1000);
    const std::string sig =
        "t=" + t +
        ",v1=" + connector::billing::stripe::HmacSha256Hex("whsec_bench", t + "." + payload);
    if (rt.callbacks->Receive(payload, sig).http_status != 200) ++failures;
  }
  const double sent_for =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  worker.join();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms.empty()
               ? 0.0
               : latencies_ms[std::min(latencies_ms.size() - 1,
                                       static_cast<size_t>(p * latencies_ms.size()))];
  };
  std::printf(
      "webhooks: %d events at %.0f/s offered (%.1f s); %zu applied; receipt→CRM latency p50 %.0f "
      "ms, "
      "p99 %.0f ms, max %.0f ms; %lld invoice records in the CRM\n",
      total, total / sent_for, sent_for, latencies_ms.size(), pct(0.5), pct(0.99),
      latencies_ms.empty() ? 0.0 : latencies_ms.back(),
      static_cast<long long>(crm.CountRecords("Billing_Invoice__c")));
  if (static_cast<int>(latencies_ms.size()) != total) ++failures;
  std::filesystem::remove_all(dir);
  std::printf("bench: %d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
  return failures == 0 ? 0 : 1;
}
