// SalesforceConnection: the one place that wires a working Salesforce client — a RestClient
// on the login host for tokens, a RestClient on the instance with the Salesforce retry
// classifier and OAuth auth (refresh once on 401), and the SalesforceClient over it.
// Thread-safety: client() is thread-safe; the connection must outlive its users.
#pragma once

#include <memory>

#include "connector/crm/salesforce/oauth.h"
#include "connector/crm/salesforce/salesforce_client.h"

namespace tandem::connector::crm::salesforce {

struct ConnectionOptions {
  std::string instance_url;  // https://example.my.salesforce.com
  std::string login_url;     // token host; default: instance_url
  OAuthSettings oauth;
  SalesforceOptions api;
  Millis timeout = Millis(30'000);
  double rate_per_second = 0;  // client-side limit; 0 = none
  double burst = 10;
  // Requests in flight at once: Salesforce refuses new ones while 25 (production, sandbox)
  // or 5 (developer, trial) run 20 s or longer, and any request may be a long one when the
  // org is slow. Default 25.
  int max_concurrent = 25;
  int max_attempts = 4;
  Millis backoff_base = Millis(500);  // REQUEST_LIMIT_EXCEEDED has no Retry-After: ours
};

class SalesforceConnection {
 public:
  SalesforceConnection(ConnectionOptions options, http::RestClientDeps deps, Redactor& redactor,
                       Sleeper& sleeper);
  ~SalesforceConnection();

  SalesforceClient& client() { return *client_; }
  http::OAuthTokenAuth& auth() { return *auth_; }
  http::RestClient& rest() { return *api_; }

 private:
  std::unique_ptr<http::RestClient> login_;
  std::unique_ptr<SalesforceTokenSource> tokens_;
  std::shared_ptr<http::OAuthTokenAuth> auth_;
  std::unique_ptr<http::RestClient> api_;
  std::unique_ptr<SalesforceClient> client_;
};

}  // namespace tandem::connector::crm::salesforce
