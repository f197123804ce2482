// A Stripe sandbox on loopback and a StripeConnection to it, as the app wires them. The
// client's waits are fake (retries do not sleep); the sandbox stamps objects with real time
// because Stripe's own timestamps are seconds and webhook signatures check them. A test may
// move that time on (clock.Advance), as Stripe's test clocks do.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "connector/billing/stripe/connection.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/fakes/fake_clock.h"
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

}  // namespace tandem::testing
