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

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Beyond Unicode: a byte that starts no sequence, which folding leaves as it is.
constexpr uint32_t kStrayByte = 0x110000;

// The next code point of UTF-8 at *i (moved past it); kStrayByte + the byte for a stray one.
uint32_t NextCodePoint(const std::string& s, size_t* i) {
  const auto c = static_cast<unsigned char>(s[*i]);
  if (c >= 0x80 && (c & 0xC0) == 0x80) return ++*i, kStrayByte + c;
  size_t len = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 1;
  if ((c >= 0x80 && len == 1) || *i + len > s.size()) return ++*i, kStrayByte + c;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  *i += len;
  return cp;
}

// Latin-1 letters (U+00C0..U+00FF) and Latin Extended-A (U+0100..U+017F) by their base letter;
// '*' marks the two-letter ones, ' ' a symbol (× ÷).
constexpr char kLatin1[] = "aaaaaa*ceeeeiiiidnooooo ouuuuy**aaaaaa*ceeeeiiiidnooooo ouuuuy*y";
static_assert(sizeof kLatin1 == 0x40 + 1, "one letter per code point U+00C0..U+00FF");
constexpr char kLatinA[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii**jjkkkllllllllllnnnnnnnnnoooooo**rrrrrr"
    "ssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
static_assert(sizeof kLatinA == 0x80 + 1, "one letter per code point U+0100..U+017F");

// One code point as matching sees it: case and accents folded to the base letter (Müller,
// MÜLLER and Muller are one name; Straße and STRASSE too); Greek and Cyrillic capitals lower
// case; combining accents dropped; spaces and punctuation outside ASCII a separator (' ').
void FoldCodePoint(uint32_t cp, std::string* out) {
  if (cp >= kStrayByte) {
    out->push_back(static_cast<char>(cp - kStrayByte));
  } else if (cp < 0x80) {
    out->push_back(static_cast<char>(std::tolower(static_cast<int>(cp))));
  } else if (cp >= 0x300 && cp <= 0x36F) {
    // a combining accent (decomposed text): the letter before it stands alone
  } else if (cp >= 0xA0 && cp <= 0xBF) {
    out->push_back(' ');
  } else if (cp >= 0xC0 && cp <= 0xFF) {
    const char base = kLatin1[cp - 0xC0];
    if (base != '*') {
      out->push_back(base);
    } else {
      static const char* const kPairs[] = {"ae", "th", "ss"};
      out->append(cp == 0xC6 || cp == 0xE6 ? kPairs[0] : cp == 0xDF ? kPairs[2] : kPairs[1]);
    }
  } else if (cp >= 0x100 && cp <= 0x17F) {
    const char base = kLatinA[cp - 0x100];
    if (base != '*')
      out->push_back(base);
    else
      out->append(cp <= 0x133 ? "ij" : "oe");
  } else if (cp >= 0x391 && cp <= 0x3A9) {
    AppendUtf8(cp + 0x20, out);  // Greek capitals
  } else if (cp == 0x3C2) {
    AppendUtf8(0x3C3, out);  // final sigma
  } else if (cp >= 0x410 && cp <= 0x42F) {
    AppendUtf8(cp + 0x20, out);  // Cyrillic capitals
  } else if (cp >= 0x400 && cp <= 0x40F) {
    AppendUtf8(cp + 0x50, out);
  } else if ((cp >= 0x2000 && cp <= 0x206F) || cp == 0x3000 || (cp >= 0xFE30 && cp <= 0xFE4F)) {
    out->push_back(' ');  // general punctuation and spaces
  } else {
    AppendUtf8(cp, out);
  }
}

}  // namespace

std::string FoldForMatching(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) FoldCodePoint(NextCodePoint(text, &i), &out);
  return out;
}

std::string NormalizeName(const std::string& name) {
  static const std::set<std::string> kSuffixes = {
      "inc", "incorporated", "ltd",  "limited",     "llc",     "llp", "plc", "gmbh", "ag",
      "sa",  "sas",          "sarl", "srl",         "spa",     "bv",  "nv",  "oy",   "ab",
      "as",  "co",           "corp", "corporation", "company", "lda", "kg",  "pty"};
  std::vector<std::string> words;
  std::string word;
  for (unsigned char c : FoldForMatching(name)) {
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

bool IsSharedHost(const std::string& host) {
  // Every customer's page on these lives under the one host (facebook.com/harborcafe,
  // linkedin.com/company/...): the host says nothing about whose it is, nor does any
  // subdomain of it (m.facebook.com, uk.linkedin.com).
  static const std::set<std::string> kPlatforms = {
      "facebook.com", "fb.com",       "fb.me",           "instagram.com", "linkedin.com",
      "lnkd.in",      "twitter.com",  "x.com",           "t.co",          "youtube.com",
      "youtu.be",     "tiktok.com",   "pinterest.com",   "yelp.com",      "google.com",
      "goo.gl",       "g.page",       "bit.ly",          "tinyurl.com",   "linktr.ee",
      "medium.com",   "substack.com", "tripadvisor.com", "xing.com",      "wa.me",
      "whatsapp.com", "t.me",         "reddit.com",      "amazon.com",    "ebay.com",
      "etsy.com",     "github.com",   "gitlab.com",      "about.me",      "foursquare.com"};
  // Site builders and hosts: a customer's own site is a subdomain (harbor.wixsite.com, which
  // stays a key of its own); the bare host is nobody's.
  static const std::set<std::string> kHosts = {
      "wixsite.com",     "wix.com",        "squarespace.com",   "wordpress.com",
      "blogspot.com",    "github.io",      "herokuapp.com",     "netlify.app",
      "vercel.app",      "weebly.com",     "godaddysites.com",  "myshopify.com",
      "shopify.com",     "business.site",  "carrd.co",          "webflow.io",
      "jimdosite.com",   "strikingly.com", "azurewebsites.net", "web.app",
      "firebaseapp.com", "pages.dev",      "notion.site",       "square.site",
      "sites.google.com"};
  if (kHosts.count(host) || kPlatforms.count(host)) return true;
  for (size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1))
    if (kPlatforms.count(host.substr(dot + 1))) return true;
  return false;
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
  if (IsSharedHost(domain)) domain.clear();
  if (domain.empty() && !email.empty()) {
    const std::string mail_domain = email.substr(email.find('@') + 1);
    if (!kFreeMail.count(mail_domain) && !IsSharedHost(mail_domain)) domain = mail_domain;
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
