// Ids: 15 characters (3-char key prefix, 12 of sequence), plus Salesforce's 3-character
// case-safe suffix; and times in Salesforce's format.
#include <cctype>
#include <cstdio>
#include <ctime>

#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

namespace {

std::string IdSuffix(const std::string& id15) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  std::string suffix;
  for (int chunk = 0; chunk < 3; ++chunk) {
    int bits = 0;
    for (int j = 0; j < 5; ++j) {
      const char c = id15[static_cast<size_t>(chunk * 5 + j)];
      if (c >= 'A' && c <= 'Z') bits |= 1 << j;
    }
    suffix.push_back(kAlphabet[bits]);
  }
  return suffix;
}

}  // namespace

std::string MakeId(const std::string& prefix, int64_t seq) {
  static const char* kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string body(12, '0');
  body[0] = '5';  // a "pod" character, as real ids carry
  for (int i = 11; i > 0 && seq > 0; --i) {
    body[static_cast<size_t>(i)] = kDigits[seq % 62];
    seq /= 62;
  }
  const std::string id15 = prefix.substr(0, 3) + body;
  return id15 + IdSuffix(id15);
}

// An 18-character id for any 15- or 18-character input; "" when malformed.
std::string NormalizeId(const std::string& id) {
  if (id.size() != 15 && id.size() != 18) return "";
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c))) return "";
  const std::string id15 = id.substr(0, 15);
  return id15 + IdSuffix(id15);
}

std::string FormatDateTime(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace tandem::sandbox::salesforce
