#include "connector/billing/account_payload.h"

namespace tandem::connector::billing {

BillingAccount PayloadToAccount(const Json& p) {
  BillingAccount a;
  a.name = p["name"].ToText();
  a.email = p["email"].ToText();
  a.phone = p["phone"].ToText();
  a.description = p["description"].ToText();
  a.currency = p["currency"].ToText();
  const Json& addr = p["address"];
  a.address = {addr["line1"].ToText(), addr["line2"].ToText(),       addr["city"].ToText(),
               addr["state"].ToText(), addr["postal_code"].ToText(), addr["country"].ToText()};
  for (const auto& [k, v] : p["custom"].object()) a.metadata[k] = v.ToText();
  return a;
}

Json AccountToPayload(const BillingAccount& a) {
  Json p = Json::MakeObject();
  auto set = [&](const char* k, const std::string& v) {
    if (!v.empty()) p.Set(k, v);
  };
  set("name", a.name);
  set("email", a.email);
  set("phone", a.phone);
  set("description", a.description);
  set("currency", a.currency);
  set("billing_cycle", a.billing_cycle);
  set("category", a.category);
  Json addr = Json::MakeObject();
  auto set_addr = [&](const char* k, const std::string& v) {
    if (!v.empty()) addr.Set(k, v);
  };
  set_addr("line1", a.address.line1);
  set_addr("line2", a.address.line2);
  set_addr("city", a.address.city);
  set_addr("state", a.address.state);
  set_addr("postal_code", a.address.postal_code);
  set_addr("country", a.address.country);
  if (addr.size() > 0) p.Set("address", addr);
  Json meta = Json::MakeObject();
  for (const auto& [k, v] : a.metadata) meta.Set(k, v);
  p.Set("custom", meta);
  return p;
}

Json SubscriptionToPayload(const Subscription& sub) {
  Json p = Json::MakeObject();
  p.Set("status", sub.status);
  p.Set("account_id", sub.account_id);
  // The service's start, not the current period's: that one moves every month.
  const int64_t start = sub.start_date ? sub.start_date : sub.current_period_start;
  if (start) p.Set("start_at", start);
  if (sub.current_period_end) p.Set("current_period_end", sub.current_period_end);
  // The base line as billing charges it (the first item): what the CRM shows beside what was
  // sold, so that a difference is visible on the record.
  if (!sub.items.empty()) {
    const SubscriptionItem& base = sub.items.front();
    p.Set("quantity", base.quantity);
    if (!base.price.currency.empty()) {
      p.Set("currency", base.price.currency);
      p.Set("amount", base.price.unit_amount_minor * base.quantity);
    }
    if (!base.price.interval.empty()) {
      p.Set("interval", base.price.interval);
      p.Set("interval_count", base.price.interval_count);
    }
  }
  const bool ending = sub.status == "canceled" || sub.cancel_at_period_end;
  if (ending && sub.canceled_at)
    p.Set("cancel_at", sub.canceled_at);
  else if (sub.cancel_at)
    p.Set("cancel_at", sub.cancel_at);
  return p;
}

std::string AccountNumber(const BillingAccount& account) {
  if (!account.number.empty()) return account.number;
  auto kept = account.metadata.find("account_number");
  return kept != account.metadata.end() ? kept->second : account.id;
}

}  // namespace tandem::connector::billing
