#include "connector/billing/stripe/connection.h"

#include "connector/billing/stripe/stripe_wire.h"

namespace tandem::connector::billing::stripe {

StripeConnection::StripeConnection(StripeConnectionOptions o, http::RestClientDeps deps,
                                   Redactor& redactor, http::HttpTransportPtr transport) {
  redactor.AddSecret(o.api.webhook_secret);
  http::RestClientOptions r;
  r.remote = "stripe";
  r.base_url = o.base_url;
  r.timeout = o.timeout;
  r.rate_per_second = o.rate_per_second;
  r.burst = o.burst;
  r.retry.max_attempts = o.max_attempts;
  r.retry.classifier = Classify;
  rest_ = std::make_unique<http::RestClient>(
      r, deps, std::make_shared<http::BearerTokenAuth>(o.api_key, redactor), std::move(transport));
  billing_ = std::make_unique<StripeBilling>(o.api, *rest_, deps.clock);
}

StripeConnection::~StripeConnection() = default;

}  // namespace tandem::connector::billing::stripe
