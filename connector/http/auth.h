// Auth providers and the stage that applies them. A provider puts credentials on a request;
// one that can refresh (OAuth) is asked to once when the remote answers 401, and the
// request is sent again with the new credentials — once, so a revoked credential
// cannot loop. Every credential a provider holds or obtains is registered with the
// Redactor so that no log line can show it.
// Thread-safety: providers and the stage are safe to use concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "connector/http/http_types.h"
#include "util/redact.h"

namespace tandem::connector::http {

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  // Adds credentials to the request. Fails when none can be had (e.g. the token fetch failed).
  virtual Status Apply(HttpRequest& request) = 0;
  // Called after a 401 answer to a request sent with `used_generation`'s credentials.
  // Returns OK when new credentials are ready (or another thread already refreshed them).
  virtual Status Refresh(int used_generation) {
    (void)used_generation;
    return Status::Unauthenticated("credentials cannot be refreshed");
  }
  // Identifies the credentials currently applied, so concurrent 401s refresh only once.
  virtual int generation() const { return 0; }
  virtual bool CanRefresh() const { return false; }
};
using AuthProviderPtr = std::shared_ptr<AuthProvider>;

class NoAuth final : public AuthProvider {
 public:
  Status Apply(HttpRequest&) override { return Status::Ok(); }
};

// Authorization: Bearer <token> (Stripe secret keys, static Salesforce session ids).
class BearerTokenAuth final : public AuthProvider {
 public:
  BearerTokenAuth(std::string token, Redactor& redactor);
  Status Apply(HttpRequest& request) override;

 private:
  const std::string token_;
};

// A key in a header of its own (Gotransverse: X-Api-Key: <key>).
class ApiKeyHeaderAuth final : public AuthProvider {
 public:
  ApiKeyHeaderAuth(std::string header, std::string key, Redactor& redactor);
  Status Apply(HttpRequest& request) override;

 private:
  const std::string header_, key_;
};

// Authorization: Basic base64(user:password) (RFC 7617).
class BasicAuth final : public AuthProvider {
 public:
  BasicAuth(const std::string& user, const std::string& password, Redactor& redactor);
  Status Apply(HttpRequest& request) override;

 private:
  std::string header_value_;
};

struct AccessToken {
  std::string value;
  std::string token_type = "Bearer";
  std::optional<WallTime> expires_at;  // unknown for Salesforce (session timeout is org policy)
};

// Obtains a fresh access token (OAuth 2.0 client credentials, JWT bearer, refresh token).
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual Result<AccessToken> Fetch() = 0;
};

// OAuth access token from a TokenSource: fetched on first use, again when it has expired
// (with a 30 s margin) or when the remote answers 401.
class OAuthTokenAuth final : public AuthProvider {
 public:
  OAuthTokenAuth(TokenSource& source, Redactor& redactor, const Clock& clock);

  // AuthProvider methods
  Status Apply(HttpRequest& request) override;
  Status Refresh(int used_generation) override;
  int generation() const override;
  bool CanRefresh() const override { return true; }

  int fetch_count() const;

 private:
  Status FetchLocked();  // REQUIRES: mu_ held

  TokenSource& source_;
  Redactor& redactor_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::optional<AccessToken> token_;  // GUARDED_BY(mu_)
  int generation_ = 0;                // GUARDED_BY(mu_)
  int fetches_ = 0;                   // GUARDED_BY(mu_)
};

class AuthStage final : public HttpTransport {
 public:
  AuthStage(HttpTransportPtr next, AuthProviderPtr provider)
      : next_(std::move(next)), provider_(std::move(provider)) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

 private:
  HttpTransportPtr next_;
  AuthProviderPtr provider_;
};

// RFC 4648 base64 (used for Basic auth here, and by JWT signing later).
std::string Base64Encode(std::string_view data, bool url_safe = false, bool pad = true);

}  // namespace tandem::connector::http
