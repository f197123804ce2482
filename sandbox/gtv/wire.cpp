// GTV's wire values: money in major units kept exact (minor units inside), tenant-offset
// timestamps and dates, reading request fields, and rendering JSON with money as numbers.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

// A marker no request can produce: JSON strings from clients never carry this control byte
// at the start once parsed (it would have to be sent as \u001f, and then it is a client's
// odd string, which Render would misprint; an emulator can live with that).
constexpr char kMoneyTag[] = "\x1fmoney:";
constexpr size_t kMoneyTagLen = sizeof(kMoneyTag) - 1;

int64_t Pow10(int n) {
  int64_t p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

// Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

bool Digits(const std::string& s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool ParseDate(const std::string& s, int* y, int* m, int* d) {
  return s.size() >= 10 && Digits(s, 0, 4, y) && s[4] == '-' && Digits(s, 5, 2, m) && s[7] == '-' &&
         Digits(s, 8, 2, d) && *m >= 1 && *m <= 12 && *d >= 1 &&
         static_cast<unsigned>(*d) <= DaysInMonth(*y, static_cast<unsigned>(*m));
}

std::string FormatDate(int64_t days) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(y), m, d);
  return buf;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

int CurrencyDecimals(const std::string& currency) {
  static const std::set<std::string> kZero = {"JPY", "KRW", "CLP", "VND", "ISK", "XAF", "XOF"};
  static const std::set<std::string> kThree = {"KWD", "BHD", "OMR", "JOD", "TND"};
  if (kZero.count(currency)) return 0;
  if (kThree.count(currency)) return 3;
  return 2;
}

value Money(int64_t minor, const std::string& currency) {
  return value::string(std::string(kMoneyTag) + std::to_string(minor) + ":" +
                       std::to_string(CurrencyDecimals(currency)));
}

bool IsMoney(const value& v) {
  return v.is_string() && v.as_string().compare(0, kMoneyTagLen, kMoneyTag) == 0;
}

int64_t MinorOf(const value& money) {
  if (!IsMoney(money)) return 0;
  return std::strtoll(money.as_string().c_str() + kMoneyTagLen, nullptr, 10);
}

std::string MoneyText(const value& money) {
  const std::string& s = money.as_string();
  const size_t colon = s.rfind(':');
  const int64_t minor = MinorOf(money);
  const int decimals = std::atoi(s.c_str() + colon + 1);
  const int64_t unit = Pow10(decimals);
  const int64_t abs = minor < 0 ? -minor : minor;
  std::string out = (minor < 0 ? "-" : "") + std::to_string(abs / unit);
  if (decimals > 0) {
    std::string frac = std::to_string(abs % unit);
    out += "." + std::string(static_cast<size_t>(decimals) - frac.size(), '0') + frac;
  }
  return out;
}

Result<int64_t> ParseAmount(const value& v, const std::string& currency, const std::string& field) {
  const int decimals = CurrencyDecimals(currency);
  const int64_t unit = Pow10(decimals);
  const Status bad = Status::InvalidArgument(field + " must be a decimal amount with at most " +
                                             std::to_string(decimals) + " decimals");
  if (v.is_number()) {
    const double scaled = v.as_double() * static_cast<double>(unit);
    const double rounded = std::llround(scaled);
    // A JSON number is a double once parsed: accept it when it is the decimal it was meant
    // to be, within far less than a minor unit.
    if (!std::isfinite(scaled) || std::fabs(scaled - rounded) > 1e-6 || std::fabs(scaled) > 9e15)
      return bad;
    return static_cast<int64_t>(rounded);
  }
  if (!v.is_string()) return bad;
  // A decimal string ("125.00", as one GTV doc example sends unit_price): read exactly.
  const std::string s = v.as_string();
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  int64_t whole = 0, frac = 0;
  int frac_digits = 0;
  bool any = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, any = true) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > 9'000'000'000'000) return bad;
  }
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, any = true) {
      if (++frac_digits > decimals) {
        if (s[i] != '0') return bad;  // trailing zeros beyond the currency's decimals are fine
        --frac_digits;
        continue;
      }
      frac = frac * 10 + (s[i] - '0');
    }
  }
  if (!any || i != s.size()) return bad;
  const int64_t minor = whole * unit + frac * Pow10(decimals - frac_digits);
  return negative ? -minor : minor;
}

std::string Render(const value& v) {
  if (IsMoney(v)) return MoneyText(v);
  if (v.is_array()) {
    std::string out = "[";
    const auto& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) out += (i ? "," : "") + Render(a.at(i));
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, item] : v.as_object()) {
      if (k.rfind("__", 0) == 0) continue;  // the emulator's own bookkeeping, never shown
      out += (first ? "" : ",") + value::string(k).serialize() + ":" + Render(item);
      first = false;
    }
    return out + "}";
  }
  return v.serialize();
}

std::string Timestamp(int64_t epoch_ms, int offset_min) {
  const int64_t local_s = FloorDiv(epoch_ms, 1000) + int64_t{offset_min} * 60;
  const int64_t days = FloorDiv(local_s, 86400);
  const int64_t sod = local_s - days * 86400;
  const int off = offset_min < 0 ? -offset_min : offset_min;
  char buf[64];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d%c%02d:%02d", static_cast<int>(sod / 3600),
                static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                offset_min < 0 ? '-' : '+', off / 60, off % 60);
  return FormatDate(days) + buf;
}

std::string DateOf(int64_t epoch_ms, int offset_min) {
  return FormatDate(FloorDiv(FloorDiv(epoch_ms, 1000) + int64_t{offset_min} * 60, 86400));
}

Result<int64_t> ParseWhen(const std::string& text, int offset_min) {
  int y, m, d;
  const Status bad = Status::InvalidArgument("not a date (YYYY-MM-DD) or an ISO-8601 timestamp");
  if (!ParseDate(text, &y, &m, &d)) return bad;
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  if (text.size() == 10) return (days * 86400 - int64_t{offset_min} * 60) * 1000;
  int hh, mm, ss = 0;
  if (text[10] != 'T' || !Digits(text, 11, 2, &hh) || text.size() < 16 || text[13] != ':' ||
      !Digits(text, 14, 2, &mm) || hh > 23 || mm > 59)
    return bad;
  size_t i = 16;
  if (i < text.size() && text[i] == ':') {
    if (!Digits(text, i + 1, 2, &ss) || ss > 60) return bad;
    i += 3;
  }
  int64_t ms = 0;
  if (i < text.size() && text[i] == '.') {
    int64_t scale = 100;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10)
      ms += (text[i] - '0') * scale;
  }
  int zone_min = offset_min;  // no zone: the tenant's time
  if (i < text.size()) {
    if (text[i] == 'Z' && i + 1 == text.size()) {
      zone_min = 0;
    } else {
      int zh, zm;
      const bool colon = i + 3 < text.size() && text[i + 3] == ':';
      if ((text[i] != '+' && text[i] != '-') || !Digits(text, i + 1, 2, &zh) ||
          !Digits(text, i + (colon ? 4 : 3), 2, &zm) || i + (colon ? 6 : 5) != text.size())
        return bad;
      zone_min = (text[i] == '-' ? -1 : 1) * (zh * 60 + zm);
    }
  }
  const int64_t local_s = days * 86400 + hh * 3600 + mm * 60 + ss;
  return (local_s - int64_t{zone_min} * 60) * 1000 + ms;
}

std::string AddDays(const std::string& date, int n) {
  int y, m, d;
  if (!ParseDate(date, &y, &m, &d)) return date;
  return FormatDate(DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) + n);
}

std::string AddMonths(const std::string& date, int n) {
  int y, m, d;
  if (!ParseDate(date, &y, &m, &d)) return date;
  const int64_t total = int64_t{y} * 12 + (m - 1) + n;
  const int64_t ny = FloorDiv(total, 12);
  const unsigned nm = static_cast<unsigned>(total - ny * 12 + 1);
  const unsigned nd = std::min(static_cast<unsigned>(d), DaysInMonth(ny, nm));
  return FormatDate(DaysFromCivil(ny, nm, nd));
}

Result<int> ParseOffset(const std::string& text) {
  int h, m;
  if (text == "Z") return 0;
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || !Digits(text, 1, 2, &h) ||
      text[3] != ':' || !Digits(text, 4, 2, &m) || h > 14 || m > 59)
    return Status::InvalidArgument("tenant_offset must look like -06:00");
  return (text[0] == '-' ? -1 : 1) * (h * 60 + m);
}

const value* Field(const value& obj, const std::string& key) {
  if (!obj.is_object() || !obj.has_field(key)) return nullptr;
  const value& v = obj.at(key);
  return v.is_null() ? nullptr : &v;
}

std::string Str(const value& obj, const std::string& key) {
  const value* v = Field(obj, key);
  if (!v) return "";
  if (v->is_string()) return v->as_string();
  if (v->is_number() || v->is_boolean()) return v->serialize();
  return "";
}

std::string RefId(const value& obj, const std::string& key) {
  const value* ref = Field(obj, key);
  return ref ? Str(*ref, "id") : "";
}

value Ref(const std::string& id) {
  value r = value::object();
  r["id"] = value::string(id);
  return r;
}

int64_t WholeNumber(const value& obj, const std::string& key, const std::string& where) {
  const value* v = Field(obj, key);
  if (!v) Invalid(where + " is required");
  if (v->is_number() && v->as_number().is_int64()) return v->as_number().to_int64();
  const std::string s = v->is_string() ? v->as_string() : "";
  if (!s.empty() && s.size() < 16 && s.find_first_not_of("0123456789") == std::string::npos)
    return std::strtoll(s.c_str(), nullptr, 10);
  Invalid(where + " must be a whole number");
}

int PeriodMonths(const std::string& period) {
  static const std::map<std::string, int> kMonths = {
      {"MONTH", 1}, {"QUARTER", 3}, {"TWICEAYEAR", 6}, {"YEAR", 12}, {"TWOYEARS", 24}};
  auto it = kMonths.find(period);
  return it == kMonths.end() ? 0 : it->second;
}

value Arr(const std::vector<value>& items) {
  value a = value::array(items.size());
  for (size_t i = 0; i < items.size(); ++i) a[i] = items[i];
  return a;
}

}  // namespace tandem::sandbox::gtv
