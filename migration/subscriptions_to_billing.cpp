// The CRM's service inventory into billing: the cut-over where the contracts live in the CRM and
// billing is new. Each row names a Service_Subscription__c; what it sold (the base line's product,
// quantity and unit price after discount, every recurring add-on at its own amount, the start
// date, the term and auto-renewal) becomes one billing subscription, keyed by job and row, and is
// linked back: Billing_Subscription_Id__c on the service (with billing's state, through the
// subscription map), Billing_Item_Id__c on each add-on, so `reconcile --object revenue` compares
// the two at once.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "migration/run.h"

namespace tandem::migration::internal {

namespace {

// The service record's fields a subscription is made from (those the CRM has are read).
const std::vector<std::string>& ServiceFields() {
  static const std::vector<std::string> kFields = {"Id",
                                                   "Name",
                                                   "Account__c",
                                                   "Product__c",
                                                   "Quantity__c",
                                                   "Unit_Price__c",
                                                   "Recurring_Amount__c",
                                                   "Currency__c",
                                                   "Start_Date__c",
                                                   "Term_Months__c",
                                                   "Auto_Renew__c"};
  return kFields;
}

std::string Text(const Json& v) { return v.is_null() ? "" : v.ToText(); }

int64_t Quantity(const Json& v) {
  const int64_t q = v.is_number() ? std::llround(v.as_number()) : std::atoll(Text(v).c_str());
  return q > 0 ? q : 1;
}

// A CRM number that may come as text (a file's value over the record's).
std::optional<double> Number(const Json& v) {
  if (v.is_number()) return v.as_number();
  const std::string t = Text(v);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (!end || *end != '\0') return std::nullopt;
  return d;
}

bool Truthy(const Json& v) {
  if (v.is_bool()) return v.as_bool();
  const std::string t = Lower(Text(v));
  return t == "true" || t == "1" || t == "yes";
}

}  // namespace

// The billing price each CRM product is sold from: its price book entries' Billing_Price_Id__c
// (the catalog sync writes them), in the service's currency where the org has several.
Status Run::ProductPrices(const std::set<std::string>& products,
                          std::map<std::string, std::vector<PriceEntry>>* out) {
  if (products.empty()) return Status::Ok();
  std::vector<std::string> fields = {"Product2Id", "Billing_Price_Id__c", "IsActive"};
  if (!entry_has_currency_) {
    auto describe = deps_.crm.Describe("PricebookEntry");
    if (!describe.ok()) return describe.status().WithContext("describe PricebookEntry");
    entry_has_currency_ = false;
    for (const auto& f : (*describe)["fields"].array())
      if (f["name"].as_string() == "CurrencyIsoCode") entry_has_currency_ = true;
  }
  if (*entry_has_currency_) fields.push_back("CurrencyIsoCode");
  const std::vector<std::string> ids(products.begin(), products.end());
  for (size_t start = 0; start < ids.size(); start += kIdsPerQuery) {
    const std::vector<std::string> page(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kIdsPerQuery)));
    auto soql =
        connector::crm::SoqlBuilder("PricebookEntry", fields).WhereIn("Product2Id", page).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& e) {
      const std::string price = Text(e["Billing_Price_Id__c"]);
      if (price.empty()) return Status::Ok();
      (*out)[Id15(e["Product2Id"].as_string())].push_back(
          PriceEntry{price, Upper(Text(e["CurrencyIsoCode"])), e["IsActive"].as_bool(true)});
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Result<connector::billing::Price> Run::CatalogPrice(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(prices_mu_);
    if (auto it = prices_.find(id); it != prices_.end()) return it->second;
  }
  auto price = deps_.billing.GetPrice(id);
  billing_breaker_.Record(price.status());
  if (!price.ok()) return price.status();
  std::lock_guard<std::mutex> lock(prices_mu_);
  prices_[id] = *price;
  return price;
}

// The subscription a service record sold: its customer, base line, add-ons and term. Fails the
// row (and returns nullopt) when something it needs is missing.
std::optional<connector::billing::SubscriptionSpec> Run::SoldSpec(
    Row& r, const std::vector<Json>& add_ons, const std::string& customer,
    const std::vector<PriceEntry>& entries) {
  using connector::billing::SubscriptionItem;
  const Json& s = r.record;
  const std::string product = Text(s["Product__c"]);
  if (product.empty()) {
    Fail(r, "the service names no product (Product__c)", &MigrationSummary::invalid);
    return std::nullopt;
  }
  const std::string currency = Upper(Text(s["Currency__c"]));
  const PriceEntry* entry = nullptr;
  for (const auto& e : entries)
    if ((currency.empty() || e.currency.empty() || e.currency == currency) &&
        (!entry || (e.active && !entry->active)))
      entry = &e;
  if (!entry) {
    Fail(r,
         "product " + product + " has no billing price" +
             (currency.empty() ? "" : " in " + currency) +
             " in the price book (run the catalog sync first)",
         &MigrationSummary::unmatched);
    return std::nullopt;
  }
  // One item: the catalog price at the amount sold (a price of its own when they differ): the
  // unit price, else the total over the quantity (as the revenue reconcile rounds), else the
  // catalog's.
  auto item = [&](const std::string& price_id, int64_t quantity, std::optional<double> unit,
                  std::optional<double> total) -> Result<SubscriptionItem> {
    auto catalog = CatalogPrice(price_id);
    if (!catalog.ok()) return catalog.status().WithContext("billing price " + price_id);
    if (!currency.empty() && Upper(catalog->currency) != currency)
      return Status::InvalidArgument("sold in " + currency + " but billing's price " + price_id +
                                     " is in " + Upper(catalog->currency));
    if (catalog->interval.empty())
      return Status::InvalidArgument("billing price " + price_id +
                                     " is one-time: it cannot be a subscription's line");
    int64_t sold = catalog->unit_amount_minor;
    if (unit)
      sold = ToMinorUnits(*unit, catalog->currency);
    else if (total)
      sold = (ToMinorUnits(*total, catalog->currency) + quantity / 2) / quantity;
    return connector::billing::ItemSoldAt(*catalog, quantity, sold);
  };
  connector::billing::SubscriptionSpec spec;
  spec.account_id = customer;
  auto base = item(entry->price_id, Quantity(s["Quantity__c"]), Number(s["Unit_Price__c"]),
                   Number(s["Recurring_Amount__c"]));
  if (!base.ok()) {
    Fail(r, "the base line: " + base.status().ToString(), &MigrationSummary::invalid);
    return std::nullopt;
  }
  spec.items.push_back(*base);
  int one_time = 0;
  for (const Json& a : add_ons) {
    if (Text(a["Kind__c"]) == "One-time") {
      ++one_time;  // billed once by the old system; nothing recurs
      continue;
    }
    const std::string what = "add-on " + Text(a["Name"]) + " (" + a["Id"].as_string() + ")";
    const std::string price = Text(a["Billing_Price_Id__c"]);
    if (price.empty()) {
      Fail(r, what + " names no billing price (Billing_Price_Id__c)", &MigrationSummary::invalid);
      return std::nullopt;
    }
    auto added = item(price, Quantity(a["Quantity__c"]), std::nullopt, Number(a["Amount__c"]));
    if (!added.ok()) {
      Fail(r, what + ": " + added.status().ToString(), &MigrationSummary::invalid);
      return std::nullopt;
    }
    added->metadata[kAddOnKey] = a["Id"].as_string();
    spec.items.push_back(*added);
  }
  // The term: from the start, renewed term by term up to today when it renews itself.
  const std::string start = Text(s["Start_Date__c"]).substr(0, 10);
  if (!start.empty()) {
    spec.start_at = DateToEpoch(start);
    if (spec.start_at < 0) {
      Fail(r, "Start_Date__c '" + start + "' is not a date", &MigrationSummary::invalid);
      return std::nullopt;
    }
  }
  const int64_t term = Number(s["Term_Months__c"]) ? std::llround(*Number(s["Term_Months__c"])) : 0;
  const bool renews = Truthy(s["Auto_Renew__c"]);
  const int64_t today = NowMs() / 1000;
  if (term > 0) {
    const std::string from = start.empty() ? FormatRfc3339(deps_.clock.Now()).substr(0, 10) : start;
    std::string end = AddMonths(from, term);
    while (renews && DateToEpoch(end) <= today) end = AddMonths(end, term);
    if (DateToEpoch(end) <= today) {
      Fail(r,
           "its " + std::to_string(term) + "-month term ended on " + end +
               " and it does not renew: nothing is left to bill",
           &MigrationSummary::invalid);
      return std::nullopt;
    }
    spec.cancel_at = DateToEpoch(end);
  }
  // Only Tandem's own key: GTV takes the custom fields it defines (docs/gotransverse.md). The
  // term and auto-renewal stay the CRM's to keep (the renewal scan reads Auto_Renew__c).
  spec.metadata["tandem_task"] = Key(r, "subscription");  // how a resume finds it
  spec.decided_at = job_.created_ms / 1000;               // the same request on every attempt
  r.status = "created in billing: " + std::to_string(spec.items.size()) + " item" +
             (spec.items.size() == 1 ? "" : "s");
  int sold = 0;
  for (const auto& i : spec.items) sold += i.sold_price;
  if (sold > 0) r.status += " (" + std::to_string(sold) + " at the sold price)";
  if (spec.cancel_at > 0)
    r.status += ", term to " + FormatRfc3339(FromEpochMillis(spec.cancel_at * 1000)).substr(0, 10);
  if (renews) r.status += ", renews";
  if (one_time > 0)
    r.status += "; " + std::to_string(one_time) + " one-time add-on" + (one_time == 1 ? "" : "s") +
                " not billed again";
  return spec;
}

Status Run::CreateSubscriptions(std::vector<Row>& rows) {
  const mapping::ObjectMap* customers = nullptr;
  for (const auto& o : deps_.mapping.objects)
    if (o.billing == "account" && o.crm == "Account") customers = &o;
  if (!customers) return Status::InvalidArgument("no object map of Account to billing accounts");
  std::vector<Row*> wanted;
  std::vector<std::string> ids;
  for (Row& r : rows)
    if (r.plan != Plan::kFailed) {
      wanted.push_back(&r);
      ids.push_back(r.crm_id);
    }
  // 1. Linked before (a re-run, or a service a work order made): nothing to create.
  auto links = deps_.store.FindLinksByCrmIds(map_.name, ids);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> linked;  // 15-character CRM id → billing id
  for (const auto& l : *links) linked[Id15(l.crm_id)] = l.billing_id;
  // 2. The service records, 200 per call, with the file's values over them.
  std::vector<std::string> fields;
  for (const auto& f : ServiceFields())
    if (describe_fields_.count(f)) fields.push_back(f);
  if (!map_.link.billing_id.empty()) fields.push_back(map_.link.billing_id);
  std::map<std::string, Json> record_of;  // 15-character id → record
  std::map<std::string, std::vector<Json>> add_ons_of;
  for (size_t start = 0; start < ids.size(); start += kIdsPerQuery) {
    const std::vector<std::string> page(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kIdsPerQuery)));
    auto soql = connector::crm::SoqlBuilder(map_.crm, fields).WhereIn("Id", page).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& s) {
      record_of[Id15(s["Id"].as_string())] = s;
      return Status::Ok();
    }));
    auto add_ons = connector::crm::SoqlBuilder(
                       kAddOnObject, {"Id", "Name", "Subscription__c", "Kind__c", "Quantity__c",
                                      "Amount__c", "Billing_Price_Id__c"})
                       .WhereIn("Subscription__c", page)
                       .OrderBy("Id")
                       .Build();
    if (!add_ons.ok()) return add_ons.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*add_ons, [&](const Json& a) {
      add_ons_of[Id15(a["Subscription__c"].as_string())].push_back(a);
      return Status::Ok();
    }));
  }
  std::set<std::string> accounts, products;
  for (Row* r : wanted) {
    const std::string id = Id15(r->crm_id);
    auto found = record_of.find(id);
    if (found == record_of.end()) {
      Fail(*r, "no " + map_.crm + " " + r->crm_id + " in the CRM", &MigrationSummary::unmatched);
      continue;
    }
    r->crm_link_value = Text(found->second[map_.link.billing_id]);
    if (auto l = linked.find(id); l != linked.end()) {
      r->plan = Plan::kAlreadyLinked;
      r->billing_id = l->second;
      r->status = "already linked to " + l->second;
      continue;
    }
    if (!r->crm_link_value.empty()) {
      // Billing has one already, made outside Tandem: creating another would bill twice.
      Fail(*r,
           "it names billing subscription " + r->crm_link_value +
               " already, not linked by Tandem: check that subscription in billing, or clear " +
               map_.link.billing_id + " to create one",
           &MigrationSummary::ambiguous);
      continue;
    }
    TakeCrmRecord(*r, found->second);
    if (r->plan == Plan::kFailed) continue;
    r->plan = Plan::kCreateBilling;
    accounts.insert(Text(r->record["Account__c"]));
    products.insert(Text(r->record["Product__c"]));
  }
  // 3. The customers (migrated first) and the products' billing prices.
  auto customer_links = deps_.store.FindLinksByCrmIds(
      customers->name, std::vector<std::string>(accounts.begin(), accounts.end()));
  if (!customer_links.ok()) return customer_links.status();
  std::map<std::string, std::string> customer_of;
  for (const auto& l : *customer_links) customer_of[Id15(l.crm_id)] = l.billing_id;
  std::map<std::string, std::vector<PriceEntry>> prices;
  TANDEM_RETURN_IF_ERROR(ProductPrices(products, &prices));
  // 4. What each sold, checked before anything is written.
  std::vector<Row*> creates;
  std::map<const Row*, connector::billing::SubscriptionSpec> specs;
  for (Row* r : wanted) {
    if (r->plan != Plan::kCreateBilling) continue;
    const std::string account = Text(r->record["Account__c"]);
    auto customer = customer_of.find(Id15(account));
    if (customer == customer_of.end()) {
      Fail(*r,
           "its account " + (account.empty() ? std::string("(none)") : account) +
               " is not linked to a billing customer (migrate the accounts first)",
           &MigrationSummary::unmatched);
      continue;
    }
    auto spec = SoldSpec(*r, add_ons_of[Id15(r->crm_id)], customer->second,
                         prices[Id15(Text(r->record["Product__c"]))]);
    TANDEM_RETURN_IF_ERROR(BillingOutage());
    if (!spec) continue;
    specs[r] = std::move(*spec);
    creates.push_back(r);
  }
  if (options_.dry_run) {
    CountPlans(rows);
    for (Row& r : rows)
      if (r.plan != Plan::kFailed) r.status = "dry run: would be " + r.status;
    return Status::Ok();
  }
  // 5. Billing's creates, concurrent, each keyed by job and row. A resumed job looks first:
  // billing may have forgotten a key (Stripe keeps them 24 hours).
  TANDEM_RETURN_IF_ERROR(RecordIntents(creates, [&](const Row& r) {
    return specs.at(&r).account_id + " " + Key(r, "subscription");
  }));
  const bool look_first = !options_.resume_job.empty() && !resumed_chunk_done_;
  std::mutex mu;
  std::map<Row*, connector::billing::Subscription> made;
  RunConcurrently(creates, [&](Row& r) {
    if (billing_breaker_.open()) return;
    const auto& spec = specs.at(&r);
    Result<connector::billing::Subscription> sub = Status::NotFound("");
    if (look_first) {
      auto found = deps_.billing.FindSubscription(spec.account_id, "tandem_task",
                                                  spec.metadata.at("tandem_task"));
      if (!found.ok())
        sub = found.status();
      else if (found->has_value())
        sub = **found;
    }
    if (!sub.ok() && sub.status().IsNotFound())
      sub = deps_.billing.CreateSubscription(spec, Key(r, "subscription"));
    billing_breaker_.Record(sub.status());
    std::lock_guard<std::mutex> lock(mu);
    if (!sub.ok()) {
      Fail(r, "billing: " + sub.status().ToString(), &MigrationSummary::write_failed);
      return;
    }
    r.billing_id = sub->id;
    // Billing's state of it reaches the CRM with the link field (the subscription map).
    r.decided = mapping::ApplyToCrm(map_, connector::billing::SubscriptionToPayload(*sub));
    made[&r] = *sub;
  });
  resumed_chunk_done_ = true;
  TANDEM_RETURN_IF_ERROR(BillingOutage());
  if (deps_.crash) deps_.crash->Hit("migration.after_billing_writes");
  // 6. Links and audit before the CRM hears of them; then the link fields, one Bulk job.
  TANDEM_RETURN_IF_ERROR(RecordLinks(rows));
  if (deps_.crash) deps_.crash->Hit("migration.after_links");
  std::vector<Row*> updates;
  for (Row& r : rows)
    if (r.plan == Plan::kCreateBilling || NeedsLinkFields(r)) updates.push_back(&r);
  TANDEM_RETURN_IF_ERROR(BulkToCrm(updates, /*create=*/false));
  // 7. Each add-on learns the billing item that charges it: the item carrying its id, else
  // (a billing system that keeps no item metadata: GTV) the item in its place.
  std::vector<Json> items;
  std::vector<Row*> owner;
  for (const auto& [row, sub] : made) {
    const auto& wanted_items = specs.at(row).items;
    for (size_t n = 1; n < wanted_items.size(); ++n) {
      const std::string add_on = wanted_items[n].metadata.at(kAddOnKey);
      auto billed = std::find_if(sub.items.begin(), sub.items.end(), [&](const auto& i) {
        auto a = i.metadata.find(kAddOnKey);
        return a != i.metadata.end() && a->second == add_on;
      });
      if (billed == sub.items.end() && sub.items.size() == wanted_items.size())
        billed = sub.items.begin() + static_cast<long>(n);
      Json u = Json::MakeObject();
      u.Set("Id", add_on);
      u.Set("Billing_Item_Id__c", billed == sub.items.end() ? "" : billed->id);
      items.push_back(std::move(u));
      owner.push_back(row);
    }
  }
  for (size_t start = 0; start < items.size(); start += kIdsPerQuery) {
    const size_t end = std::min(items.size(), start + kIdsPerQuery);
    auto saved = deps_.crm.UpdateMany(kAddOnObject,
                                      std::vector<Json>(items.begin() + static_cast<long>(start),
                                                        items.begin() + static_cast<long>(end)));
    for (size_t i = start; i < end; ++i) {
      const std::string why = !saved.ok()                    ? saved.status().ToString()
                              : !(*saved)[i - start].success ? (*saved)[i - start].ErrorText()
                                                             : "";
      // Linked all the same (undo sees it); the row says what to set by hand.
      if (!why.empty() && owner[i]->plan != Plan::kFailed)
        Fail(*owner[i],
             "add-on " + items[i]["Id"].ToText() + ": set its Billing_Item_Id__c to '" +
                 items[i]["Billing_Item_Id__c"].ToText() + "': " + why,
             &MigrationSummary::write_failed);
    }
  }
  CountPlans(rows);
  return Status::Ok();
}

}  // namespace tandem::migration::internal
