#include "connector/crm/salesforce/connection.h"

#include "connector/crm/salesforce/errors.h"

namespace tandem::connector::crm::salesforce {

SalesforceConnection::SalesforceConnection(ConnectionOptions o, http::RestClientDeps deps,
                                           Redactor& redactor, Sleeper& sleeper) {
  http::RestClientOptions login;
  login.remote = "salesforce-login";
  login.base_url = o.login_url.empty() ? o.instance_url : o.login_url;
  login.timeout = o.timeout;
  login.retry.max_attempts = o.max_attempts;
  login_ = std::make_unique<http::RestClient>(login, deps, nullptr);
  if (o.oauth.audience.empty()) o.oauth.audience = login.base_url;
  redactor.AddSecret(o.oauth.client_secret);
  redactor.AddSecret(o.oauth.refresh_token);
  tokens_ = std::make_unique<SalesforceTokenSource>(o.oauth, *login_, deps.clock);
  auth_ = std::make_shared<http::OAuthTokenAuth>(*tokens_, redactor, deps.clock);

  http::RestClientOptions api;
  api.remote = "salesforce";
  api.base_url = o.instance_url;
  api.timeout = o.timeout;
  api.rate_per_second = o.rate_per_second;
  api.burst = o.burst;
  api.max_concurrent = o.max_concurrent;
  api.max_in_flight = o.max_concurrent;
  api.retry.max_attempts = o.max_attempts;
  api.retry.classifier = Classify;
  api.backoff_base = o.backoff_base;
  api_ = std::make_unique<http::RestClient>(api, deps, auth_);
  client_ = std::make_unique<SalesforceClient>(o.api, *api_, sleeper);
}

SalesforceConnection::~SalesforceConnection() = default;

}  // namespace tandem::connector::crm::salesforce
