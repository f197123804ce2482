// Billing webhooks as `serve` receives them: a receiver the Stripe sandbox delivers to, the
// endpoint's secret, and a billing client that verifies signatures with it. Deliver() hands
// what arrived since the last call to Callbacks::Receive, once each.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "actions/callbacks.h"
#include "connector/billing/stripe/stripe_billing.h"
#include "tests/support/scripted_http_server.h"
#include "tests/support/stripe_env.h"

namespace tandem::testing {

struct WebhookEnv {
  explicit WebhookEnv(StripeEnv& stripe)
      : secret(
            stripe.sandbox.AddWebhookEndpoint(receiver.base_url() + "/api/v1/callbacks/billing")),
        verifier(Options(secret), stripe.connection->rest(), stripe.clock),
        sandbox(stripe.sandbox) {}

  void Deliver(actions::Callbacks& callbacks) {
    ASSERT_TRUE(sandbox.FlushWebhooks());
    const auto requests = receiver.requests();
    for (; delivered < requests.size(); ++delivered) {
      auto res = callbacks.Receive(requests[delivered].body,
                                   requests[delivered].Header("Stripe-Signature"));
      EXPECT_EQ(res.http_status, 200) << res.message;
    }
  }

  // What arrived so far is never delivered (events lost before Tandem knew the customer).
  void Drop() {
    ASSERT_TRUE(sandbox.FlushWebhooks());
    delivered = receiver.requests().size();
  }

  ScriptedHttpServer receiver;
  std::string secret;
  connector::billing::stripe::StripeBilling verifier;

 private:
  static connector::billing::stripe::StripeOptions Options(const std::string& secret) {
    connector::billing::stripe::StripeOptions o;
    o.webhook_secret = secret;
    return o;
  }
  sandbox::stripe::StripeSandbox& sandbox;
  size_t delivered = 0;
};

}  // namespace tandem::testing
