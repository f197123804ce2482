#include "connector/billing/gtv/connection.h"

#include <algorithm>

namespace tandem::connector::billing::gtv {

GtvConnection::GtvConnection(GtvConnectionOptions o, http::RestClientDeps deps, Redactor& redactor,
                             http::HttpTransportPtr transport) {
  redactor.AddSecret(o.api.notification_token);
  http::RestClientOptions r;
  r.remote = "gotransverse";
  r.base_url = o.base_url;
  r.timeout = o.timeout;
  r.rate_per_second = o.rate_per_second;
  r.burst = o.burst;
  r.retry.max_attempts = o.max_attempts;
  rest_ = std::make_unique<http::RestClient>(
      r, deps, std::make_shared<http::ApiKeyHeaderAuth>("X-Api-Key", o.api_key, redactor),
      std::move(transport));
  // A key's lease outlives one attempt of a create: its look-up's retries and the create. No
  // longer: a process that dies holding a key keeps every other from that create this long.
  o.api.key_lease = o.timeout * (o.max_attempts + 2);
  billing_ = std::make_unique<GtvBilling>(o.api, *rest_, deps.clock, deps.sleeper);
}

GtvConnection::~GtvConnection() = default;

}  // namespace tandem::connector::billing::gtv
