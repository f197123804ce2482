#include "workorders/tasks.h"

#include <cmath>

#include "actions/billing_records.h"
#include "workorders/plan.h"

namespace tandem::workorders {
namespace {

using connector::billing::SubscriptionItem;
using connector::billing::SubscriptionSpec;

int64_t ToMinor(double amount, const std::string& currency) {
  return static_cast<int64_t>(
      std::llround(amount * std::pow(10.0, mapping::CurrencyDecimals(currency))));
}

Json SubscriptionResult(const connector::billing::Subscription& s) {
  Json r = Json::MakeObject();
  r.Set("subscription_id", s.id);
  r.Set("status", s.status);
  if (!s.items.empty()) r.Set("item_id", s.items.front().id);
  if (s.cancel_at) r.Set("cancel_at", s.cancel_at);
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

// The subscription's item for `price_id` (add-ons), or its base item (the first) when `base`.
Result<SubscriptionItem> TaskLibrary::FindItem(const std::string& subscription_id,
                                               const std::string& price_id, bool base) {
  auto sub = deps_.billing.GetSubscription(subscription_id);
  if (!sub.ok()) return sub.status();
  for (const auto& item : sub->items)
    if (item.price_id == price_id) return item;
  if (base && !sub->items.empty()) return sub->items.front();
  return Status::NotFound("subscription " + subscription_id + " has no item with price " +
                          price_id);
}

Result<Json> TaskLibrary::RecordSubscription(const Json& p,
                                             const std::map<std::string, Json>& earlier) {
  auto id = SubscriptionId(p, earlier);
  if (!id.ok()) return id.status();
  auto sub = deps_.billing.GetSubscription(*id);
  if (!sub.ok()) return sub.status();
  const mapping::ObjectMap* map = deps_.mapping.Find("subscription");
  Json fields = actions::SubscriptionStateFields(map, *sub);
  fields.Set("Name", p["product_name"].ToText().empty() ? sub->id : p["product_name"].ToText());
  fields.Set("Account__c", p["account_id"].as_string());
  if (!p["product_id"].as_string().empty()) fields.Set("Product__c", p["product_id"].as_string());
  if (!sub->items.empty()) fields.Set("Quantity__c", sub->items.front().quantity);
  fields.Set("Recurring_Amount__c", p["unit_price"].as_number() * p["quantity"].as_number(1));
  if (p["term_months"].as_int() > 0) fields.Set("Term_Months__c", p["term_months"].as_int());
  auto saved =
      deps_.crm.Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey, sub->id, fields);
  if (!saved.ok()) return saved.status();
  if (!saved->success)
    return Status::InvalidArgument("Service_Subscription__c: " + saved->ErrorText());
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  TANDEM_RETURN_IF_ERROR(
      deps_.store.UpsertLinks({store::Link{"subscription", saved->id, sub->id, "", "", now}}));
  // The order item points at the inventory record it created or changed.
  if (p["subscription_crm_id"].as_string() != saved->id) {
    Json item = Json::MakeObject();
    item.Set("Service_Subscription__c", saved->id);
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update("OrderItem", p["item_id"].as_string(), item));
  }
  // A replace ended the old subscription: its inventory record says so too.
  if (auto replaced = earlier.find("replace"); replaced != earlier.end()) {
    // As billing has it, so that reconciliation finds the two in step.
    auto old_sub = deps_.billing.GetSubscription(replaced->second["replaced"].ToText());
    if (!old_sub.ok()) return old_sub.status();
    auto old_saved = deps_.crm.Upsert(actions::kSubscriptionObject, actions::kSubscriptionKey,
                                      old_sub->id, actions::SubscriptionStateFields(map, *old_sub));
    if (!old_saved.ok()) return old_saved.status();
  }
  Json r = SubscriptionResult(*sub);
  r.Set("crm_id", saved->id);
  return r;
}

Result<Json> TaskLibrary::RecordAddOn(const Json& p, const std::map<std::string, Json>& earlier) {
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
  auto saved = deps_.crm.Upsert("Service_Add_On__c", "Billing_Item_Id__c", billing_item, fields);
  if (!saved.ok()) return saved.status();
  if (!saved->success) return Status::InvalidArgument("Service_Add_On__c: " + saved->ErrorText());
  Json r = Json::MakeObject();
  r.Set("crm_id", saved->id);
  r.Set("item_id", billing_item);
  return r;
}

Result<Json> TaskLibrary::Run(const store::Task& task, const std::map<std::string, Json>& earlier) {
  auto parsed = Json::Parse(task.payload);
  if (!parsed.ok()) return Status::Corruption("task " + task.key + ": bad payload");
  const Json& p = *parsed;
  const std::string& key = task.key;  // the billing idempotency key
  const std::string& kind = task.kind;
  const std::string effective = p["effective_date"].ToText();
  const int64_t term = p["term_months"].as_int();
  auto& billing = deps_.billing;

  if (kind == "sync_account") {
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
        return Status::Unavailable("account synced, its link fields not yet in the CRM: " +
                                   o.reason);
      id = o.remote_id;
    }
    Json r = Json::MakeObject();
    r.Set("billing_id", id);
    return r;
  }
  if (kind == "create_subscription") {
    auto account = AccountBillingId(p, earlier);
    if (!account.ok()) return account.status();
    SubscriptionSpec spec;
    spec.account_id = *account;
    spec.items.push_back({"", p["price_id"].ToText(), p["quantity"].as_int(1), {}});
    if (term > 0) spec.cancel_at = DateToEpoch(AddMonths(effective, term));
    spec.start_active = false;  // start_subscription activates it
    // Held at most ~2 years (Stripe's limit), counted from planning: the same on every attempt.
    const int64_t planned = p["planned_at"].as_int();
    if (planned > 0) spec.pending_until = planned + 700 * 86'400;
    spec.metadata["crm_order"] = p["order_id"].ToText();
    spec.metadata["crm_order_item"] = p["item_id"].ToText();
    spec.metadata["tandem_task"] = key;
    if (task.attempts > 1) {
      // An earlier attempt may have created it, and billing may have forgotten the key since
      // (Stripe keeps keys 24 hours; a retry after a long outage comes later): look first.
      auto existing = billing.FindSubscription(*account, "tandem_task", key);
      if (!existing.ok()) return existing.status();
      if (existing->has_value()) return SubscriptionResult(**existing);
    }
    auto sub = billing.CreateSubscription(spec, key);
    if (!sub.ok()) return sub.status();
    return SubscriptionResult(*sub);
  }
  if (kind == "start_subscription") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    auto sub = billing.StartSubscription(*id, key);
    if (!sub.ok()) return sub.status();
    return SubscriptionResult(*sub);
  }
  if (kind == "record_subscription") return RecordSubscription(p, earlier);
  if (kind == "record_add_on") return RecordAddOn(p, earlier);
  if (kind == "add_add_on") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    auto item =
        billing.AddAddOn(*id, {"", p["price_id"].ToText(), p["quantity"].as_int(1), {}}, key);
    if (!item.ok()) return item.status();
    Json r = Json::MakeObject();
    r.Set("item_id", item->id);
    return r;
  }
  if (kind == "change_add_on" || kind == "remove_add_on" || kind == "change_quantity" ||
      kind == "change_price") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    // Add-ons are found by their price; the base item is the subscription's first.
    const bool base = kind == "change_quantity" || kind == "change_price";
    auto item = FindItem(*id, base ? "" : p["price_id"].ToText(), base);
    if (!item.ok()) return item.status();
    Json r = Json::MakeObject();
    r.Set("item_id", item->id);
    r.Set("subscription_id", *id);
    if (kind == "change_add_on") {
      auto changed = billing.ChangeAddOn(item->id, p["quantity"].as_int(1), key);
      if (!changed.ok()) return changed.status();
    } else if (kind == "remove_add_on") {
      TANDEM_RETURN_IF_ERROR(billing.RemoveAddOn(item->id, key));
    } else if (kind == "change_quantity") {
      auto sub = billing.ChangeQuantity(*id, item->id, p["quantity"].as_int(1), key);
      if (!sub.ok()) return sub.status();
    } else {
      auto sub = billing.ChangePrice(*id, item->id, p["price_id"].ToText(), key);
      if (!sub.ok()) return sub.status();
    }
    return r;
  }
  if (kind == "one_time_charge") {
    auto account = AccountBillingId(p, earlier);
    if (!account.ok()) return account.status();
    connector::billing::OneTimeCharge charge;
    charge.account_id = *account;
    charge.currency = p["currency"].ToText();
    charge.amount_minor =
        ToMinor(p["unit_price"].as_number() * p["quantity"].as_number(1), charge.currency);
    charge.description = p["product_name"].ToText() + " (order " + p["order_number"].ToText() + ")";
    auto id = billing.AddOneTimeCharge(charge, key);
    if (!id.ok()) return id.status();
    Json r = Json::MakeObject();
    r.Set("item_id", *id);
    r.Set("amount_minor", charge.amount_minor);
    return r;
  }
  if (kind == "re_term") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    if (term <= 0) return Status::InvalidArgument("re-term needs Term_Months__c on the order item");
    auto sub = billing.ReTerm(*id, DateToEpoch(AddMonths(effective, term)), key);
    if (!sub.ok()) return sub.status();
    return SubscriptionResult(*sub);
  }
  if (kind == "cancel") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    auto sub = billing.Cancel(*id, p["at_term_end"].as_bool(), key);
    if (!sub.ok()) return sub.status();
    return SubscriptionResult(*sub);
  }
  if (kind == "charge_early_termination") {
    Json r = Json::MakeObject();
    const std::string end = p["subscription_end"].ToText();
    const int64_t months =
        p["at_term_end"].as_bool() || end.empty() ? 0 : MonthsBetween(effective, end);
    const double recurring = p["recurring_amount"].as_number() > 0
                                 ? p["recurring_amount"].as_number()
                                 : p["unit_price"].as_number() * p["quantity"].as_number(1);
    const std::string currency = p["currency"].ToText();
    const int64_t amount = ToMinor(static_cast<double>(months) * recurring *
                                       p["early_termination_percent"].as_number() / 100.0,
                                   currency);
    r.Set("months", months);
    r.Set("amount_minor", amount);
    if (amount <= 0) return r;  // at term end, or nothing left of the term: no fee
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    auto sub = billing.GetSubscription(*id);
    if (!sub.ok()) return sub.status();
    connector::billing::OneTimeCharge charge;
    charge.account_id = sub->account_id;
    charge.amount_minor = amount;
    charge.currency = currency;
    charge.description =
        "Early termination: " + std::to_string(months) + " months of " +
        p["product_name"].ToText() + " at " +
        std::to_string(static_cast<int>(p["early_termination_percent"].as_number())) + "%";
    auto charged = billing.AddOneTimeCharge(charge, key);
    if (!charged.ok()) return charged.status();
    r.Set("item_id", *charged);
    return r;
  }
  if (kind == "renew") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    const std::string end =
        p["subscription_end"].ToText().empty() ? effective : p["subscription_end"].ToText();
    if (term <= 0) return Status::InvalidArgument("renew needs a term (Term_Months__c)");
    auto sub = billing.Renew(*id, DateToEpoch(AddMonths(end, term)), key);
    if (!sub.ok()) return sub.status();
    return SubscriptionResult(*sub);
  }
  if (kind == "replace") {
    auto id = SubscriptionId(p, earlier);
    if (!id.ok()) return id.status();
    auto old = billing.GetSubscription(*id);
    if (!old.ok()) return old.status();
    SubscriptionSpec spec;
    spec.account_id = old->account_id;
    spec.items.push_back({"", p["price_id"].ToText(), p["quantity"].as_int(1), {}});
    if (term > 0) spec.cancel_at = DateToEpoch(AddMonths(effective, term));
    spec.metadata["crm_order"] = p["order_id"].ToText();
    spec.metadata["crm_order_item"] = p["item_id"].ToText();
    auto sub = billing.Replace(*id, spec, key);
    if (!sub.ok()) return sub.status();
    Json r = SubscriptionResult(*sub);
    r.Set("replaced", *id);
    return r;
  }
  return Status::InvalidArgument("unknown task kind '" + kind + "'");
}

}  // namespace tandem::workorders
