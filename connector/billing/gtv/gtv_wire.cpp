#include "connector/billing/gtv/gtv_wire.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "util/ascii.h"
#include "util/money_units.h"

namespace tandem::connector::billing::gtv {
namespace {

// The countries a CRM most often holds; an operator whose customers live elsewhere writes
// alpha-3 codes in the CRM (or a value_map) and they pass as they are.
const std::map<std::string, std::string>& Alpha3() {
  static const std::map<std::string, std::string> k = {
      {"AE", "ARE"}, {"AR", "ARG"}, {"AT", "AUT"}, {"AU", "AUS"}, {"BE", "BEL"}, {"BG", "BGR"},
      {"BR", "BRA"}, {"CA", "CAN"}, {"CH", "CHE"}, {"CL", "CHL"}, {"CN", "CHN"}, {"CO", "COL"},
      {"CY", "CYP"}, {"CZ", "CZE"}, {"DE", "DEU"}, {"DK", "DNK"}, {"EE", "EST"}, {"EG", "EGY"},
      {"ES", "ESP"}, {"FI", "FIN"}, {"FR", "FRA"}, {"GB", "GBR"}, {"GR", "GRC"}, {"HK", "HKG"},
      {"HR", "HRV"}, {"HU", "HUN"}, {"ID", "IDN"}, {"IE", "IRL"}, {"IL", "ISR"}, {"IN", "IND"},
      {"IS", "ISL"}, {"IT", "ITA"}, {"JP", "JPN"}, {"KR", "KOR"}, {"KW", "KWT"}, {"LT", "LTU"},
      {"LU", "LUX"}, {"LV", "LVA"}, {"MT", "MLT"}, {"MX", "MEX"}, {"MY", "MYS"}, {"NL", "NLD"},
      {"NO", "NOR"}, {"NZ", "NZL"}, {"PE", "PER"}, {"PH", "PHL"}, {"PL", "POL"}, {"PT", "PRT"},
      {"QA", "QAT"}, {"RO", "ROU"}, {"SA", "SAU"}, {"SE", "SWE"}, {"SG", "SGP"}, {"SI", "SVN"},
      {"SK", "SVK"}, {"TH", "THA"}, {"TR", "TUR"}, {"TW", "TWN"}, {"UA", "UKR"}, {"US", "USA"},
      {"VN", "VNM"}, {"ZA", "ZAF"}};
  return k;
}

const Json* AddressOf(const Json& account, const std::string& type, const std::string& purpose) {
  for (const auto& a : account["responsible_party"]["addresses"].array())
    if (a["address_type"].as_string() == type &&
        (purpose.empty() || a["purpose"].as_string() == purpose))
      return &a;
  return nullptr;
}

}  // namespace

Status ErrorStatus(int http_status, const std::string& body, const std::string& context) {
  auto parsed = Json::Parse(body);
  std::string message = parsed.ok() ? (*parsed)["message"].ToText() : "";
  if (message.empty()) message = body.substr(0, 200);
  const std::string what = context + ": " + std::to_string(http_status) + " " + message;
  if (http_status == 404) return Status::NotFound(what);
  if (http_status == 401 || http_status == 403) return Status::Unauthenticated(what);
  if (http_status == 429) return Status::RateLimited(what);
  if (http_status >= 500) return Status::Unavailable(what);
  return Status::InvalidArgument(what);
}

int64_t ToMinor(const Json& amount, const std::string& currency) {
  const int decimals = CurrencyDecimals(currency);
  const std::string text = amount.ToText();
  // Decimal text, digit by digit: exact whatever the size (a double is not).
  bool negative = false, point = false;
  int64_t units = 0;
  int seen = 0, next = -1;
  for (char c : text) {
    if (c == '-') {
      negative = true;
    } else if (c == '.') {
      point = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      if (!point) {
        units = units * 10 + (c - '0');
      } else if (seen < decimals) {
        units = units * 10 + (c - '0');
        ++seen;
      } else if (next < 0) {
        next = c - '0';
      }
    } else if (c == 'e' || c == 'E') {  // a number printed in exponent form: go by double
      const double v = amount.as_number() * std::pow(10.0, decimals);
      return static_cast<int64_t>(std::llround(v));
    }
  }
  for (; seen < decimals; ++seen) units *= 10;
  if (next >= 5) ++units;
  return negative ? -units : units;
}

std::string FromMinor(int64_t minor, const std::string& currency) {
  const int decimals = CurrencyDecimals(currency);
  const bool negative = minor < 0;
  std::string digits = std::to_string(negative ? -minor : minor);
  if (decimals > 0) {
    while (static_cast<int>(digits.size()) <= decimals) digits.insert(0, "0");
    digits.insert(digits.size() - static_cast<size_t>(decimals), ".");
  }
  return (negative ? "-" : "") + digits;
}

int64_t ParseTime(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (text.size() < 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d", &y, &mo, &d) != 3) return 0;
  int64_t offset_s = 0;
  if (text.size() >= 19 && (text[10] == 'T' || text[10] == ' ')) {
    if (std::sscanf(text.c_str() + 11, "%2d:%2d:%2d", &h, &mi, &s) != 3) return 0;
    size_t i = 19;
    if (i < text.size() && text[i] == '.')
      while (++i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      }
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      int oh = 0, om = 0;
      if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) >= 1)
        offset_s = (text[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    }
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) - offset_s;
}

std::string FormatDate(int64_t epoch_s) {
  const std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string CountryAlpha3(const std::string& code) {
  const std::string c = Upper(code);
  if (c.size() == 3) return c;
  auto it = Alpha3().find(c);
  return it == Alpha3().end() ? "" : it->second;
}

std::string CountryAlpha2(const std::string& alpha3) {
  for (const auto& [two, three] : Alpha3())
    if (three == alpha3) return two;
  return alpha3;
}

std::string RecurrencePeriod(const std::string& interval, int interval_count) {
  const int months = interval == "year"    ? 12 * interval_count
                     : interval == "month" ? interval_count
                                           : 0;
  switch (months) {
    case 1:
      return "MONTH";
    case 3:
      return "QUARTER";
    case 6:
      return "TWICEAYEAR";
    case 12:
      return "YEAR";
    case 24:
      return "TWOYEARS";
    default:
      return "";
  }
}

void IntervalOf(const std::string& period, std::string* interval, int* interval_count) {
  static const std::map<std::string, std::pair<const char*, int>> k = {
      {"MONTH", {"month", 1}},      {"QUARTER", {"month", 3}}, {"TWICEAYEAR", {"month", 6}},
      {"YEAR", {"year", 1}},        {"TWOYEARS", {"year", 2}}, {"THREEYEARS", {"year", 3}},
      {"FOURMONTHS", {"month", 4}}, {"WEEK", {"week", 1}},     {"DAY", {"day", 1}}};
  auto it = k.find(period);
  *interval = it == k.end() ? "" : it->second.first;
  *interval_count = it == k.end() ? 1 : it->second.second;
}

std::string SubscriptionStatus(const std::string& s) {
  if (s == "SERVICE_ACTIVE") return "active";
  if (s == "SERVICE_SCHEDULED" || s == "SERVICE_PENDING") return "scheduled";
  if (s == "SERVICE_SUSPENDED") return "paused";
  if (s == "SERVICE_TRIAL") return "pending";
  return "canceled";  // deactivated, replaced, canceled, transferred: billing has stopped
}

Metadata ReadCustomFields(const Json& object) {
  Metadata m;
  for (const auto& cv : object["custom_field_values"].array()) {
    const std::string name = cv["custom_field"]["name"].as_string();
    if (!name.empty() && !cv["value"].is_null()) m[name] = cv["value"].ToText();
  }
  return m;
}

BillingAccount AccountFromJson(const Json& j) {
  BillingAccount a;
  a.id = j["id"].as_string();
  a.external_key = j["external_account_num"].as_string();
  a.number = j["account_num"].as_string();
  a.name = j["responsible_party"]["organization_name"].as_string();
  if (const Json* e = AddressOf(j, "email", "PRIMARY")) a.email = (*e)["email"].as_string();
  if (const Json* t = AddressOf(j, "telecom", "PRIMARY")) a.phone = (*t)["number"].as_string();
  if (const Json* p = AddressOf(j, "postal", "BILLING")) {
    const Json& addr = *p;
    a.address =
        Address{addr["line1"].as_string(),       addr["line2"].as_string(),
                addr["city"].as_string(),        addr["region_or_state"].as_string(),
                addr["postal_code"].as_string(), CountryAlpha2(addr["country"].as_string())};
  }
  const std::string currency = j["currency_code"].as_string();
  a.currency = Lower(currency);
  a.description = j["description"].as_string();
  a.billing_cycle = j["bill_cycle"]["name"].as_string();
  a.category = j["billing_account_category"]["code"].as_string();
  a.metadata = ReadCustomFields(j);
  a.balance_minor = ToMinor(j["balance"], currency);
  a.delinquent = j["status"].as_string() == "COLLECTION";
  const std::string status = j["status"].as_string();
  a.closed = status == "DEACTIVATED" || status == "FINAL_BILL" || status == "CLOSED";
  a.created = ParseTime(j["created_on"].as_string());
  return a;
}

Product ProductFromJson(const Json& j) {
  Product p;
  p.id = j["id"].as_string();
  p.name = j["name"].as_string();
  p.description = j["description"].as_string();
  // A DRAFT product is one not yet priced: the adapter activates it with its first price.
  p.active = j["status"].as_string() != "DEACTIVATED";
  const std::string type = j["product_type"].as_string();
  p.kind = type == "add-on" ? "add_on" : type == "one-time" ? "fee" : "base";
  p.parent_product_id = j["parent_product"]["id"].as_string();
  p.metadata = ReadCustomFields(j);
  p.updated = ParseTime(j["updated_on"].as_string());
  return p;
}

Price PriceFromJson(const Json& j) {
  Price p;
  p.id = j["id"].as_string();
  p.product_id = j["product"]["id"].as_string();
  const std::string currency = j["currency_code"].as_string();
  p.currency = Lower(currency);
  p.unit_amount_minor = ToMinor(j["amount"], currency);
  if (j["price_type"].as_string() == "recurring")
    IntervalOf(j["recurrence_period"].as_string(), &p.interval, &p.interval_count);
  p.active = j["status"].as_string() != "INACTIVE";
  p.created = ParseTime(j["from_date"].as_string());
  return p;
}

SubscriptionItem ItemFromService(const Json& j) {
  SubscriptionItem item;
  item.id = j["id"].as_string();
  item.price_id = j["product_price"]["id"].as_string();
  item.quantity = j["quantity"].as_int();
  item.metadata = ReadCustomFields(j);
  const std::string currency = j["currency_code"].as_string();
  item.price.id = item.price_id;
  item.price.product_id = j["product"]["id"].as_string();
  item.price.currency = Lower(currency);
  item.price.unit_amount_minor = ToMinor(j["amount"], currency);
  IntervalOf(j["recurrence_period"].as_string(), &item.price.interval, &item.price.interval_count);
  return item;
}

Invoice InvoiceFromJson(const Json& j) {
  Invoice i;
  i.id = j["id"].as_string();
  i.account_id = j["billing_account"]["id"].as_string();
  i.number = j["invoice_num"].as_string();
  const std::string currency = j["currency_code"].as_string();
  i.currency = Lower(currency);
  i.amount_due = ToMinor(j["amount"], currency);
  i.amount_remaining = ToMinor(j["amount_to_pay"], currency);
  const std::string status = j["status"].as_string();
  i.status = status == "PROCESSING"    ? "draft"
             : status == "OPEN"        ? "open"
             : i.amount_remaining == 0 ? "paid"
                                       : "void";
  i.amount_paid = i.status == "void" ? 0 : i.amount_due - i.amount_remaining;
  i.created = ParseTime(j["occurred_on"].as_string());
  i.issued_at = i.created;
  i.due_date = ParseTime(j["due_date"].as_string());
  i.paid_at = ParseTime(j["paid_date"].as_string());
  i.pdf_url = j["pdf_url"].as_string();
  return i;
}

Payment PaymentFromJson(const Json& j) {
  Payment p;
  p.id = j["id"].as_string();
  p.kind = Payment::Kind::kPayment;
  p.account_id = j["billing_account"]["id"].as_string();
  p.invoice_id = j["invoice"]["id"].as_string();
  const std::string currency = j["currency_code"].as_string();
  p.currency = Lower(currency);
  p.amount_minor = ToMinor(j["amount"], currency);
  p.refunded_minor = ToMinor(j["refunded_amount"], currency);
  const std::string status = j["status"].as_string();
  // Only what says the money did not come is a failure; a status Tandem does not know
  // (reversed, void, ...) is not taken for one (it would mark the account delinquent).
  p.status = status == "COMPLETED" ? "succeeded"
             : status == "PROCESSING_ERROR" || status == "CANCELED" ||
                     status == "ALLOCATION_ERROR" || status == "MERCHANT_VERIFICATION_FAILED"
                 ? "failed"
                 : "pending";
  p.failure_message = j["failure_reason"].as_string();
  p.created = ParseTime(j["occurred_on"].as_string());
  return p;
}

}  // namespace tandem::connector::billing::gtv
