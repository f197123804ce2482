// The change poller (`sync: on_change` on the account map) over an hour of the CRM's time,
// polled once a minute as `serve` does by default (schedules.change_poll: 60s): the CRM calls
// it spends in an hour when nothing changes and when CHANGES_PER_HOUR Accounts change, the
// billing calls, each poll's wall time under the network's latency, and that hour's share of a
// daily API allowance. The CRM's clock is moved a minute per poll (its SystemModstamps follow
// it); the latency is real waiting.
//   bench_change_poll [CHANGES_PER_HOUR] [CRM_LATENCY_MS] [BILLING_LATENCY_MS] [DAILY_API_LIMIT]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "actions/change_poller.h"
#include "app/runtime.h"
#include "bench/bench_runtime.h"
#include "bench/bench_util.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/fakes/fake_clock.h"
#include "util/log.h"

using namespace tandem;

namespace {

struct Hour {
  int64_t crm_calls = 0, billing_calls = 0, synced = 0, failed = 0;
  std::vector<double> poll_seconds;
};

}  // namespace

int main(int argc, char** argv) {
  const int changes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int crm_latency = argc > 2 ? std::atoi(argv[2]) : 0;
  const int billing_latency = argc > 3 ? std::atoi(argv[3]) : 0;
  // Enterprise Edition: 100,000 calls a day plus 1,000 per user licence; 100,000 is the floor.
  const int64_t daily_limit = argc > 4 ? std::atoll(argv[4]) : 100'000;
  log::Setup({log::Format::kText, spdlog::level::warn}, std::make_shared<Redactor>());
  testing::FakeClock crm_clock;  // the CRM's time: a minute per poll
  SystemClock clock;
  sandbox::salesforce::SalesforceSandboxOptions crm_options;
  crm_options.latency = {crm_latency, crm_latency / 5};
  sandbox::salesforce::SalesforceSandbox crm(crm_options, crm_clock);
  sandbox::stripe::StripeSandboxOptions billing_options;
  billing_options.latency = {billing_latency, billing_latency / 5};
  sandbox::stripe::StripeSandbox billing(billing_options, clock);
  if (!crm.Start().ok() || !billing.Start().ok()) return 1;
  const auto dir = bench::ScratchDir("change-poll-");
  app::Config c =
      bench::SandboxRuntimeConfig(dir, crm.base_url(), billing.base_url(), "sk_test_sandbox");
  c.billing.remote.rate_per_second = 100;
  auto rt_or = app::BuildRuntime(c, std::make_shared<Redactor>());
  if (!rt_or.ok()) {
    std::fprintf(stderr, "%s\n", rt_or.status().ToString().c_str());
    return 1;
  }
  auto& rt = **rt_or;
  mapping::Mapping mapping = rt.mapping;
  for (auto& o : mapping.objects)
    if (o.name == "account") o.sync_on_change = true;
  actions::ChangePoller poller(*rt.actions, rt.crm->client(), *rt.store, mapping, rt.clock);

  int failures = 0;
  auto poll = [&](Hour* hour) {
    rt.counter.Reset();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = poller.PollOnce();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      std::fprintf(stderr, "poll: %s\n", r.status().ToString().c_str());
      ++failures;
      return;
    }
    hour->crm_calls += rt.counter.Total("salesforce").calls;
    hour->billing_calls += rt.counter.Total("stripe").calls;
    hour->synced += r->synced;
    hour->failed += r->failed;
    hour->poll_seconds.push_back(s);
  };
  // `n` Accounts created in the CRM now (not counted: the poll's calls are counted alone).
  int made = 0;
  auto create = [&](int n) {
    std::vector<Json> records;
    for (int i = 0; i < n; ++i) {
      Json a = Json::MakeObject();
      a.Set("Name", "Changed " + std::to_string(made++));
      a.Set("BillingCity", "Porto");
      records.push_back(a);
    }
    if (!records.empty() && !rt.crm->client().CreateMany("Account", records).ok()) ++failures;
  };
  auto report = [&](const char* what, Hour& h) {
    std::sort(h.poll_seconds.begin(), h.poll_seconds.end());
    const double p50 = h.poll_seconds.empty() ? 0 : h.poll_seconds[h.poll_seconds.size() / 2];
    const double max = h.poll_seconds.empty() ? 0 : h.poll_seconds.back();
    std::printf(
        "%s: %zu polls, CRM calls %lld (%.1f%% of an hour's share of %lld/day), billing calls "
        "%lld, %lld records synced (%lld failed; Tandem's own write-back is read once more and "
        "found unchanged); poll wall time p50 %.3f s, max %.3f s\n",
        what, h.poll_seconds.size(), static_cast<long long>(h.crm_calls),
        100.0 * static_cast<double>(h.crm_calls) / (static_cast<double>(daily_limit) / 24.0),
        static_cast<long long>(daily_limit), static_cast<long long>(h.billing_calls),
        static_cast<long long>(h.synced), static_cast<long long>(h.failed), p50, max);
  };

  create(50);  // there before the switch: not synced
  crm_clock.Advance(Millis(1000));
  Hour start;
  poll(&start);  // the switch: the cursor starts at the CRM's newest change
  Hour idle;
  for (int minute = 0; minute < 60; ++minute) {
    crm_clock.Advance(Millis(60'000));
    poll(&idle);
  }
  report("idle hour", idle);
  Hour busy;
  for (int minute = 0; minute < 60; ++minute) {
    // Spread evenly: minute m gets the changes between m/60 and (m+1)/60 of the hour's.
    create(changes * (minute + 1) / 60 - changes * minute / 60);
    crm_clock.Advance(Millis(60'000));
    poll(&busy);
  }
  report("busy hour", busy);
  std::printf("switch poll: %lld CRM calls; peak RSS %.0f MiB\n",
              static_cast<long long>(start.crm_calls), bench::PeakRssMiB());
  std::filesystem::remove_all(dir);
  // Every change reached billing once (one create each), and a quiet hour cost billing nothing.
  const bool all_synced =
      busy.billing_calls == changes && busy.failed == 0 && idle.billing_calls == 0;
  if (!all_synced)
    std::printf("FAILED: %lld billing calls for %d changes, %lld failed, %lld billing calls idle\n",
                static_cast<long long>(busy.billing_calls), changes,
                static_cast<long long>(busy.failed), static_cast<long long>(idle.billing_calls));
  return failures || !all_synced ? 1 : 0;
}
