// Stripe and Gotransverse side by side, under a modelled network: every billing request waits
// LATENCY_MS in the emulator (real Stripe and GTV answer in hundreds of ms; loopback in one).
//  1. accounts synced per second (tandem's sync action, its billing writes in flight as the
//     flow control derives them from RATE and the latency measured) as a share of RATE, the
//     429s billing answered, and billing calls per
//     1,000 accounts: Stripe's idempotency keys make a create one call; GTV has none, so each
//     create looks its account up first (two calls);
//  2. invoices read per second and calls per 1,000 invoices: the reconcile's listing
//     (Stripe pages 100, GTV 50), and for GTV the poll that brings invoices and payments
//     into the inbox instead of webhooks.
//   bench_billing_backends [ACCOUNTS] [LATENCY_MS] [RATE]   (RATE: billing's limit, calls/s;
//   default 100, Stripe's live mode; 0: no limit, sequential sync as before)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "actions/billing_poll.h"
#include "app/runtime.h"
#include "bench/bench_runtime.h"
#include "bench/bench_util.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/log.h"

using namespace tandem;

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One backend's run; returns false when a step failed.
template <typename Emulator>
bool Run(const std::string& system, Emulator& billing, const std::string& api_key, int accounts,
         int latency_ms, double rate) {
  SystemClock clock;
  sandbox::salesforce::SalesforceSandbox crm({}, clock);
  if (!crm.Start().ok() || !billing.Start().ok()) return false;
  const auto dir = bench::ScratchDir(system + "-");
  app::Config c = bench::SandboxRuntimeConfig(dir, crm.base_url(), billing.base_url(), api_key);
  c.billing.system = system;
  c.billing.remote.rate_per_second = rate;
  c.billing.remote.burst = std::max(1.0, rate / 10);
  c.billing.in_flight = rate > 0 ? 0 : 1;  // no limit given: one at a time, as before
  c.billing.webhook_secret = "bench-secret";
  // The bench bills in euros; a GTV account's currency is its bill cycle's (Stripe has none).
  for (const auto& text : billing.Objects("bill-cycle")) {
    auto cycle = Json::Parse(text);
    if (cycle.ok() && (*cycle)["currency_code"].as_string() == "EUR")
      c.billing.bill_cycle = (*cycle)["id"].as_string();
  }
  auto built = app::BuildRuntime(c, std::make_shared<Redactor>());
  if (!built.ok()) {
    std::fprintf(stderr, "%s\n", built.status().ToString().c_str());
    return false;
  }
  auto& rt = **built;
  std::vector<Json> records;
  for (int i = 0; i < accounts; ++i) {
    Json a = Json::MakeObject();
    a.Set("Name", "Bench " + std::to_string(i));
    a.Set("BillingCity", "Porto");
    records.push_back(a);
  }
  auto created = rt.crm->client().CreateMany("Account", records);
  if (!created.ok()) return false;
  std::vector<std::string> ids;
  for (const auto& r : *created) ids.push_back(r.id);

  // Every billing request from here on waits latency_ms.
  sandbox::Fault slow;
  slow.status = 0;
  slow.error_code = "";
  slow.count = -1;
  slow.latency_ms = latency_ms;
  billing.AddFault(slow);

  rt.counter.Reset();
  auto t0 = std::chrono::steady_clock::now();
  auto report = rt.actions->Sync("account", ids);
  double wall = Since(t0);
  if (!report.ok() || report->failed) return false;
  const auto calls = rt.counter.Total(system).calls;
  const double calls_per_s = static_cast<double>(calls) / wall;
  std::printf(
      "%-12s sync: %d accounts in %.1f s = %.2f accounts/s, %d in flight at the end, %lld 429s; "
      "%lld billing calls (%.0f per 1,000 accounts) = %.1f calls/s%s\n",
      system.c_str(), accounts, wall, accounts / wall, rt.billing->billing().PreferredInFlight(),
      static_cast<long long>(billing.rate_limited()), static_cast<long long>(calls),
      1000.0 * static_cast<double>(calls) / accounts, calls_per_s,
      rate > 0 ? (" = " + std::to_string(static_cast<int>(100 * calls_per_s / rate + 0.5)) +
                  " % of the rate limit")
                     .c_str()
               : "");

  // Invoices: one a subscribed account, made by a bill run (not timed: billing's own work).
  billing.ClearFaults();
  connector::billing::BillingSystem& b = rt.billing->billing();
  connector::billing::Product product;
  product.name = "Bench Server";
  auto p = b.CreateProduct(product, "bench-product");
  connector::billing::Price price;
  price.product_id = p.ok() ? p->id : "";
  price.currency = "eur";
  price.unit_amount_minor = 3000;
  price.interval = "month";
  auto monthly = b.CreatePrice(price, "bench-price");
  if (!monthly.ok()) {
    std::fprintf(stderr, "price: %s\n", monthly.status().ToString().c_str());
    return false;
  }
  actions::BillingPoller poller(b, *rt.store, rt.clock);
  (void)poller.PollOnce();  // from now on
  for (const auto& o : report->outcomes) {
    connector::billing::SubscriptionSpec spec;
    spec.account_id = o.remote_id;
    spec.items.emplace_back("", monthly->id, 1, connector::billing::Metadata{});
    auto sub = b.CreateSubscription(spec, "bench-sub-" + o.remote_id);
    if (!sub.ok()) {
      std::fprintf(stderr, "subscription: %s\n", sub.status().ToString().c_str());
      return false;
    }
  }
  billing.BillRun();
  billing.AddFault(slow);
  rt.counter.Reset();
  t0 = std::chrono::steady_clock::now();
  int64_t invoices = 0;
  Status listed = b.ListInvoices("", [&](const connector::billing::Invoice&) {
    ++invoices;
    return Status::Ok();
  });
  wall = Since(t0);
  if (!listed.ok()) {
    std::fprintf(stderr, "invoices: %s\n", listed.ToString().c_str());
    return false;
  }
  const auto list_calls = rt.counter.Total(system).calls;
  std::printf(
      "%-12s invoices listed: %lld in %.1f s = %.1f invoices/s; %lld calls (%.0f per "
      "1,000 invoices)\n",
      system.c_str(), static_cast<long long>(invoices), wall, invoices / wall,
      static_cast<long long>(list_calls),
      1000.0 * static_cast<double>(list_calls) / static_cast<double>(invoices));
  if (poller.active()) {
    rt.counter.Reset();
    t0 = std::chrono::steady_clock::now();
    auto round = poller.PollOnce();
    wall = Since(t0);
    if (!round.ok()) {
      std::fprintf(stderr, "poll: %s\n", round.status().ToString().c_str());
      return false;
    }
    const auto poll_calls = rt.counter.Total(system).calls;
    std::printf(
        "%-12s poll: %lld changes (invoices, payments, services) into the inbox in "
        "%.1f s; %lld calls (%.0f per 1,000 invoices); a poll with nothing new: ",
        system.c_str(), static_cast<long long>(round->events), wall,
        static_cast<long long>(poll_calls),
        1000.0 * static_cast<double>(poll_calls) / static_cast<double>(invoices));
    rt.counter.Reset();
    t0 = std::chrono::steady_clock::now();
    auto quiet = poller.PollOnce();
    std::printf("%lld calls, %.2f s\n", static_cast<long long>(rt.counter.Total(system).calls),
                Since(t0));
    if (!quiet.ok()) return false;
  }
  billing.ClearFaults();
  billing.Stop();
  crm.Stop();
  std::filesystem::remove_all(dir);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int accounts = argc > 1 ? std::atoi(argv[1]) : 100;
  const int latency = argc > 2 ? std::atoi(argv[2]) : 150;
  const double rate = argc > 3 ? std::atof(argv[3]) : 100;
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  std::printf("billing latency %d ms a request, %d accounts, billing's limit %s\n", latency,
              accounts,
              rate > 0 ? (std::to_string(static_cast<int>(rate)) + " calls/s").c_str()
                       : "none (one call at a time)");
  SystemClock clock;
  sandbox::stripe::StripeSandbox stripe({}, clock);
  sandbox::gtv::GtvSandboxOptions go;
  sandbox::gtv::GtvSandbox gtv(go, clock);
  const bool ok = Run("stripe", stripe, "sk_test_sandbox", accounts, latency, rate) &&
                  Run("gotransverse", gtv, "gtv-sandbox-key", accounts, latency, rate);
  std::printf("peak RSS %.0f MiB (Tandem and the sandboxes in one process)\n", bench::PeakRssMiB());
  return ok ? 0 : 1;
}
