// StripeConnection: wires a working Stripe adapter — a RestClient authenticating with the
// secret key, Stripe's retry advice (Stripe-Should-Retry), the client-side rate limit — and
// the StripeBilling over it.
// Thread-safety: billing() is thread-safe; the connection must outlive its users.
#pragma once

#include <memory>

#include "connector/billing/billing_connection.h"
#include "connector/billing/stripe/stripe_billing.h"

namespace tandem::connector::billing::stripe {

struct StripeConnectionOptions {
  std::string base_url = "https://api.stripe.com";
  std::string api_key;  // sk_...
  StripeOptions api;
  Millis timeout = Millis(30'000);
  double rate_per_second = 25;  // Stripe allows 25/s in test mode, 100/s live; default 25
  double burst = 10;
  int max_attempts = 4;
};

class StripeConnection : public BillingConnection {
 public:
  // `transport` replaces the network transport (tests put a recorder in front of it).
  StripeConnection(StripeConnectionOptions options, http::RestClientDeps deps, Redactor& redactor,
                   http::HttpTransportPtr transport = nullptr);
  ~StripeConnection() override;

  StripeBilling& billing() override { return *billing_; }
  http::RestClient& rest() { return *rest_; }
  void ShareLimits(int processes) override { rest().SetShare(processes); }

 private:
  std::unique_ptr<http::RestClient> rest_;
  std::unique_ptr<StripeBilling> billing_;
};

}  // namespace tandem::connector::billing::stripe
