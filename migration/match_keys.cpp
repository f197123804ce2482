#include "migration/match_keys.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "util/ascii.h"

namespace tandem::migration {
namespace {

bool IsAlnum(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::string NormalizeName(const std::string& name) {
  static const std::set<std::string> kSuffixes = {
      "inc", "incorporated", "ltd",  "limited",     "llc",     "llp", "plc", "gmbh", "ag",
      "sa",  "sas",          "sarl", "srl",         "spa",     "bv",  "nv",  "oy",   "ab",
      "as",  "co",           "corp", "corporation", "company", "lda", "kg",  "pty"};
  std::vector<std::string> words;
  std::string word;
  for (unsigned char c : Lower(name)) {
    if (IsAlnum(c)) {
      word.push_back(static_cast<char>(c));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  // Only trailing suffixes go ("Co-operative Bank" keeps its "co"), and never the last word.
  while (words.size() > 1 && kSuffixes.count(words.back())) words.pop_back();
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string NormalizeEmail(const std::string& email) {
  const std::string e = Lower(Trim(email));
  const size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos) return "";
  const std::string domain = e.substr(at + 1);
  const size_t dot = domain.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= domain.size()) return "";
  if (std::any_of(e.begin(), e.end(), [](unsigned char c) { return std::isspace(c); })) return "";
  return e;
}

std::string NormalizeDomain(const std::string& url_or_domain) {
  std::string s = Lower(Trim(url_or_domain));
  const size_t scheme = s.find("://");
  if (scheme != std::string::npos) s = s.substr(scheme + 3);
  const size_t at = s.find('@');  // user@host
  if (at != std::string::npos) s = s.substr(at + 1);
  s = s.substr(0, s.find_first_of("/?#:"));
  if (s.rfind("www.", 0) == 0) s = s.substr(4);
  while (!s.empty() && s.back() == '.') s.pop_back();
  if (s.find('.') == std::string::npos) return "";
  const bool valid = std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c >= 0x80;
  });
  return valid ? s : "";
}

std::vector<std::string> CustomerKeys(const Json& payload) {
  static const std::set<std::string> kFreeMail = {
      "gmail.com",  "googlemail.com", "yahoo.com", "hotmail.com",    "outlook.com", "live.com",
      "icloud.com", "me.com",         "aol.com",   "gmx.com",        "gmx.de",      "web.de",
      "mail.ru",    "yandex.ru",      "proton.me", "protonmail.com", "msn.com",     "qq.com"};
  std::vector<std::string> keys;
  const std::string email = NormalizeEmail(payload["email"].ToText());
  if (!email.empty()) keys.push_back("email:" + email);
  std::string domain = NormalizeDomain(payload["custom"]["website"].ToText());
  if (domain.empty() && !email.empty()) {
    const std::string mail_domain = email.substr(email.find('@') + 1);
    if (!kFreeMail.count(mail_domain)) domain = mail_domain;
  }
  if (!domain.empty()) keys.push_back("domain:" + domain);
  const std::string name = NormalizeName(payload["name"].ToText());
  if (!name.empty()) keys.push_back("name:" + name);
  return keys;
}

bool IsValidUtf8(const std::string& text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace tandem::migration
