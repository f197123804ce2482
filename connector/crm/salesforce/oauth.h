// Salesforce OAuth 2.0 server-to-server token sources, for OAuthTokenAuth:
//  - JWT bearer flow (RFC 7523): an RS256-signed assertion (OpenSSL), key from a file ref;
//  - client credentials flow;
//  - refresh token flow.
// See "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration" (Salesforce Help).
// Thread-safety: Fetch() is called under OAuthTokenAuth's lock; not re-entrant.
#pragma once

#include <memory>
#include <string>

#include "connector/http/auth.h"
#include "connector/http/rest_client.h"

namespace tandem::connector::crm::salesforce {

struct OAuthSettings {
  std::string flow = "client_credentials";  // client_credentials | jwt_bearer | refresh_token
  std::string client_id;
  std::string client_secret;
  std::string username;     // jwt_bearer: sub
  std::string private_key;  // jwt_bearer: PEM text
  std::string refresh_token;
  std::string audience;  // jwt_bearer: aud; default https://login.salesforce.com
};

struct TokenAnswer {
  http::AccessToken token;
  std::string instance_url;
};

// Fetches tokens from `login` (a RestClient on the login host, no auth of its own).
class SalesforceTokenSource final : public http::TokenSource {
 public:
  SalesforceTokenSource(OAuthSettings settings, http::RestClient& login, const Clock& clock);

  // TokenSource methods
  Result<http::AccessToken> Fetch() override;

  const std::string& instance_url() const { return instance_url_; }

 private:
  OAuthSettings settings_;
  http::RestClient& login_;
  const Clock& clock_;
  std::string instance_url_;
};

// The signed assertion for the JWT bearer flow: header.claims.signature, base64url.
// Failure: InvalidArgument when the key cannot be read or used.
Result<std::string> MakeJwtAssertion(const OAuthSettings& settings, WallTime now);

}  // namespace tandem::connector::crm::salesforce
