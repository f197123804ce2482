// Stripe customer creates per second through the adapter, with the client-side token bucket
// set to a limit and the sandbox enforcing its own per-second limit (answering 429 beyond
// it, as Stripe does): achieved rate against the limit, and how many 429s the client met.
//   bench_stripe_create [LIMIT_PER_S] [SECONDS] [THREADS]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "connector/billing/stripe/connection.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/log.h"

int main(int argc, char** argv) {
  const double limit = argc > 1 ? std::atof(argv[1]) : 100;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 5;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 8;
  tandem::log::Setup({tandem::log::Format::kText, spdlog::level::warn},
                     std::make_shared<tandem::Redactor>());
  tandem::SystemClock clock;
  tandem::RealSleeper sleeper;
  tandem::SeededRandom random(5);
  tandem::sandbox::stripe::StripeSandboxOptions so;
  so.rate_limit_per_second = limit;
  tandem::sandbox::stripe::StripeSandbox sandbox(so, clock);
  if (!sandbox.Start().ok()) return 1;

  tandem::connector::http::CallCounter counter;
  tandem::Redactor redactor;
  tandem::connector::billing::stripe::StripeConnectionOptions o;
  o.base_url = sandbox.base_url();
  o.api_key = "sk_test_sandbox";
  o.rate_per_second = limit;
  o.burst = 1;  // no bursts: the sandbox counts per wall-clock second
  tandem::connector::billing::stripe::StripeConnection conn(o, {clock, sleeper, random, counter},
                                                            redactor);
  std::atomic<int> created{0}, failed{0};
  std::atomic<bool> stop{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        tandem::connector::billing::BillingAccount a;
        a.name = "Bench " + std::to_string(t) + "-" + std::to_string(i);
        a.external_key = "B" + std::to_string(t) + "-" + std::to_string(i);
        auto r = conn.billing().CreateAccount(a, "bench:" + a.external_key);
        (r.ok() ? created : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto totals = counter.Total("stripe");
  std::printf(
      "stripe creates: limit %.0f/s, %d threads, %.2f s: %d created (%.1f/s = %.0f%% of the "
      "limit), %lld requests, %lld answered 429, %d failed, customers in sandbox %lld\n",
      limit, threads, wall, created.load(), created.load() / wall,
      100.0 * created.load() / wall / limit, static_cast<long long>(totals.attempts),
      static_cast<long long>(sandbox.rate_limited()), failed.load(),
      static_cast<long long>(sandbox.CountObjects("customer")));
  const bool ok = failed == 0 && sandbox.CountObjects("customer") == created;
  std::printf("peak RSS %.0f MiB (client and sandbox in one process)\n",
              tandem::bench::PeakRssMiB());
  std::printf("bench: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
  return ok ? 0 : 1;
}
