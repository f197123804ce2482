// Lists as GTV serves them: a bare JSON array, page_number/page_size paging with the count
// headers (x-total-count, x-total-pages, x-element-count; none with omit_total_count=true),
// plain query keys and the filter= language (`<field> EQ|NEQ|GT|GTE|LT|LTE '<value>'`
// clauses joined by AND), id order.
#include <cctype>
#include <cstdlib>

#include <cpprest/uri.h>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

// References a filter may name, and the nested object they read.
const std::map<std::string, std::string> kNestedRefs = {
    {"billing_account_id", "billing_account"},
    {"parent_service_id", "parent_service"},
    {"order_id", "order"},
    {"product_id", "product"},
    {"invoice_id", "invoice"},
};

// The fields each kind can be filtered on (as plain keys or in filter=). A field outside its
// kind's set is an unsupported filter (422), so a typo never returns everything.
const std::map<std::string, std::set<std::string>> kFilterable = {
    {"billing-account",
     {"id", "account_num", "external_account_num", "status", "currency_code", "start_date",
      "created_on", "updated_on", "description", "bill_type"}},
    {"product",
     {"id", "name", "status", "product_type", "introduction_date", "created_on", "updated_on"}},
    {"product-price",
     {"id", "product_id", "price_type", "currency_code", "status", "recurrence_period", "from_date",
      "thru_date"}},
    {"order",
     {"id", "billing_account_id", "status", "order_type", "purchase_order_number", "created_on",
      "updated_on"}},
    {"service",
     {"id", "billing_account_id", "parent_service_id", "order_id", "status", "product_id",
      "quantity", "start_date", "end_date", "currency_code", "renewal_count", "status_date",
      "updated_on"}},
    {"invoice",
     {"id", "billing_account_id", "status", "occurred_on", "due_date", "invoice_num",
      "currency_code", "paid_date"}},
    {"payment",
     {"id", "billing_account_id", "invoice_id", "status", "occurred_on", "currency_code"}},
    {"adjustment",
     {"id", "billing_account_id", "description", "status", "occurred_on", "invoiced", "credit"}},
    {"usage-event", {"id", "reference_id", "sequence_id", "service_resource_identifier", "status"}},
    {"bill-cycle", {"id", "name", "status", "currency_code", "bill_cycle_type"}},
    {"billing-account-category", {"id", "code", "name", "status"}},
    {"payment-term", {"id", "name"}},
    {"custom-field", {"id", "name", "custom_field_value_type"}},
};

const std::set<std::string> kListKeys = {
    "page_number", "page_size", "omit_total_count", "filter", "sort", "return", "expand"};

enum class Op { kEq, kNeq, kGt, kGte, kLt, kLte };

struct Clause {
  std::string field;
  Op op;
  std::string operand;
};

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The filter's clauses; an error says what is not supported.
Result<std::vector<Clause>> ParseFilter(const std::string& text) {
  static const std::map<std::string, Op> kOps = {{"EQ", Op::kEq}, {"NEQ", Op::kNeq},
                                                 {"GT", Op::kGt}, {"GTE", Op::kGte},
                                                 {"LT", Op::kLt}, {"LTE", Op::kLte}};
  std::vector<Clause> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto word = [&] {
    skip();
    const size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
      ++i;
    return text.substr(start, i - start);
  };
  for (;;) {
    Clause c;
    c.field = word();
    if (c.field.empty()) return Status::InvalidArgument("filter: a field name expected");
    const std::string op = Upper(word());
    auto it = kOps.find(op);
    if (it == kOps.end())
      return Status::InvalidArgument("filter: unsupported operator '" + op +
                                     "' (EQ NEQ GT GTE LT LTE)");
    c.op = it->second;
    skip();
    if (i >= text.size() || text[i] != '\'')
      return Status::InvalidArgument("filter: a value in single quotes expected after " + op);
    for (++i;; ++i) {
      if (i >= text.size()) return Status::InvalidArgument("filter: unterminated quote");
      if (text[i] == '\'') {
        if (i + 1 < text.size() && text[i + 1] == '\'') {
          c.operand += '\'';
          ++i;
          continue;
        }
        ++i;
        break;
      }
      c.operand += text[i];
    }
    out.push_back(std::move(c));
    skip();
    if (i == text.size()) return out;
    const std::string join = Upper(word());
    if (join != "AND")
      return Status::InvalidArgument("filter: only AND joins clauses (found '" + join + "')");
  }
}

// The text of a field for comparing; nullopt when the object has none.
std::optional<std::string> FieldText(const value& obj, const std::string& field) {
  auto nested = kNestedRefs.find(field);
  if (nested != kNestedRefs.end()) {
    const std::string id = RefId(obj, nested->second);
    if (id.empty()) return std::nullopt;
    return id;
  }
  const value* v = Field(obj, field);
  if (!v) return std::nullopt;
  if (IsMoney(*v)) return MoneyText(*v);
  if (v->is_string()) return v->as_string();
  if (v->is_number() || v->is_boolean()) return v->serialize();
  return std::nullopt;
}

bool IsDecimal(const std::string& s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '.' && !dot) {
      dot = true;
    } else if (s[i] >= '0' && s[i] <= '9') {
      digits = true;
    } else {
      return false;
    }
  }
  return digits;
}

// -1, 0, 1: numbers as numbers, dates and timestamps as instants, the rest as text.
int Compare(const std::string& a, const std::string& b) {
  if (IsDecimal(a) && IsDecimal(b)) {
    const long double x = std::strtold(a.c_str(), nullptr), y = std::strtold(b.c_str(), nullptr);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  auto ta = ParseWhen(a, 0), tb = ParseWhen(b, 0);
  if (ta.ok() && tb.ok() && a.size() > 10 && b.size() > 10)
    return *ta < *tb ? -1 : *ta > *tb ? 1 : 0;
  if (ta.ok() && tb.ok()) {  // a date against a timestamp: compare the dates
    const std::string da = a.substr(0, 10), db = b.substr(0, 10);
    return da < db ? -1 : da > db ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

bool Matches(const value& obj, const Clause& c) {
  const auto text = FieldText(obj, c.field);
  if (!text) return c.op == Op::kNeq;
  const int cmp = Compare(*text, c.operand);
  switch (c.op) {
    case Op::kEq:
      return cmp == 0;
    case Op::kNeq:
      return cmp != 0;
    case Op::kGt:
      return cmp > 0;
    case Op::kGte:
      return cmp >= 0;
    case Op::kLt:
      return cmp < 0;
    case Op::kLte:
      return cmp <= 0;
  }
  return false;
}

int64_t PagingNumber(const Query& q, const std::string& key, int64_t fallback) {
  auto it = q.find(key);
  if (it == q.end()) return fallback;
  if (!IsDecimal(it->second) || it->second.find('.') != std::string::npos || it->second.size() > 9)
    Invalid(key + " must be a whole number");
  return std::strtoll(it->second.c_str(), nullptr, 10);
}

}  // namespace

Query ParseQuery(const std::string& raw) {
  Query q;
  size_t start = 0;
  while (start < raw.size()) {
    size_t amp = raw.find('&', start);
    if (amp == std::string::npos) amp = raw.size();
    std::string pair = raw.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    for (char& c : pair)
      if (c == '+') c = ' ';  // form encoding's space
    const size_t eq = pair.find('=');
    std::string key = pair.substr(0, eq), val = eq == std::string::npos ? "" : pair.substr(eq + 1);
    try {
      key = web::uri::decode(key);
      val = web::uri::decode(val);
    } catch (const std::exception&) {
      Fail(400, "Malformed query string");
    }
    q[key] = val;
  }
  return q;
}

Reply ListPage(const std::string& kind, const std::vector<const value*>& items, const Query& q) {
  const int64_t page_number = PagingNumber(q, "page_number", 1);
  const int64_t page_size = PagingNumber(q, "page_size", 50);
  if (page_number < 1) Invalid("page_number must be at least 1");
  if (page_size < 1 || page_size > 50) Invalid("page_size must be between 1 and 50");
  const auto& allowed = kFilterable.at(kind);
  std::vector<Clause> clauses;
  for (const auto& [key, val] : q) {
    if (kListKeys.count(key)) continue;
    // Stricter than a query API may be: a misspelt key would otherwise list everything, and
    // an adapter that looks up before it creates would take any record for the one it made.
    if (!allowed.count(key)) Invalid("unsupported query parameter '" + key + "'");
    clauses.push_back(Clause{key, Op::kEq, val});
  }
  if (auto f = q.find("filter"); f != q.end() && !f->second.empty()) {
    auto parsed = ParseFilter(f->second);
    if (!parsed.ok()) Invalid(parsed.status().message());
    for (auto& c : *parsed) {
      if (!allowed.count(c.field)) Invalid("filter: unsupported field '" + c.field + "'");
      clauses.push_back(std::move(c));
    }
  }
  std::vector<const value*> kept;
  for (const value* obj : items) {
    bool keep = true;
    for (const Clause& c : clauses) keep = keep && Matches(*obj, c);
    if (keep) kept.push_back(obj);
  }
  const int64_t total = static_cast<int64_t>(kept.size());
  const int64_t first = (page_number - 1) * page_size;
  value page = value::array();
  size_t n = 0;
  for (int64_t i = first; i < total && i < first + page_size; ++i)
    page[n++] = *kept[static_cast<size_t>(i)];
  Reply reply{200, page, {}, {}, {}};
  auto omit = q.find("omit_total_count");
  if (omit == q.end() || Upper(omit->second) != "TRUE") {
    reply.headers.emplace_back("x-total-count", std::to_string(total));
    reply.headers.emplace_back("x-total-pages",
                               std::to_string((total + page_size - 1) / page_size));
    reply.headers.emplace_back("x-element-count", std::to_string(n));
  }
  return reply;
}

}  // namespace tandem::sandbox::gtv
