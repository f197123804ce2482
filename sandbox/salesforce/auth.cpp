// The OAuth token endpoint: client credentials, refresh token, and the JWT bearer grant with
// RS256 checked against the configured public key.
#include <map>

#include <cpprest/base_uri.h>

#include "sandbox/http/request_parts.h"
#include "sandbox/salesforce/internal.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

namespace tandem::sandbox::salesforce {
namespace {

std::string Base64UrlDecode(const std::string& in, bool* ok) {
  std::string b64 = in;
  for (auto& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
  }
  while (b64.size() % 4) b64.push_back('=');
  std::string out(b64.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  *ok = n >= 0;
  if (n < 0) return "";
  size_t len = static_cast<size_t>(n);
  size_t pad = 0;
  while (pad < 2 && b64.size() > pad && b64[b64.size() - 1 - pad] == '=') ++pad;
  len -= pad;
  out.resize(len);
  return out;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string s) {
    for (auto& c : s)
      if (c == '+') c = ' ';
    return web::uri::decode(s);
  };
  for (const FormPair& pair : SplitFormPairs(body))
    if (pair.has_value) out[decode(pair.key)] = decode(pair.value);
  return out;
}

// The RS256 signature of `signed_part` by the key in `pem`.
bool VerifyRs256(const std::string& pem, const std::string& signed_part, const std::string& sig,
                 std::string* why) {
  if (pem.empty()) {
    *why = "no certificate configured for the JWT bearer flow";
    return false;
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) {
    *why = "configured certificate is unreadable";
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool good =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!good) *why = "invalid assertion signature";
  return good;
}

}  // namespace

bool Handler::VerifyJwt(const std::string& assertion, std::string* why) {
  const auto d1 = assertion.find('.');
  const auto d2 = assertion.find('.', d1 == std::string::npos ? 0 : d1 + 1);
  if (d1 == std::string::npos || d2 == std::string::npos) {
    *why = "malformed assertion";
    return false;
  }
  bool ok1, ok2, ok3;
  const std::string header = Base64UrlDecode(assertion.substr(0, d1), &ok1);
  const std::string claims = Base64UrlDecode(assertion.substr(d1 + 1, d2 - d1 - 1), &ok2);
  const std::string sig = Base64UrlDecode(assertion.substr(d2 + 1), &ok3);
  if (!ok1 || !ok2 || !ok3) {
    *why = "malformed assertion";
    return false;
  }
  try {
    const value h = value::parse(header), c = value::parse(claims);
    if (!h.has_field("alg") || h.at("alg").as_string() != "RS256") {
      *why = "assertion must be RS256";
      return false;
    }
    if (!c.has_field("iss") || c.at("iss").as_string() != s_.options.client_id) {
      *why = "client identifier invalid";
      return false;
    }
    if (!c.has_field("sub") || c.at("sub").as_string().empty()) {
      *why = "user hasn't approved this consumer";
      return false;
    }
    if (!c.has_field("exp") || c.at("exp").as_double() * 1000 < static_cast<double>(s_.NowMs())) {
      *why = "expired authorization code";
      return false;
    }
  } catch (const std::exception&) {
    *why = "malformed assertion";
    return false;
  }
  return VerifyRs256(s_.options.jwt_public_key_pem, assertion.substr(0, d2), sig, why);
}

Reply Handler::Token() {
  if (method_ != "POST") return Errors(405, "METHOD_NOT_ALLOWED", "use POST");
  auto form = ParseForm(body_);
  auto oauth_error = [](const std::string& error, const std::string& description) {
    value v = value::object();
    v["error"] = value::string(error);
    v["error_description"] = value::string(description);
    return JsonReply(400, v);
  };
  const std::string grant = form["grant_type"];
  if (grant == "client_credentials") {
    if (form["client_id"] != s_.options.client_id ||
        form["client_secret"] != s_.options.client_secret)
      return oauth_error("invalid_client", "invalid client credentials");
  } else if (grant == "refresh_token") {
    if (form["client_id"] != s_.options.client_id)
      return oauth_error("invalid_client_id", "client identifier invalid");
    if (form["refresh_token"] != s_.options.refresh_token)
      return oauth_error("invalid_grant", "expired access/refresh token");
  } else if (grant == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    std::string why;
    if (!VerifyJwt(form["assertion"], &why)) return oauth_error("invalid_grant", why);
  } else {
    return oauth_error("unsupported_grant_type", "grant type not supported");
  }
  const std::string token =
      "00D5g000000TANDEM!" + MakeId("00D", ++s_.token_seq) + "." + std::to_string(s_.NowMs());
  s_.tokens.insert(token);
  value v = value::object();
  v["access_token"] = value::string(token);
  v["instance_url"] = value::string("http://" + Header("Host"));
  v["id"] =
      value::string("http://" + Header("Host") + "/id/00D5g000000TANDEMAAA/0055g000000TANDEMAAA");
  v["token_type"] = value::string("Bearer");
  v["issued_at"] = value::string(std::to_string(s_.NowMs()));
  v["signature"] = value::string("c2FuZGJveA==");
  v["scope"] = value::string("api");
  return JsonReply(200, v);
}

}  // namespace tandem::sandbox::salesforce
