#include "connector/crm/salesforce/oauth.h"

#include "connector/crm/salesforce/errors.h"
#include "util/json.h"
#include "util/openssl_init.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

namespace tandem::connector::crm::salesforce {

Result<std::string> MakeJwtAssertion(const OAuthSettings& s, WallTime now) {
  InitOpenSsl();
  if (s.private_key.empty())
    return Status::InvalidArgument("jwt_bearer needs crm.auth.private_key");
  if (s.client_id.empty() || s.username.empty())
    return Status::InvalidArgument("jwt_bearer needs crm.auth.client_id and crm.auth.username");
  Json claims = Json::MakeObject();
  claims.Set("iss", s.client_id);
  claims.Set("sub", s.username);
  claims.Set("aud", s.audience.empty() ? "https://login.salesforce.com" : s.audience);
  // Salesforce accepts an exp at most 3 minutes ahead.
  claims.Set("exp", static_cast<int64_t>(ToEpochMillis(now) / 1000 + 180));
  const std::string signing_input = http::Base64Encode(R"({"alg":"RS256"})", true, false) + "." +
                                    http::Base64Encode(claims.Dump(), true, false);

  BIO* bio = BIO_new_mem_buf(s.private_key.data(), static_cast<int>(s.private_key.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio) BIO_free(bio);
  if (!key) return Status::InvalidArgument("crm.auth.private_key is not a PEM private key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSignUpdate(ctx, signing_input.data(), signing_input.size()) == 1 &&
            EVP_DigestSignFinal(ctx, nullptr, &len) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSignFinal(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return Status::InvalidArgument("cannot sign the JWT with crm.auth.private_key (RSA?)");
  return signing_input + "." + http::Base64Encode(sig, true, false);
}

SalesforceTokenSource::SalesforceTokenSource(OAuthSettings settings, http::RestClient& login,
                                             const Clock& clock)
    : settings_(std::move(settings)), login_(login), clock_(clock) {}

Result<http::AccessToken> SalesforceTokenSource::Fetch() {
  http::FormFields form;
  if (settings_.flow == "jwt_bearer") {
    auto assertion = MakeJwtAssertion(settings_, clock_.Now());
    if (!assertion.ok()) return assertion.status();
    form = {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
            {"assertion", *assertion}};
  } else if (settings_.flow == "refresh_token") {
    form = {{"grant_type", "refresh_token"},
            {"refresh_token", settings_.refresh_token},
            {"client_id", settings_.client_id}};
    if (!settings_.client_secret.empty())
      form.emplace_back("client_secret", settings_.client_secret);
  } else {
    form = {{"grant_type", "client_credentials"},
            {"client_id", settings_.client_id},
            {"client_secret", settings_.client_secret}};
  }
  http::HttpRequest req;
  req.method = "POST";
  req.path = "/services/oauth2/token";
  req.body = http::FormEncode(form);
  req.idempotent = true;  // a token request has no effect to double
  http::SetHeader(req.headers, "Content-Type", "application/x-www-form-urlencoded");
  http::SetHeader(req.headers, "Accept", "application/json");
  auto resp = login_.Send(std::move(req));
  if (!resp.ok()) return resp.status().WithContext("Salesforce token request");
  if (resp->status != 200) {
    const auto errors = ParseErrors(resp->status, resp->body);
    return Status::Unauthenticated("Salesforce token request (" + settings_.flow +
                                   "): " + errors.front().ToString());
  }
  auto body = Json::Parse(resp->body);
  if (!body.ok() || (*body)["access_token"].as_string().empty())
    return Status::RemoteError("Salesforce token answer has no access_token");
  instance_url_ = (*body)["instance_url"].as_string();
  http::AccessToken token;
  token.value = (*body)["access_token"].as_string();
  if (!(*body)["token_type"].as_string().empty())
    token.token_type = (*body)["token_type"].as_string();
  return token;
}

}  // namespace tandem::connector::crm::salesforce
