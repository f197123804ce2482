// The CRM's service inventory into billing: the cut-over where the contracts live in the CRM and
// billing is new. Each row names a Service_Subscription__c; what it sold (the base line's product,
// quantity and unit price after discount, every recurring add-on at its own amount, the start
// date, the term and auto-renewal) becomes one billing subscription, keyed by job and row, and is
// linked back: Billing_Subscription_Id__c on the service (with billing's state, through the
// subscription map), Billing_Item_Id__c on each add-on, so `reconcile --object revenue` compares
// the two at once.
#include <algorithm>
#include <cmath>
#include <cstdio>
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
                                                   "Auto_Renew__c",
                                                   "Status__c",
                                                   "Billing_Interval__c",
                                                   "Billing_Interval_Count__c"};
  return kFields;
}

std::string Text(const Json& v) { return v.is_null() ? "" : v.ToText(); }

// A CRM number that may come as text (a file's value over the record's): nullopt when empty;
// InvalidArgument naming the field when it is not a number (never read as another value).
Result<std::optional<double>> Number(const Json& record, const std::string& field) {
  const Json& v = record[field];
  if (v.is_number()) return std::optional<double>(v.as_number());
  const std::string t = Text(v);
  if (t.empty()) return std::optional<double>();
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (!end || *end != '\0') return Status::InvalidArgument(field + " '" + t + "' is not a number");
  return std::optional<double>(d);
}

std::string FormatTotal(double major) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", major);
  return buf;
}

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// A whole quantity of at least 1 (absent: 1).
Result<int64_t> Quantity(const Json& record, const std::string& field) {
  auto n = Number(record, field);
  if (!n.ok()) return n.status();
  if (!*n) return int64_t{1};
  const double q = **n;
  if (q < 1 || q != std::floor(q))
    return Status::InvalidArgument(field + " " + Text(record[field]) +
                                   " is not a whole quantity of at least 1");
  return static_cast<int64_t>(q);
}

bool Recurring(const Json& add_on) { return Text(add_on["Kind__c"]) != "One-time"; }

// The item of `sub` that bills the add-on `add_on_id`: the one carrying its id, else the only
// one not yet `taken` billed from its price (`price_id`, the catalog price); "" when none.
std::string BilledItemOf(const connector::billing::Subscription& sub, const std::string& add_on_id,
                         const std::string& price_id, const std::set<std::string>& taken) {
  for (const auto& i : sub.items)
    if (auto a = i.metadata.find(kAddOnKey); a != i.metadata.end() && a->second == add_on_id)
      return i.id;
  std::string found;
  for (const auto& i : sub.items) {
    if (taken.count(i.id)) continue;
    auto catalog = i.metadata.find(connector::billing::kCatalogPriceKey);
    const std::string price = catalog != i.metadata.end() ? catalog->second : i.price.id;
    if (price != price_id) continue;
    if (!found.empty()) return "";  // two alike: which one is not known
    found = i.id;
  }
  return found;
}

// The statuses of a service that is sold and billed (as the revenue reconcile counts them).
bool Live(const std::string& status) {
  return status.empty() || status == "Active" || status == "Past Due" || status == "Unpaid";
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
  const std::string status = Text(s["Status__c"]);
  // Scheduled: sold to start on its start date. GTV keeps a service starting today Scheduled
  // until the day begins in the tenant's time zone, and the CRM hears that status, also after
  // an undo: one whose date is today or yesterday (UTC) is billed; an older one is the CRM's to
  // settle (checked with the term below).
  const bool scheduled = status == "Scheduled";
  if (!Live(status) && !scheduled) {
    Fail(r,
         "its status is " + status +
             ": only a live service (Active, Past Due, Unpaid, or Scheduled to have started) is "
             "billed",
         &MigrationSummary::invalid);
    return std::nullopt;
  }
  const std::string currency = Upper(Text(s["Currency__c"]));
  if (currency.empty()) {
    std::set<std::string> sold_in;
    for (const auto& e : entries)
      if (!e.currency.empty()) sold_in.insert(e.currency);
    if (sold_in.size() > 1) {
      Fail(r, "it names no Currency__c and its product is sold in " + Join(sold_in),
           &MigrationSummary::invalid);
      return std::nullopt;
    }
  }
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
    // The sold period is the catalog price's: billing charges per its interval.
    const std::string interval = Lower(Text(s["Billing_Interval__c"]));
    auto count = Number(s, "Billing_Interval_Count__c");
    if (!interval.empty() &&
        (interval != Lower(catalog->interval) ||
         (count.ok() && *count && std::llround(**count) != catalog->interval_count)))
      return Status::InvalidArgument(
          "sold every " + (count.ok() && *count ? Text(s["Billing_Interval_Count__c"]) + " " : "") +
          interval + " but billing's price " + price_id + " charges every " +
          std::to_string(catalog->interval_count) + " " + catalog->interval);
    int64_t sold = catalog->unit_amount_minor;
    if (unit) {
      sold = ToMinorUnits(*unit, catalog->currency);
    } else if (total) {
      // Billing charges a unit price times the quantity: a total that does not divide would
      // be billed a cent off what was sold.
      const int64_t minor = ToMinorUnits(*total, catalog->currency);
      if (minor % quantity != 0)
        return Status::InvalidArgument("the amount " + FormatTotal(*total) +
                                       " does not divide into " + std::to_string(quantity) +
                                       " equal unit prices");
      sold = minor / quantity;
    }
    if (sold < 0) return Status::InvalidArgument("a negative price");
    return connector::billing::ItemSoldAt(*catalog, quantity, sold);
  };
  connector::billing::SubscriptionSpec spec;
  spec.account_id = customer;
  Result<SubscriptionItem> base = Status::Internal("not read");
  auto quantity = Quantity(s, "Quantity__c");
  auto unit = Number(s, "Unit_Price__c");
  auto total = Number(s, "Recurring_Amount__c");
  if (!quantity.ok())
    base = quantity.status();
  else if (!unit.ok())
    base = unit.status();
  else if (!total.ok())
    base = total.status();
  else
    base = item(entry->price_id, *quantity, *unit, *total);
  if (!base.ok()) {
    Fail(r, "the base line: " + base.status().ToString(), &MigrationSummary::invalid);
    return std::nullopt;
  }
  spec.items.push_back(*base);
  int one_time = 0;
  for (const Json& a : add_ons) {
    if (!Recurring(a)) {
      ++one_time;  // billed once by the old system; nothing recurs
      continue;
    }
    const std::string what = "add-on " + Text(a["Name"]) + " (" + a["Id"].as_string() + ")";
    const std::string price = Text(a["Billing_Price_Id__c"]);
    if (price.empty()) {
      Fail(r, what + " names no billing price (Billing_Price_Id__c)", &MigrationSummary::invalid);
      return std::nullopt;
    }
    auto q = Quantity(a, "Quantity__c");
    auto amount = Number(a, "Amount__c");
    Result<SubscriptionItem> added = !q.ok()        ? Result<SubscriptionItem>(q.status())
                                     : !amount.ok() ? Result<SubscriptionItem>(amount.status())
                                                    : item(price, *q, std::nullopt, *amount);
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
  if (scheduled && start.empty()) {
    Fail(r, "it is Scheduled but names no Start_Date__c", &MigrationSummary::invalid);
    return std::nullopt;
  }
  const int64_t now_s = NowMs() / 1000;
  if (scheduled && spec.start_at < now_s - now_s % 86400 - 86400) {
    Fail(r,
         "it is Scheduled to start on " + start +
             ", which has passed: set its status (Active if it started, Cancelled if not)",
         &MigrationSummary::invalid);
    return std::nullopt;
  }
  if (spec.start_at > now_s) {
    Fail(r,
         "it starts on " + start +
             ", after the load: load it on its start date (or let a work order start it)",
         &MigrationSummary::invalid);
    return std::nullopt;
  }
  auto term_months = Number(s, "Term_Months__c");
  if (!term_months.ok() ||
      (*term_months && (**term_months < 0 || **term_months != std::floor(**term_months)))) {
    Fail(r,
         term_months.ok()
             ? "Term_Months__c " + Text(s["Term_Months__c"]) + " is not a whole number of months"
             : term_months.status().message(),
         &MigrationSummary::invalid);
    return std::nullopt;
  }
  const int64_t term = *term_months ? static_cast<int64_t>(**term_months) : 0;
  const bool renews = Truthy(s["Auto_Renew__c"]);
  const int64_t today = now_s;
  if (term > 0) {
    const std::string from = start.empty() ? FormatRfc3339(deps_.clock.Now()).substr(0, 10) : start;
    // Each term's end counted from the start, not from the last end: a service started on
    // the 31st keeps ending on the month's last day, not drifting to the 28th.
    int64_t terms = 1;
    std::string end = AddMonths(from, term);
    while (renews && DateToEpoch(end) <= today) end = AddMonths(from, term * ++terms);
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

// The subscription `spec` under `key`: created, or the one billing made under that key before
// — looked for first when `look_first` (a resumed chunk: billing may have forgotten the key;
// Stripe keeps them 24 hours), and after a create whose answer was lost. One found not yet
// started (GTV: an order not confirmed) is finished by the keyed create; a canceled one is
// not the job's to link.
Result<connector::billing::Subscription> Run::CreateOnce(
    const connector::billing::SubscriptionSpec& spec, const std::string& key, bool look_first) {
  auto find = [&]() -> Result<std::optional<connector::billing::Subscription>> {
    auto found = deps_.billing.FindSubscription(spec.account_id, "tandem_task", key);
    if (found.ok() && found->has_value() && (*found)->status == "canceled")
      return std::optional<connector::billing::Subscription>();
    return found;
  };
  if (look_first) {
    auto found = find();
    if (!found.ok()) return found.status();
    if (found->has_value() && (*found)->status != "pending") return **found;
  }
  auto made = deps_.billing.CreateSubscription(spec, key);
  if (made.ok() || !made.status().IsTransient()) return made;
  auto found = find();
  if (found.ok() && found->has_value() && (*found)->status != "pending") return **found;
  return made;
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
                                      "Amount__c", "Billing_Price_Id__c", "Billing_Item_Id__c"})
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
  std::vector<Row*> relink;
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
      // A run stopped after its links, before the CRM heard: the link field, billing's state
      // and the add-ons' billing items are written from billing now.
      bool add_on_unlinked = false;
      for (const Json& a : add_ons_of[id])
        add_on_unlinked |= Recurring(a) && Text(a["Billing_Item_Id__c"]).empty();
      if (NeedsLinkFields(*r) || add_on_unlinked) {
        r->record = found->second;
        relink.push_back(r);
      }
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
  // 5. Billing's creates, concurrent, each keyed by job and row; linked ones to repair, read.
  TANDEM_RETURN_IF_ERROR(RecordIntents(creates, [&](const Row& r) {
    return specs.at(&r).account_id + " " + Key(r, "subscription");
  }));
  const bool look_first = !options_.resume_job.empty() && !resumed_chunk_done_;
  std::mutex mu;
  std::map<Row*, connector::billing::Subscription> billed;
  auto take = [&](Row& r, const Result<connector::billing::Subscription>& sub) {
    billing_breaker_.Record(sub.status());
    std::lock_guard<std::mutex> lock(mu);
    if (!sub.ok()) {
      Fail(r, "billing: " + sub.status().ToString(), &MigrationSummary::write_failed);
      return;
    }
    r.billing_id = sub->id;
    // Billing's state reaches the CRM with the link field (the subscription map), except the
    // terms the CRM sold it on: those it keeps, and billing was checked to agree with them.
    r.decided = mapping::ApplyToCrm(map_, connector::billing::SubscriptionToPayload(*sub));
    for (const char* sold :
         {"Start_Date__c", "Currency__c", "Billing_Interval__c", "Billing_Interval_Count__c"})
      if (!Text(r.record[sold]).empty()) r.decided.Erase(sold);
    billed[&r] = *sub;
  };
  RunConcurrently(creates, [&](Row& r) {
    if (billing_breaker_.open()) return;
    take(r, CreateOnce(specs.at(&r), Key(r, "subscription"), look_first));
  });
  resumed_chunk_done_ = true;
  RunConcurrently(relink, [&](Row& r) {
    if (billing_breaker_.open()) return;
    take(r, deps_.billing.GetSubscription(r.billing_id));
  });
  TANDEM_RETURN_IF_ERROR(BillingOutage());
  if (deps_.crash) deps_.crash->Hit("migration.after_billing_writes");
  // 6. Links and audit before the CRM hears of them; then the link fields, one Bulk job.
  TANDEM_RETURN_IF_ERROR(RecordLinks(rows));
  if (deps_.crash) deps_.crash->Hit("migration.after_links");
  std::vector<Row*> updates;
  for (Row& r : rows)
    if (r.plan == Plan::kCreateBilling || (NeedsLinkFields(r) && billed.count(&r)))
      updates.push_back(&r);
  TANDEM_RETURN_IF_ERROR(BulkToCrm(updates, /*create=*/false));
  // 7. Each recurring add-on learns the billing item that charges it: the item carrying its
  // id, else the one other item billed from its price. One that matches none fails its row: a
  // repair would add it again.
  std::vector<Json> items;
  std::vector<Row*> owner;
  for (auto& [row, sub] : billed) {
    if (row->plan == Plan::kFailed) continue;
    std::set<std::string> taken = {sub.items.empty() ? "" : sub.items.front().id};
    for (const Json& a : add_ons_of[Id15(row->crm_id)]) {
      if (!Recurring(a)) continue;
      const std::string id = a["Id"].as_string();
      const std::string item = BilledItemOf(sub, id, Text(a["Billing_Price_Id__c"]), taken);
      if (item.empty()) {
        Fail(*row,
             "add-on " + id + ": no item of billing subscription " + sub.id +
                 " charges it; check the subscription in billing",
             &MigrationSummary::write_failed);
        break;
      }
      taken.insert(item);
      if (Text(a["Billing_Item_Id__c"]) == item) continue;
      Json u = Json::MakeObject();
      u.Set("Id", id);
      u.Set("Billing_Item_Id__c", item);
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
