// The emulator's objects: ids (a counter per kind, digit strings as GTV's), storing and
// finding them, the seeded reference data, and the clock's effects on services and prices.
#include <cstdlib>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

// Where each kind's ids start: distinct ranges make a test's mixed-up id obvious.
const std::map<std::string, int64_t> kIdBase = {
    {"bill-cycle", 100},
    {"billing-account-category", 200},
    {"payment-term", 300},
    {"custom-field", 3000},
    {"custom-field-value", 3100000},
    {"billing-account", 4100000},
    {"party", 4200000},
    {"address", 4300000},
    {"product", 5100000},
    {"product-price", 5200000},
    {"order", 6100000},
    {"order-item", 6200000},
    {"service", 7100000},
    {"one-time-charge", 7200000},
    {"invoice", 8100000},
    {"invoice-item", 8200000},
    {"payment", 8300000},
    {"adjustment", 8400000},
    {"usage-event", 9100000},
};

// The custom fields a fresh tenant has (what Tandem's mapping writes), by type.
const std::pair<const char*, std::vector<const char*>> kDefaultCustomFields[] = {
    {"billing-account",
     {"website", "account_number", "segment", "industry", "customer_since", "annual_revenue_minor",
      "crm_account_id"}},
    {"order", {"crm_order", "order_number", "crm_order_item", "tandem_task"}},
    {"service",
     {"crm_order", "order_number", "crm_order_item", "tandem_task", "tandem_catalog_price"}},
    {"product", {"tandem_kind", "tandem_parent"}},
};

int64_t IdNumber(const std::string& id) {
  if (id.empty() || id.size() > 15 || id.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::strtoll(id.c_str(), nullptr, 10);
}

}  // namespace

GtvSandbox::Impl::Impl(GtvSandboxOptions o, const Clock& c) : options(std::move(o)), clock(c) {
  auto offset = ParseOffset(options.tenant_offset);
  offset_min = offset.ok() ? *offset : 0;
  Seed();
}

int64_t GtvSandbox::Impl::When(const std::string& text, const std::string& field) const {
  auto ms = ParseWhen(text, offset_min);
  if (!ms.ok()) Invalid(field + ": " + ms.status().message());
  return *ms;
}

std::string GtvSandbox::Impl::NewId(const std::string& kind) {
  auto [it, fresh] = last_id.try_emplace(kind, 0);
  if (fresh) {
    auto base = kIdBase.find(kind);
    it->second = base == kIdBase.end() ? 1000000 : base->second;
  }
  return std::to_string(++it->second);
}

value* GtvSandbox::Impl::Find(const std::string& kind, const std::string& id) {
  const int64_t n = IdNumber(id);
  auto k = objects.find(kind);
  if (n < 0 || k == objects.end()) return nullptr;
  auto it = k->second.find(n);
  return it == k->second.end() ? nullptr : &it->second;
}

value& GtvSandbox::Impl::Get(const std::string& kind, const std::string& id) {
  value* v = Find(kind, id);
  if (!v) throw ApiError{NotFound(kind, id)};
  return *v;
}

value& GtvSandbox::Impl::Store(const std::string& kind, value obj) {
  const int64_t n = IdNumber(obj.at("id").as_string());
  return objects[kind][n] = std::move(obj);
}

std::vector<const value*> GtvSandbox::Impl::All(const std::string& kind) {
  std::vector<const value*> out;
  for (const auto& [id, obj] : objects[kind]) out.push_back(&obj);
  return out;
}

void GtvSandbox::Impl::Seed() {
  auto cycle = [&](const std::string& name, const std::string& currency) {
    value c = value::object();
    c["id"] = value::string(NewId("bill-cycle"));
    c["name"] = value::string(name);
    c["bill_cycle_type"] = value::string("MONTHLY");
    c["currency_code"] = value::string(currency);
    c["day_of_month"] = value::number(1);
    c["auto_bill"] = value::boolean(true);
    c["status"] = value::string("ACTIVE");
    Store("bill-cycle", c);
  };
  cycle("Monthly 1st", "USD");
  cycle("Monthly 1st EUR", "EUR");
  for (const auto& [code, name] :
       {std::pair<const char*, const char*>{"DEFAULT", "Default"}, {"ENTERPRISE", "Enterprise"}}) {
    value c = value::object();
    c["id"] = value::string(NewId("billing-account-category"));
    c["code"] = value::string(code);
    c["name"] = value::string(name);
    c["status"] = value::string("ACTIVE");
    Store("billing-account-category", c);
  }
  for (const auto& [name, days] :
       {std::pair<const char*, int>{"Net 30", 30}, {"Due on receipt", 0}}) {
    value t = value::object();
    t["id"] = value::string(NewId("payment-term"));
    t["name"] = value::string(name);
    t["days"] = value::number(days);
    Store("payment-term", t);
  }
  for (const auto& [type, names] : kDefaultCustomFields)
    for (const char* name : names) AddCustomField(type, name);
}

void GtvSandbox::Impl::Reset() {
  objects.clear();
  last_id.clear();
  account_nums = invoice_nums = bulk_requests = 0;
  usage_keys.clear();
  failed_runs.clear();
  notifications.clear();
  faults.Clear();
  faults.ResetHits();
  request_count = rate_limited_count = 0;
  Seed();
}

void GtvSandbox::Impl::Tick() {
  const int64_t now = NowMs();
  for (auto& [n, service] : objects["service"]) {
    const std::string status = Str(service, "status");
    if (status == "SERVICE_SCHEDULED" && service.at("__start_ms").as_number().to_int64() <= now)
      SetStatus(service, "SERVICE_ACTIVE");
    if (Field(service, "__deactivate_ms") && !Final(service) &&
        service.at("__deactivate_ms").as_number().to_int64() <= now)
      End(service, "SERVICE_DEACTIVATED");
  }
  for (auto& [n, price] : objects["product-price"]) {
    const std::string thru = Str(price, "thru_date");
    if (thru.empty() || Str(price, "status") != "ACTIVE") continue;
    // A thru_date date covers its whole day: the price ends at the next midnight.
    const int64_t ends = When(thru.size() == 10 ? AddDays(thru, 1) : thru, "thru_date");
    if (ends <= now) price["status"] = value::string("INACTIVE");
  }
}

}  // namespace tandem::sandbox::gtv
