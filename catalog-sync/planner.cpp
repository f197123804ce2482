#include "catalog-sync/planner.h"

#include <cmath>
#include <cstdio>

#include "util/ascii.h"

namespace tandem::catalog_sync {
namespace {

// The billing product as the mapping's payload paths see it.
Json ProductPayload(const connector::billing::Product& p) {
  Json j = Json::MakeObject();
  j.Set("name", p.name);
  if (!p.description.empty()) j.Set("description", p.description);
  j.Set("active", p.active);
  j.Set("kind", p.kind);
  if (!p.parent_product_id.empty()) j.Set("parent_product_id", p.parent_product_id);
  return j;
}

std::string Text(const Json& v) { return v.is_null() ? "" : v.ToText(); }

bool Same(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return std::fabs(a.as_number() - b.as_number()) < 1e-9;
  return Text(a) == Text(b);
}

void Diff(const Json& want, const Json* have, RecordPlan* plan) {
  for (const auto& [field, value] : want.object()) {
    const Json current = have ? (*have)[field] : Json();
    if (have && Same(current, value)) continue;
    plan->fields.Set(field, value);
    plan->changes.push_back(FieldChange{field, Text(current), Text(value)});
  }
}

}  // namespace

std::string EntryKey(const std::string& price_id, const std::string& pricebook) {
  return pricebook.empty() ? price_id : price_id + "@" + pricebook;
}

Plan MakePlan(const mapping::ObjectMap& product_map,
              const std::vector<connector::billing::Product>& products,
              const std::vector<connector::billing::Price>& prices,
              const std::map<std::string, Json>& crm_products,
              const std::map<std::string, Json>& crm_entries,
              const std::vector<std::string>& pricebooks) {
  Plan plan;
  for (const auto& p : products) {
    Json want = mapping::ApplyToCrm(product_map, ProductPayload(p));
    want.Set("ProductCode", p.id);
    auto it = crm_products.find(p.id);
    const Json* have = it == crm_products.end() ? nullptr : &it->second;
    RecordPlan r;
    r.external_id = p.id;
    r.action = !have                                              ? RecordPlan::Action::kCreate
               : (!p.active && (*have)["IsActive"].as_bool(true)) ? RecordPlan::Action::kDeactivate
                                                                  : RecordPlan::Action::kUpdate;
    Diff(want, have, &r);
    if (r.fields.size() == 0) {
      ++plan.unchanged_products;
      continue;
    }
    plan.products.push_back(std::move(r));
  }
  std::vector<std::string> books = {""};
  books.insert(books.end(), pricebooks.begin(), pricebooks.end());
  for (const auto& price : prices) {
    Json want = Json::MakeObject();
    want.Set("UnitPrice", ToMajorUnits(price.unit_amount_minor, price.currency));
    want.Set("IsActive", price.active);
    want.Set("CurrencyIsoCode", Upper(price.currency));
    for (const auto& book : books) {
      const std::string key = EntryKey(price.id, book);
      auto it = crm_entries.find(key);
      const Json* have = it == crm_entries.end() ? nullptr : &it->second;
      // An inactive price the CRM never had is not offered: nothing to mirror. Prices made
      // for one subscription item (a sold price, ADR 0009) are of this kind.
      if (!have && !price.active) {
        ++plan.unchanged_entries;
        continue;
      }
      RecordPlan r;
      r.external_id = key;
      r.product_external_id = price.product_id;
      r.pricebook = book;
      r.action = !have ? RecordPlan::Action::kCreate
                 : (!price.active && (*have)["IsActive"].as_bool(true))
                     ? RecordPlan::Action::kDeactivate
                     : RecordPlan::Action::kUpdate;
      Diff(want, have, &r);
      if (r.fields.size() == 0) {
        ++plan.unchanged_entries;
        continue;
      }
      plan.entries.push_back(std::move(r));
    }
  }
  return plan;
}

std::string DescribePlan(const Plan& plan) {
  std::string out;
  auto describe = [&](const char* object, const std::vector<RecordPlan>& records) {
    for (const auto& r : records) {
      const char* verb = r.action == RecordPlan::Action::kCreate   ? "create"
                         : r.action == RecordPlan::Action::kUpdate ? "update"
                                                                   : "deactivate";
      out += std::string(verb) + " " + object + " " + r.external_id + ":";
      for (const auto& c : r.changes)
        out += r.action == RecordPlan::Action::kCreate
                   ? " " + c.field + "='" + c.to + "'"
                   : " " + c.field + " '" + c.from + "' -> '" + c.to + "'";
      out += "\n";
    }
  };
  describe("Product2", plan.products);
  describe("PricebookEntry", plan.entries);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%zu product and %zu price changes; %d and %d unchanged\n",
                plan.products.size(), plan.entries.size(), plan.unchanged_products,
                plan.unchanged_entries);
  return out + buf;
}

}  // namespace tandem::catalog_sync
