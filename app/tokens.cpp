#include "app/tokens.h"

#include <fstream>
#include <set>
#include <sstream>

#include "util/openssl_init.h"

#include <openssl/evp.h>

namespace tandem::app {

Result<std::string> RandomHex(size_t bytes) {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  if (!urandom.read(raw.data(), static_cast<std::streamsize>(bytes)))
    return Status::IoError("cannot read /dev/urandom");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (char c : raw) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::string> NewApiToken() {
  auto hex = RandomHex(20);
  if (!hex.ok()) return hex.status();
  return "tdm_" + *hex;
}

std::string TokenHash(const std::string& token) {
  InitOpenSsl();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

Result<std::string> NormalizeScopes(const std::string& csv) {
  std::set<std::string> scopes;
  std::stringstream in(csv);
  for (std::string item; std::getline(in, item, ',');) {
    const auto first = item.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    item = item.substr(first, item.find_last_not_of(' ') - first + 1);
    if (item != kScopeActions && item != kScopeOperator)
      return Status::InvalidArgument("unknown scope '" + item + "' (expected actions, operator)");
    scopes.insert(item);
  }
  if (scopes.empty()) return Status::InvalidArgument("give at least one scope (actions, operator)");
  std::string out;
  for (const auto& s : scopes) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::function<Result<std::optional<std::string>>(const std::string& token)> IssuedTokenScopes(
    store::TokenStore& tokens) {
  return
      [&tokens](const std::string& token) { return tokens.ActiveApiTokenScopes(TokenHash(token)); };
}

bool HasScope(const std::string& scopes, const std::string& scope) {
  std::stringstream in(scopes);
  for (std::string item; std::getline(in, item, ',');)
    if (item == scope) return true;
  return false;
}

bool HasAnyScope(const std::string& scopes, const std::string& any_of) {
  std::stringstream in(any_of);
  for (std::string item; std::getline(in, item, '|');)
    if (HasScope(scopes, item)) return true;
  return false;
}

}  // namespace tandem::app
