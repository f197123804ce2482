#include "util/money_units.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>

namespace tandem {

int CurrencyDecimals(const std::string& currency) {
  static const std::set<std::string> kZero = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                              "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                                              "VND", "VUV", "XAF", "XOF", "XPF"};
  static const std::set<std::string> kThree = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
  std::string c = currency;
  for (auto& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (kZero.count(c)) return 0;
  if (kThree.count(c)) return 3;
  return 2;
}

namespace {
int64_t Scale(const std::string& currency) {
  int64_t scale = 1;
  for (int i = 0; i < CurrencyDecimals(currency); ++i) scale *= 10;
  return scale;
}
}  // namespace

int64_t ToMinorUnits(double major, const std::string& currency) {
  return static_cast<int64_t>(std::llround(major * static_cast<double>(Scale(currency))));
}

double ToMajorUnits(int64_t minor, const std::string& currency) {
  return static_cast<double>(minor) / static_cast<double>(Scale(currency));
}

std::string StableHash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace tandem
