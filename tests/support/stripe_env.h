// A Stripe sandbox on loopback and a StripeConnection to it, as the app wires them. The
// client's waits are fake (retries do not sleep); the sandbox stamps objects with real time
// because Stripe's own timestamps are seconds and webhook signatures check them. A test may
// move that time on (clock.Advance), as Stripe's test clocks do.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "connector/billing/stripe/connection.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/fakes/fake_clock.h"
#include "util/clock.h"
#include "util/json.h"

namespace tandem::testing {

struct StripeEnv {
  explicit StripeEnv(sandbox::stripe::StripeSandboxOptions sandbox_options = {},
                     connector::billing::stripe::StripeConnectionOptions options = {})
      : sleeper(fake_clock), random(7), sandbox(std::move(sandbox_options), clock) {
    Status st = sandbox.Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    options.base_url = sandbox.base_url();
    if (options.api_key.empty()) options.api_key = "sk_test_sandbox";
    options.rate_per_second = options.rate_per_second == 25 ? 0 : options.rate_per_second;
    connection = std::make_unique<connector::billing::stripe::StripeConnection>(
        options, connector::http::RestClientDeps{clock, sleeper, random, counter}, redactor);
  }

  connector::billing::stripe::StripeBilling& billing() { return connection->billing(); }

  // A Stripe API call as someone in Stripe's dashboard makes it (a refund, a credit note):
  // the answer's HTTP status and body; status 0 when no answer came.
  std::pair<int, Json> Api(const std::string& method, const std::string& path,
                           const std::string& form = "") {
    connector::http::HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = form;
    if (!form.empty())
      connector::http::SetHeader(req.headers, "Content-Type", "application/x-www-form-urlencoded");
    auto resp = connection->rest().Send(std::move(req));
    if (!resp.ok()) return {0, Json()};
    auto body = Json::Parse(resp->body);
    return {resp->status, body.ok() ? *body : Json()};
  }

  ShiftedClock clock;  // real time; a test may move it on (Stripe's test clocks)
  FakeClock fake_clock;
  FakeSleeper sleeper;
  SeededRandom random;
  connector::http::CallCounter counter;
  Redactor redactor;
  sandbox::stripe::StripeSandbox sandbox;
  std::unique_ptr<connector::billing::stripe::StripeConnection> connection;
};

// A Stripe sandbox refusing more than `limit_per_second` requests a second, whose POSTs under
// `slow_path` answer in `latency_ms` as a real one's do, and a connection to it whose client
// keeps `client_rate` a second (burst 1), waiting in real time: what the tests that billing's
// rate limit holds under concurrency run on.
struct RateLimitedStripe {
  RateLimitedStripe(int limit_per_second, const std::string& slow_path, int latency_ms,
                    double client_rate, uint64_t seed)
      : random(seed), sandbox(Limited(limit_per_second), sandbox_clock) {
    Status st = sandbox.Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    sandbox.AddFault({"POST", slow_path, 0, "", -1, latency_ms});
    connector::billing::stripe::StripeConnectionOptions o;
    o.base_url = sandbox.base_url();
    o.api_key = "sk_test_sandbox";
    o.rate_per_second = client_rate;
    o.burst = 1;
    connection = std::make_unique<connector::billing::stripe::StripeConnection>(
        o, connector::http::RestClientDeps{clock, sleeper, random, counter}, redactor);
  }

  connector::billing::stripe::StripeBilling& billing() { return connection->billing(); }

  static sandbox::stripe::StripeSandboxOptions Limited(int limit_per_second) {
    sandbox::stripe::StripeSandboxOptions o;
    o.rate_limit_per_second = limit_per_second;
    return o;
  }

  ShiftedClock sandbox_clock;
  SystemClock clock;
  RealSleeper sleeper;  // the limit is kept in real time
  SeededRandom random;
  connector::http::CallCounter counter;
  Redactor redactor;
  sandbox::stripe::StripeSandbox sandbox;
  std::unique_ptr<connector::billing::stripe::StripeConnection> connection;
};

}  // namespace tandem::testing
