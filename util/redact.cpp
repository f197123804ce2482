#include "util/redact.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>

namespace tandem {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void Redactor::AddSecret(std::string value) {
  if (value.size() < 4) return;
  std::unique_lock lock(mu_);
  if (std::find(secrets_.begin(), secrets_.end(), value) != secrets_.end()) return;
  secrets_.push_back(std::move(value));
  // Longest first so that a secret containing another is scrubbed whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

size_t Redactor::secret_count() const {
  std::shared_lock lock(mu_);
  return secrets_.size();
}

std::string Redactor::Scrub(std::string_view text) const {
  std::string out(text);
  std::shared_lock lock(mu_);
  for (const auto& secret : secrets_) {
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), kRedacted);
      pos += kRedacted.size();
    }
  }
  return out;
}

bool Redactor::IsSensitiveHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kHeaders = {
      "authorization", "proxy-authorization", "cookie",         "set-cookie",
      "x-api-key",     "stripe-signature",    "x-sfdc-session", "x-tandem-signature"};
  for (auto h : kHeaders)
    if (EqualsIgnoreCase(name, h)) return true;
  return false;
}

bool Redactor::IsSensitiveKey(std::string_view key) {
  const std::string k = Lower(key);
  static constexpr std::array<std::string_view, 11> kExact = {
      "password", "client_secret", "access_token", "refresh_token", "assertion",  "token",
      "api_key",  "secret",        "code",         "id_token",      "private_key"};
  for (auto e : kExact)
    if (k == e) return true;
  // Catch-all for names like webhook_secret, sessionToken, X-Api-Key.
  return k.find("secret") != std::string::npos || k.find("password") != std::string::npos ||
         k.find("token") != std::string::npos;
}

std::string Redactor::RedactForm(std::string_view form) {
  std::string out;
  out.reserve(form.size());
  size_t start = 0;
  while (start <= form.size()) {
    size_t amp = form.find('&', start);
    if (amp == std::string_view::npos) amp = form.size();
    std::string_view pair = form.substr(start, amp - start);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && IsSensitiveKey(pair.substr(0, eq))) {
      out.append(pair.substr(0, eq + 1));
      out.append(kRedacted);
    } else {
      out.append(pair);
    }
    if (amp == form.size()) break;
    out.push_back('&');
    start = amp + 1;
  }
  return out;
}

std::string Redactor::RedactJson(std::string_view json) {
  // A scanner, not a parser: finds "key" : "value" pairs and blanks the value when the
  // key is sensitive. Malformed JSON passes through with whatever it could redact.
  std::string out;
  out.reserve(json.size());
  size_t i = 0;
  auto read_string = [&](size_t from, size_t* end) -> bool {
    // from points at the opening quote; *end is set past the closing quote.
    size_t j = from + 1;
    while (j < json.size()) {
      if (json[j] == '\\') {
        j += 2;
        continue;
      }
      if (json[j] == '"') {
        *end = j + 1;
        return true;
      }
      ++j;
    }
    return false;
  };
  while (i < json.size()) {
    if (json[i] != '"') {
      out.push_back(json[i++]);
      continue;
    }
    size_t key_end = 0;
    if (!read_string(i, &key_end)) {
      out.append(json.substr(i));
      break;
    }
    std::string_view key = json.substr(i + 1, key_end - i - 2);
    out.append(json.substr(i, key_end - i));
    i = key_end;
    size_t j = i;
    while (j < json.size() && std::isspace(static_cast<unsigned char>(json[j]))) ++j;
    if (j < json.size() && json[j] == ':' && IsSensitiveKey(key)) {
      size_t k = j + 1;
      while (k < json.size() && std::isspace(static_cast<unsigned char>(json[k]))) ++k;
      if (k < json.size() && json[k] == '"') {
        size_t value_end = 0;
        if (read_string(k, &value_end)) {
          out.append(json.substr(i, k - i));
          out.append("\"***\"");
          i = value_end;
        }
      }
    }
  }
  return out;
}

}  // namespace tandem
