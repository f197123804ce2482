#include "connector/http/auth.h"

#include "util/log.h"

namespace tandem::connector::http {

std::string Base64Encode(std::string_view data, bool url_safe, bool pad) {
  const char* alphabet = url_safe
                             ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t n =
        (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = uint8_t(data[i]) << 16;
    if (rest == 2) n |= uint8_t(data[i + 1]) << 8;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    if (rest == 2) out.push_back(alphabet[(n >> 6) & 63]);
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

BearerTokenAuth::BearerTokenAuth(std::string token, Redactor& redactor) : token_(std::move(token)) {
  redactor.AddSecret(token_);
}

Status BearerTokenAuth::Apply(HttpRequest& request) {
  SetHeader(request.headers, "Authorization", "Bearer " + token_);
  return Status::Ok();
}

ApiKeyHeaderAuth::ApiKeyHeaderAuth(std::string header, std::string key, Redactor& redactor)
    : header_(std::move(header)), key_(std::move(key)) {
  redactor.AddSecret(key_);
}

Status ApiKeyHeaderAuth::Apply(HttpRequest& request) {
  SetHeader(request.headers, header_, key_);
  return Status::Ok();
}

BasicAuth::BasicAuth(const std::string& user, const std::string& password, Redactor& redactor)
    : header_value_("Basic " + Base64Encode(user + ":" + password)) {
  redactor.AddSecret(password);
  redactor.AddSecret(header_value_.substr(6));
}

Status BasicAuth::Apply(HttpRequest& request) {
  SetHeader(request.headers, "Authorization", header_value_);
  return Status::Ok();
}

OAuthTokenAuth::OAuthTokenAuth(TokenSource& source, Redactor& redactor, const Clock& clock)
    : source_(source), redactor_(redactor), clock_(clock) {}

Status OAuthTokenAuth::FetchLocked() {
  ++fetches_;
  Result<AccessToken> token = source_.Fetch();
  if (!token.ok()) return token.status().WithContext("fetching an OAuth access token");
  redactor_.AddSecret(token->value);
  token_ = std::move(token).value();
  ++generation_;
  return Status::Ok();
}

Status OAuthTokenAuth::Apply(HttpRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool expired = token_ && token_->expires_at &&
                       clock_.Now() + std::chrono::seconds(30) >= *token_->expires_at;
  if (!token_ || expired) TANDEM_RETURN_IF_ERROR(FetchLocked());
  SetHeader(request.headers, "Authorization", token_->token_type + " " + token_->value);
  return Status::Ok();
}

Status OAuthTokenAuth::Refresh(int used_generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation_ != used_generation) return Status::Ok();  // another caller already refreshed
  return FetchLocked();
}

int OAuthTokenAuth::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

int OAuthTokenAuth::fetch_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

Result<HttpResponse> AuthStage::Send(HttpRequest& request) {
  TANDEM_RETURN_IF_ERROR(provider_->Apply(request));
  // Read after Apply (which may have fetched the first token). A concurrent refresh in
  // between costs at most one extra token fetch.
  const int generation = provider_->generation();
  Result<HttpResponse> result = next_->Send(request);
  if (!result.ok() || result->status != 401 || !provider_->CanRefresh()) return result;

  log::Get("connector.http")
      ->info("{}: 401, refreshing credentials and repeating once", request.EndpointLabel());
  Status refreshed = provider_->Refresh(generation);
  if (!refreshed.ok()) return refreshed;
  TANDEM_RETURN_IF_ERROR(provider_->Apply(request));
  return next_->Send(request);
}

}  // namespace tandem::connector::http
