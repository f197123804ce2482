#include "workorders/tasks.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "actions/billing_records.h"
#include "connector/crm/soql.h"
#include "util/ascii.h"
#include "workorders/plan.h"

namespace tandem::workorders {
namespace {

using connector::billing::SubscriptionItem;
using connector::billing::SubscriptionSpec;

using connector::billing::kCatalogPriceKey;

// How long a catalog price read is reused. Only to price a line sold at another amount (a sold
// price is made with the sold amount: the catalog's amount does not reach the bill), or where
// billing's amounts never change; a line billed at the catalog price on a billing system whose
// prices may change is compared with a fresh read. A create that fails forgets the price, so
// its retry reads it again (a price retired since).
constexpr std::chrono::seconds kPriceFresh{60};
// How old start_subscription's answer may be for record_subscription to write it rather than
// read the subscription again (it can change: scheduled → active, a payment failing).
constexpr std::chrono::seconds kStartFresh{10};
// Cached prices kept at most: a catalog is hundreds of prices, not this.
constexpr size_t kPricesKept = 4096;

// The task kinds after which start_subscription's answer is still the subscription as billing
// has it: none of them changes it after the start.
bool OnlyCreatedAndStarted(const std::map<std::string, Json>& earlier) {
  for (const auto& [kind, result] : earlier)
    if (kind != "sync_account" && kind != "create_subscription" && kind != "start_subscription")
      return false;
  return earlier.count("start_subscription") == 1;
}

connector::billing::Proration ProrationOf(const Json& p) {
  return p["proration"].ToText() == "none" ? connector::billing::Proration::kNone
                                           : connector::billing::Proration::kProrate;
}

// A new subscription's custom fields: what the mapping's `order` map takes from the Order (its id
// and number by default), and the order item it bills.
connector::billing::Metadata OrderMetadata(const Json& p) {
  connector::billing::Metadata m;
  // "metadata": a task planned before custom fields had their neutral name (upgrade).
  const Json& fields = p["order_fields"]["custom"].is_object() ? p["order_fields"]["custom"]
                                                               : p["order_fields"]["metadata"];
  for (const auto& [k, v] : fields.object()) m[k] = v.ToText();
  m["crm_order_item"] = p["item_id"].ToText();
  return m;
}

Json SubscriptionResult(const connector::billing::Subscription& s) {
  Json r = Json::MakeObject();
  r.Set("subscription_id", s.id);
  r.Set("status", s.status);
  if (!s.items.empty()) r.Set("item_id", s.items.front().id);
  if (s.cancel_at) r.Set("cancel_at", s.cancel_at);
  return r;
}

// What a change to one of a subscription's items returns.
Json ItemChanged(const std::string& item_id, const std::string& subscription_id) {
  Json r = Json::MakeObject();
  r.Set("item_id", item_id);
  r.Set("subscription_id", subscription_id);
  return r;
}

}  // namespace

Result<std::string> TaskLibrary::AccountBillingId(const Json& p,
                                                  const std::map<std::string, Json>& earlier) {
  auto sync = earlier.find("sync_account");
  if (sync != earlier.end() && !sync->second["billing_id"].ToText().empty())
    return sync->second["billing_id"].ToText();
  auto link = deps_.store.FindLinkByCrmId("account", p["account_id"].as_string());
  if (!link.ok()) return link.status();
  if (!link->has_value())
    return Status::InvalidArgument("account " + p["account_id"].as_string() +
                                   " is not linked to billing (the template has no sync_account)");
  return (*link)->billing_id;
}

Result<std::string> TaskLibrary::SubscriptionId(const Json& p,
                                                const std::map<std::string, Json>& earlier) {
  for (const char* kind : {"replace", "create_subscription"}) {
    auto it = earlier.find(kind);
    if (it != earlier.end()) return it->second["subscription_id"].ToText();
  }
  const std::string id = p["subscription_id"].ToText();
  if (id.empty())
    return Status::InvalidArgument("order item " + p["item_id"].as_string() +
                                   " names no service subscription with a billing id");
  return id;
}

// The item the line bills: its catalog price, or — when the line was sold at another unit
// price than billing's — a price made for the item with the catalog price's product, currency
// and interval (ADR 0009). Compared with billing's amount, not the price book's: a book entry
// that drifted from billing must not decide what is charged. The catalog price id stays in the
// item's metadata, so the add-on is found by it later.
Result<SubscriptionItem> TaskLibrary::BilledItem(const Json& p) {
  const std::string price_id = p["price_id"].ToText();
  // Planned by a version that billed catalog prices only: the same request as its earlier
  // attempts sent (a retry under the same idempotency key must not change its parameters).
  if (p["list_price"].is_null()) return SubscriptionItem{"", price_id, p["quantity"].as_int(1), {}};
  auto catalog = CatalogPrice(price_id, false);
  if (catalog.ok() && !deps_.billing.PriceAmountsFixed() &&
      ToMinorUnits(p["unit_price"].as_number(), catalog->currency) == catalog->unit_amount_minor)
    catalog = CatalogPrice(price_id, true);  // billed at its amount now: read it now
  if (!catalog.ok()) return catalog.status().WithContext("the catalog price of the order line");
  // A single-currency org has no CurrencyIsoCode: the line is in billing's currency then.
  const std::string currency = Lower(p["book_currency"].ToText());
  if (!currency.empty() && currency != Lower(catalog->currency))
    return Status::InvalidArgument("order item " + p["item_id"].ToText() + " is sold in " +
                                   Upper(currency) + " but billing's price " + price_id +
                                   " is in " + Upper(catalog->currency));
  connector::billing::Price priced = *catalog;
  priced.id = price_id;  // the item names the price as the order line does
  return connector::billing::ItemSoldAt(priced, p["quantity"].as_int(1),
                                        ToMinorUnits(p["unit_price"].as_number(), priced.currency));
}

Result<connector::billing::Price> TaskLibrary::CatalogPrice(const std::string& id, bool fresh) {
  const SteadyTime now = deps_.clock.SteadyNow();
  // Made before the read is registered: nothing between that and the answer may throw but the
  // read itself, or the waiters would find a broken promise.
  Result<connector::billing::Price> price = Status::Internal("price " + id + " not read");
  std::unique_lock<std::mutex> lock(prices_mu_);
  if (!fresh) {
    auto it = prices_.find(id);
    if (it != prices_.end() && now - it->second.first < kPriceFresh) return it->second.second;
    // One read of a price at a time: the tasks wanting it meanwhile take its answer. When the
    // cache was empty or stale, every task of the product then running read it at once: 30 to
    // 110 reads in a bench run of 1,000 orders, 1 to 4 % of its billing calls.
    if (auto reading = price_reads_.find(id); reading != price_reads_.end()) {
      auto answer = reading->second;
      lock.unlock();
      return answer.get();
    }
  }
  std::promise<Result<connector::billing::Price>> answer;
  if (!fresh) price_reads_[id] = answer.get_future().share();
  lock.unlock();
  try {
    price = deps_.billing.GetPrice(id);
  } catch (...) {
    answer.set_exception(std::current_exception());
    lock.lock();
    if (!fresh) price_reads_.erase(id);
    throw;
  }
  lock.lock();
  if (!fresh) price_reads_.erase(id);
  if (price.ok()) {
    if (prices_.size() >= kPricesKept) prices_.clear();
    prices_[id] = {now, *price};
  }
  answer.set_value(price);
  return price;
}

// The subscription's item for `price_id` (add-ons: its catalog price, or a sold price made from
// it), or its base item (the first) when `base`.
Result<SubscriptionItem> TaskLibrary::FindItem(const std::string& subscription_id,
                                               const std::string& price_id, bool base) {
  auto sub = deps_.billing.GetSubscription(subscription_id);
  if (!sub.ok()) return sub.status();
  for (const auto& item : sub->items) {
    auto catalog = item.metadata.find(kCatalogPriceKey);
    if (item.price_id == price_id ||
        (catalog != item.metadata.end() && catalog->second == price_id))
      return item;
  }
  if (base && !sub->items.empty()) return sub->items.front();
  return Status::NotFound("subscription " + subscription_id + " has no item with price " +
                          price_id);
}

// change_add_on, remove_add_on, change_quantity, change_price: the item they change. Add-ons
// are found by their price; the base item is the subscription's first.
Result<SubscriptionItem> TaskLibrary::ItemToChange(const Call& c, bool base,
                                                   std::string* subscription_id) {
  auto id = SubscriptionId(c.p, c.earlier);
  if (!id.ok()) return id.status();
  *subscription_id = *id;
  return FindItem(*id, base ? "" : c.p["price_id"].ToText(), base);
}

Result<Json> TaskLibrary::SyncAccount(const Call& c) {
  const Json& p = c.p;
  auto link = deps_.store.FindLinkByCrmId("account", p["account_id"].as_string());
  if (!link.ok()) return link.status();
  std::string id;
  // A link without its synced content is one whose CRM write-back has not happened yet.
  if (link->has_value() && !(*link)->content_hash.empty()) {
    id = (*link)->billing_id;
  } else {
    auto report = deps_.actions.Sync("account", {p["account_id"].as_string()});
    if (!report.ok()) return report.status();
    const Outcome& o = report->outcomes.at(0);
    if (o.failed())
      return o.retryable ? Status::Unavailable("account sync: " + o.reason)
                         : Status::InvalidArgument("account sync: " + o.reason);
    if (report->writeback_failed > 0)
      return Status::Unavailable("account synced, its link fields not yet in the CRM: " + o.reason);
    id = o.remote_id;
  }
  Json r = Json::MakeObject();
  r.Set("billing_id", id);
  return r;
}

Result<Json> TaskLibrary::CreateSubscription(const Call& c) {
  const Json& p = c.p;
  const std::string& key = c.task.key;
  auto account = AccountBillingId(p, c.earlier);
  if (!account.ok()) return account.status();
  auto billed = BilledItem(p);
  if (!billed.ok()) return billed.status();
  SubscriptionSpec spec;
  spec.account_id = *account;
  spec.items.push_back(*billed);
  if (c.term > 0) spec.cancel_at = DateToEpoch(AddMonths(c.effective, c.term));
  spec.start_active = false;                   // start_subscription activates it
  spec.decided_at = p["planned_at"].as_int();  // the same on every attempt
  spec.metadata = OrderMetadata(p);
  spec.metadata["tandem_task"] = key;
  if (c.task.attempts > 1) {
    // An earlier attempt may have created it, and billing may have forgotten the key since
    // (Stripe keeps keys 24 hours; a retry after a long outage comes later): look first.
    auto existing = deps_.billing.FindSubscription(*account, "tandem_task", key);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return SubscriptionResult(**existing);
  }
  auto sub = deps_.billing.CreateSubscription(spec, key);
  if (!sub.ok()) {
    std::lock_guard<std::mutex> lock(prices_mu_);
    prices_.erase(p["price_id"].ToText());  // the retry reads it again
    return sub.status();
  }
  return SubscriptionResult(*sub);
}

Result<Json> TaskLibrary::StartSubscription(const Call& c) {
  auto id = SubscriptionId(c.p, c.earlier);
  if (!id.ok()) return id.status();
  // The request depends on the clock (a date still ahead, or not), so a retry could send
  // another one under the same key: an earlier attempt whose answer was lost may have started
  // it already (scheduled or active), and that is the result.
  // The result carries the started subscription's fields for the inventory record, so that
  // record_subscription right after it need not read it again.
  const mapping::ObjectMap* map = deps_.mapping.Find("subscription");
  auto started = [&](const connector::billing::Subscription& sub) {
    Json r = SubscriptionResult(sub);
    r.Set("state", actions::SubscriptionStateFields(map, sub));
    r.Set("read_at_ms", ToEpochMillis(deps_.clock.Now()));
    return r;
  };
  if (c.task.attempts > 1) {
    auto now_sub = deps_.billing.GetSubscription(*id);
    if (!now_sub.ok()) return now_sub.status();
    if (now_sub->status != "pending") {
      // Started, but maybe not given its term's end: on Gotransverse the start confirms the
      // order, then schedules the end, and an attempt can stop between the two (a kill, a
      // failed call, or a lease taken over while it ran). Without the end the service would
      // run on past its term, and the inventory record would say so. (Stripe sets the end at
      // create: never missing there.)
      if (c.term > 0 && now_sub->cancel_at == 0 && now_sub->status == "active") {
        auto termed = deps_.billing.ReTerm(*id, DateToEpoch(AddMonths(c.effective, c.term)),
                                           c.task.key + ":term");
        if (!termed.ok()) return termed.status();
        return started(*termed);
      }
      return started(*now_sub);
    }
  }
  // An order that takes effect later bills from its date, not from its activation.
  const int64_t effective = DateToEpoch(c.effective);
  const int64_t now = ToEpochMillis(deps_.clock.Now()) / 1000;
  auto sub = deps_.billing.StartSubscription(*id, effective > now ? effective : 0, c.task.key);
  if (!sub.ok()) return sub.status();
  return started(*sub);
}

Result<Json> TaskLibrary::RecordSubscription(const Call& c) {
  const Json& p = c.p;
  const auto& earlier = c.earlier;
  auto id = SubscriptionId(p, earlier);
  if (!id.ok()) return id.status();
  const mapping::ObjectMap* map = deps_.mapping.Find("subscription");
  // The subscription as billing has it: as start_subscription's answer gave it moments ago when
  // nothing changed it since (a new service), else read now. A start planned by an earlier
  // version carries no state.
  Json result;
  Json fields;
  const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
  if (auto start = earlier.find("start_subscription");
      c.task.attempts <= 1 && OnlyCreatedAndStarted(earlier) &&
      start->second["state"].is_object() &&
      now_ms - start->second["read_at_ms"].as_int() <= kStartFresh.count() * 1000) {
    result = start->second;
    fields = result["state"];
    result.Erase("state");
    result.Erase("read_at_ms");
  } else {
    auto sub = deps_.billing.GetSubscription(*id);
    if (!sub.ok()) return sub.status();
    result = SubscriptionResult(*sub);
    fields = actions::SubscriptionStateFields(map, *sub);
  }
  fields.Set("Name", p["product_name"].ToText().empty() ? *id : p["product_name"].ToText());
  fields.Set("Account__c", p["account_id"].as_string());
  if (!p["product_id"].as_string().empty()) fields.Set("Product__c", p["product_id"].as_string());
  // What was sold, as the order line says, for operations that sell (a cancel, renew or
  // re-term line restates or zeroes the line; what billing charges, its currency and interval
  // come through the subscription map above).
  const std::string op = p["operation"].ToText();
  if (op == "new" || op == "change" || op == "re-rate" || op == "replace") {
    fields.Set("Quantity__c", p["quantity"].as_int(1));
    fields.Set("Unit_Price__c", p["unit_price"].as_number());
    fields.Set("Recurring_Amount__c", p["unit_price"].as_number() * p["quantity"].as_number(1));
  }
  // A cancelled service must not be renewed: the renewal scan takes auto-renewing ones.
  if (op == "cancel") fields.Set("Auto_Renew__c", false);
  if (p["term_months"].as_int() > 0) fields.Set("Term_Months__c", p["term_months"].as_int());
  auto saved =
      deps_.crm.Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey, *id, fields);
  if (!saved.ok()) return saved.status();
  if (!saved->success)
    return Status::InvalidArgument("Service_Subscription__c: " + saved->ErrorText());
  TANDEM_RETURN_IF_ERROR(
      deps_.store.UpsertLinks({store::Link{"subscription", saved->id, *id, "", "", now_ms}}));
  // The order item is pointed at the inventory record it created by the order's report
  // (Engine::WriteReports), in the Collections call that writes the Order's state.
  // A replace ended the old subscription: its inventory record says so too.
  if (auto replaced = earlier.find("replace"); replaced != earlier.end()) {
    // As billing has it, so that reconciliation finds the two in step.
    auto old_sub = deps_.billing.GetSubscription(replaced->second["replaced"].ToText());
    if (!old_sub.ok()) return old_sub.status();
    auto old_saved = deps_.crm.Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey,
                                      old_sub->id, actions::SubscriptionStateFields(map, *old_sub));
    if (!old_saved.ok()) return old_saved.status();
  }
  result.Set("crm_id", saved->id);
  return result;
}

Result<Json> TaskLibrary::RecordAddOn(const Call& c) {
  const Json& p = c.p;
  const auto& earlier = c.earlier;
  std::string billing_item;
  bool one_time = false;
  for (const char* kind : {"add_add_on", "change_add_on", "one_time_charge"}) {
    auto it = earlier.find(kind);
    if (it != earlier.end()) {
      billing_item = it->second["item_id"].ToText();
      one_time = std::string(kind) == "one_time_charge";
    }
  }
  if (billing_item.empty())
    return Status::InvalidArgument("record_add_on needs an add-on task before it");
  Json fields = Json::MakeObject();
  fields.Set("Name", p["product_name"].ToText());
  if (!p["subscription_crm_id"].as_string().empty())
    fields.Set("Subscription__c", p["subscription_crm_id"].as_string());
  fields.Set("Kind__c", one_time ? "One-time" : "Recurring");
  fields.Set("Amount__c", p["unit_price"].as_number() * p["quantity"].as_number(1));
  fields.Set("Quantity__c", p["quantity"].as_int(1));
  // The price it bills: what a revenue repair adds again should billing lose the item.
  if (!one_time && !p["price_id"].ToText().empty())
    fields.Set("Billing_Price_Id__c", p["price_id"].ToText());
  // A revenue repair (reconcile --object revenue) re-adds an add-on billing lost: the CRM's
  // record of it stays the one record, now naming the new billing item.
  std::string crm_id = p["add_on_crm_id"].as_string();
  if (!crm_id.empty()) {
    fields.Set("Billing_Item_Id__c", billing_item);
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Service_Add_On__c", crm_id, fields));
  } else {
    auto saved = deps_.crm.Upsert("Service_Add_On__c", "Billing_Item_Id__c", billing_item, fields);
    if (!saved.ok()) return saved.status();
    if (!saved->success) return Status::InvalidArgument("Service_Add_On__c: " + saved->ErrorText());
    crm_id = saved->id;
  }
  Json r = Json::MakeObject();
  r.Set("crm_id", crm_id);
  r.Set("item_id", billing_item);
  return r;
}

Result<Json> TaskLibrary::AddAddOn(const Call& c) {
  const Json& p = c.p;
  auto id = SubscriptionId(p, c.earlier);
  if (!id.ok()) return id.status();
  auto billed = BilledItem(p);
  if (!billed.ok()) return billed.status();
  auto item = deps_.billing.AddAddOn(*id, *billed, ProrationOf(p), c.task.key);
  if (!item.ok()) return item.status();
  Json r = Json::MakeObject();
  r.Set("item_id", item->id);
  return r;
}

Result<Json> TaskLibrary::ChangeAddOn(const Call& c) {
  std::string id;
  auto item = ItemToChange(c, /*base=*/false, &id);
  if (!item.ok()) return item.status();
  auto changed =
      deps_.billing.ChangeAddOn(item->id, c.p["quantity"].as_int(1), ProrationOf(c.p), c.task.key);
  if (!changed.ok()) return changed.status();
  return ItemChanged(item->id, id);
}

Result<Json> TaskLibrary::RemoveAddOn(const Call& c) {
  std::string id;
  auto item = ItemToChange(c, /*base=*/false, &id);
  if (!item.ok()) return item.status();
  TANDEM_RETURN_IF_ERROR(deps_.billing.RemoveAddOn(item->id, ProrationOf(c.p), c.task.key));
  // The CRM's record of the add-on says it is no longer sold (quantity and amount 0): else
  // the revenue reconcile finds it sold and missing in billing, and its --fix adds it back.
  auto soql = connector::crm::SoqlBuilder("Service_Add_On__c", {"Id"})
                  .WhereEquals("Billing_Item_Id__c", item->id)
                  .Build();
  if (!soql.ok()) return soql.status();
  std::vector<std::string> records;
  TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
    records.push_back(r["Id"].as_string());
    return Status::Ok();
  }));
  Json removed = Json::MakeObject();
  removed.Set("Quantity__c", 0);
  removed.Set("Amount__c", 0);
  for (const auto& record : records)
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Service_Add_On__c", record, removed));
  return ItemChanged(item->id, id);
}

Result<Json> TaskLibrary::ChangeQuantity(const Call& c) {
  std::string id;
  auto item = ItemToChange(c, /*base=*/true, &id);
  if (!item.ok()) return item.status();
  auto sub = deps_.billing.ChangeQuantity(id, item->id, c.p["quantity"].as_int(1), ProrationOf(c.p),
                                          c.task.key);
  if (!sub.ok()) return sub.status();
  return ItemChanged(item->id, id);
}

Result<Json> TaskLibrary::ChangePrice(const Call& c) {
  std::string id;
  auto item = ItemToChange(c, /*base=*/true, &id);
  if (!item.ok()) return item.status();
  auto billed = BilledItem(c.p);
  if (!billed.ok()) return billed.status();
  auto sub = deps_.billing.ChangePrice(id, item->id, *billed, ProrationOf(c.p), c.task.key);
  if (!sub.ok()) return sub.status();
  return ItemChanged(item->id, id);
}

Result<Json> TaskLibrary::OneTimeCharge(const Call& c) {
  const Json& p = c.p;
  auto account = AccountBillingId(p, c.earlier);
  if (!account.ok()) return account.status();
  connector::billing::OneTimeCharge charge;
  charge.account_id = *account;
  charge.currency = p["currency"].ToText();
  charge.amount_minor =
      ToMinorUnits(p["unit_price"].as_number() * p["quantity"].as_number(1), charge.currency);
  charge.description = p["product_name"].ToText() + " (order " + p["order_number"].ToText() + ")";
  auto id = deps_.billing.AddOneTimeCharge(charge, c.task.key);
  if (!id.ok()) return id.status();
  Json r = Json::MakeObject();
  r.Set("item_id", *id);
  r.Set("amount_minor", charge.amount_minor);
  return r;
}

Result<Json> TaskLibrary::ReTerm(const Call& c) {
  auto id = SubscriptionId(c.p, c.earlier);
  if (!id.ok()) return id.status();
  if (c.term <= 0) return Status::InvalidArgument("re-term needs Term_Months__c on the order item");
  auto sub = deps_.billing.ReTerm(*id, DateToEpoch(AddMonths(c.effective, c.term)), c.task.key);
  if (!sub.ok()) return sub.status();
  return SubscriptionResult(*sub);
}

Result<Json> TaskLibrary::Cancel(const Call& c) {
  auto id = SubscriptionId(c.p, c.earlier);
  if (!id.ok()) return id.status();
  // A cancellation dated later ends the subscription on that date: billing keeps the date,
  // so nothing has to run on the day. Never later than the term's own end.
  const int64_t effective = DateToEpoch(c.effective);
  const bool at_term_end = c.p["at_term_end"].as_bool();
  const bool later = !at_term_end && effective > ToEpochMillis(deps_.clock.Now()) / 1000;
  if (later || c.task.attempts > 1) {
    auto now_sub = deps_.billing.GetSubscription(*id);
    if (!now_sub.ok()) return now_sub.status();
    // A retry of an attempt whose answer was lost (the request depends on the clock, so it
    // could differ now under the same key): done when billing already ends it on the date.
    const bool done = now_sub->status == "canceled" || (later && now_sub->cancel_at == effective) ||
                      (at_term_end && now_sub->cancel_at_period_end);
    if (done) return SubscriptionResult(*now_sub);
    if (later && now_sub->cancel_at > 0 && now_sub->cancel_at <= effective)
      return SubscriptionResult(*now_sub);  // the term ends first: it ends then
  }
  auto sub = later ? deps_.billing.ReTerm(*id, effective, c.task.key)
                   : deps_.billing.Cancel(*id, at_term_end, c.task.key);
  if (!sub.ok()) return sub.status();
  return SubscriptionResult(*sub);
}

Result<Json> TaskLibrary::ChargeEarlyTermination(const Call& c) {
  const Json& p = c.p;
  Json r = Json::MakeObject();
  const std::string end = p["subscription_end"].ToText();
  const int64_t months =
      p["at_term_end"].as_bool() || end.empty() ? 0 : MonthsBetween(c.effective, end);
  const double recurring = p["recurring_amount"].as_number() > 0
                               ? p["recurring_amount"].as_number()
                               : p["unit_price"].as_number() * p["quantity"].as_number(1);
  const std::string currency = p["currency"].ToText();
  const int64_t amount = ToMinorUnits(
      static_cast<double>(months) * recurring * p["early_termination_percent"].as_number() / 100.0,
      currency);
  r.Set("months", months);
  r.Set("amount_minor", amount);
  if (amount <= 0) return r;  // at term end, or nothing left of the term: no fee
  auto id = SubscriptionId(p, c.earlier);
  if (!id.ok()) return id.status();
  auto sub = deps_.billing.GetSubscription(*id);
  if (!sub.ok()) return sub.status();
  connector::billing::OneTimeCharge charge;
  charge.account_id = sub->account_id;
  charge.amount_minor = amount;
  charge.currency = currency;
  charge.description =
      "Early termination: " + std::to_string(months) + " months of " + p["product_name"].ToText() +
      " at " + std::to_string(static_cast<int>(p["early_termination_percent"].as_number())) + "%";
  auto charged = deps_.billing.AddOneTimeCharge(charge, c.task.key);
  if (!charged.ok()) return charged.status();
  r.Set("item_id", *charged);
  return r;
}

Result<Json> TaskLibrary::Renew(const Call& c) {
  const Json& p = c.p;
  auto id = SubscriptionId(p, c.earlier);
  if (!id.ok()) return id.status();
  const std::string end =
      p["subscription_end"].ToText().empty() ? c.effective : p["subscription_end"].ToText();
  if (c.term <= 0) return Status::InvalidArgument("renew needs a term (Term_Months__c)");
  // The start's day: a term started on the 31st and clamped to Feb 28 ends on Mar 31 next.
  const std::string start = p["subscription_start"].ToText();
  const int anchor = start.size() >= 10 ? std::atoi(start.substr(8, 2).c_str()) : 0;
  auto sub = deps_.billing.Renew(*id, DateToEpoch(NextTermEnd(end, c.term, anchor)), c.task.key);
  if (!sub.ok()) return sub.status();
  return SubscriptionResult(*sub);
}

Result<Json> TaskLibrary::Replace(const Call& c) {
  const Json& p = c.p;
  auto id = SubscriptionId(p, c.earlier);
  if (!id.ok()) return id.status();
  auto old = deps_.billing.GetSubscription(*id);
  if (!old.ok()) return old.status();
  auto billed = BilledItem(p);
  if (!billed.ok()) return billed.status();
  SubscriptionSpec spec;
  spec.account_id = old->account_id;
  spec.items.push_back(*billed);
  if (c.term > 0) spec.cancel_at = DateToEpoch(AddMonths(c.effective, c.term));
  spec.metadata = OrderMetadata(p);
  auto sub = deps_.billing.Replace(*id, spec, c.task.key);
  if (!sub.ok()) return sub.status();
  Json r = SubscriptionResult(*sub);
  r.Set("replaced", *id);
  return r;
}

Result<Json> TaskLibrary::Run(const store::Task& task, const std::map<std::string, Json>& earlier) {
  // The kinds a template may name (workorders/templates.cpp checks them when it loads).
  static constexpr struct {
    std::string_view kind;
    Result<Json> (TaskLibrary::*run)(const Call&);
  } kKinds[] = {
      {"sync_account", &TaskLibrary::SyncAccount},
      {"create_subscription", &TaskLibrary::CreateSubscription},
      {"start_subscription", &TaskLibrary::StartSubscription},
      {"record_subscription", &TaskLibrary::RecordSubscription},
      {"record_add_on", &TaskLibrary::RecordAddOn},
      {"add_add_on", &TaskLibrary::AddAddOn},
      {"change_add_on", &TaskLibrary::ChangeAddOn},
      {"remove_add_on", &TaskLibrary::RemoveAddOn},
      {"change_quantity", &TaskLibrary::ChangeQuantity},
      {"change_price", &TaskLibrary::ChangePrice},
      {"one_time_charge", &TaskLibrary::OneTimeCharge},
      {"re_term", &TaskLibrary::ReTerm},
      {"cancel", &TaskLibrary::Cancel},
      {"charge_early_termination", &TaskLibrary::ChargeEarlyTermination},
      {"renew", &TaskLibrary::Renew},
      {"replace", &TaskLibrary::Replace},
  };
  auto parsed = Json::Parse(task.payload);
  if (!parsed.ok()) return Status::Corruption("task " + task.key + ": bad payload");
  const Json& p = *parsed;
  for (const auto& k : kKinds)
    if (k.kind == task.kind)
      return (this->*k.run)(
          Call{task, p, earlier, p["effective_date"].ToText(), p["term_months"].as_int()});
  return Status::InvalidArgument("unknown task kind '" + task.kind + "'");
}

}  // namespace tandem::workorders
