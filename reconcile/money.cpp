#include "reconcile/money.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "mapping/mapping.h"

namespace tandem::reconcile {
int64_t RoundDiv(int64_t num, int64_t den) {
  if (num < 0) return -RoundDiv(-num, den);
  return (2 * num + den) / (2 * den);
}

namespace {

int64_t Scale(const std::string& currency) {
  int64_t scale = 1;
  for (int i = 0; i < mapping::CurrencyDecimals(currency); ++i) scale *= 10;
  return scale;
}

}  // namespace

std::string NormalizeInterval(const std::string& interval) {
  std::string lower;
  for (char c : interval) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "day" || lower == "week" || lower == "month" || lower == "year") return lower;
  return "";
}

std::optional<int64_t> MonthlyMinor(int64_t amount_minor, const std::string& interval,
                                    int64_t count) {
  if (count < 1) return std::nullopt;
  const std::string unit = NormalizeInterval(interval);
  // amount × per_month_num ÷ (per_month_den × count): a month is 1 month, 1/12 year,
  // 52/12 weeks, 365/12 days.
  int64_t num = 0, den = 0;
  if (unit == "month") {
    num = 1, den = 1;
  } else if (unit == "year") {
    num = 1, den = 12;
  } else if (unit == "week") {
    num = 52, den = 12;
  } else if (unit == "day") {
    num = 365, den = 12;
  } else {
    return std::nullopt;
  }
  return RoundDiv(amount_minor * num, den * count);
}

int64_t ToMinor(double major, const std::string& currency) { return ToMinorUnits(major, currency); }

double ToMajor(int64_t minor, const std::string& currency) { return ToMajorUnits(minor, currency); }

std::string FormatMinor(int64_t minor, const std::string& currency) {
  const int64_t scale = Scale(currency);
  const uint64_t abs = minor < 0 ? static_cast<uint64_t>(-(minor + 1)) + 1  // INT64_MIN too
                                 : static_cast<uint64_t>(minor);
  std::string text = std::to_string(abs / static_cast<uint64_t>(scale));
  if (scale > 1) {
    std::string cents = std::to_string(abs % static_cast<uint64_t>(scale));
    const std::string zeros(std::to_string(scale).size() - 1 - cents.size(), '0');
    text += "." + zeros + cents;
  }
  return minor < 0 ? "-" + text : text;
}

std::string Period(const std::string& interval, int64_t count) {
  const std::string unit =
      NormalizeInterval(interval).empty() ? interval : NormalizeInterval(interval);
  return count == 1 ? unit : std::to_string(count) + " " + unit + "s";
}

}  // namespace tandem::reconcile
