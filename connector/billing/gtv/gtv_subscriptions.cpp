// GtvBilling's subscriptions, add-ons and charges (the adapter's header says how each stays
// exactly-once without idempotency keys).
#include <algorithm>
#include <cstdlib>

#include "connector/billing/gtv/gtv_billing.h"
#include "connector/billing/gtv/gtv_internal.h"
#include "connector/billing/gtv/gtv_paths.h"
#include "connector/billing/gtv/gtv_wire.h"
#include "util/money_units.h"

namespace tandem::connector::billing::gtv {

using P = GtvPaths;

// ---------------------------------------------------------------- subscriptions

Result<Json> GtvBilling::OrderItem(const SubscriptionItem& item, const std::string& currency) {
  Json oi = Json::MakeObject();
  std::string product = item.price.product_id;
  std::string catalog_price = item.price_id;
  if (auto it = item.metadata.find("tandem_catalog_price"); it != item.metadata.end())
    catalog_price = it->second;
  if (!catalog_price.empty()) {
    auto price = GetPrice(catalog_price);
    if (!price.ok()) return price.status();
    if (product.empty()) product = price->product_id;
    if (price->product_id == product) oi.Set("product_price", Ref(catalog_price));
  }
  if (product.empty())
    return Status::InvalidArgument("gotransverse: an order line needs a product or a price");
  oi.Set("product", Ref(product));
  oi.Set("quantity", item.quantity);
  if (item.sold_price)  // the price the line was sold at, for this service alone
    oi.Set("unit_price", FromMinor(item.price.unit_amount_minor,
                                   item.price.currency.empty() ? currency : item.price.currency));
  return oi;
}

Result<std::optional<Json>> GtvBilling::FindOrder(const std::string& account_id,
                                                  const std::string& key) {
  return FindOne(std::string(P::kOrders) + "?" +
                     Query({{"billing_account_id", account_id}, {"purchase_order_number", key}}),
                 "orders with purchase order number " + key);
}

Result<Json> GtvBilling::Confirmed(Json order, int64_t start_at) {
  if (order["status"].as_string() != "DRAFT") return order;
  const std::string id = order["id"].as_string();
  if (start_at > ToEpochMillis(clock_.Now()) / 1000) {
    Json when = Json::MakeObject();
    when.Set("requested_effective_date", FormatDate(start_at));
    for (const auto& item : order["order_items"].array()) {
      auto put = Call("PUT", P::OrderItem(id, item["id"].as_string()), &when);
      if (!put.ok()) return put.status();
    }
  }
  auto confirmed = Call("POST", P::Confirm(id), nullptr);
  if (confirmed.ok()) return confirmed;
  // Confirmed by an attempt whose answer was lost: GTV says it is no longer a draft.
  auto now = Get(P::Order(id));
  if (now.ok() && (*now)["status"].as_string() == "COMPLETED") return now;
  return confirmed.status();
}

Result<Subscription> GtvBilling::FromOrder(const Json& order) {
  Subscription s;
  s.id = order["id"].as_string();
  s.account_id = order["billing_account"]["id"].as_string();
  s.metadata = ReadCustomFields(order);
  const std::string status = order["status"].as_string();
  if (status == "DRAFT" || status == "CANCELED") {
    s.status = status == "DRAFT" ? "pending" : "canceled";
    for (const auto& oi : order["order_items"].array()) {
      SubscriptionItem item;
      item.id = oi["id"].as_string();
      item.price_id = oi["product_price"]["id"].as_string();
      item.quantity = oi["quantity"].as_int();
      item.price.product_id = oi["product"]["id"].as_string();
      s.items.push_back(item);
    }
    return s;
  }
  std::vector<Json> bases;
  TANDEM_RETURN_IF_ERROR(
      ListAll(std::string(P::kServices) + "?" + Query({{"order_id", s.id}}), [&](const Json& svc) {
        if (svc["parent_service"]["id"].as_string().empty()) bases.push_back(svc);
        return Status::Ok();
      }));
  if (bases.empty()) return Status::NotFound("gotransverse order " + s.id + " has no service");
  const Json& base = bases.front();
  for (const auto& b : bases) {
    s.items.push_back(ItemFromService(b));
    TANDEM_RETURN_IF_ERROR(ListAll(
        std::string(P::kServices) + "?" + Query({{"parent_service_id", b["id"].as_string()}}),
        [&](const Json& child) {
          if (!ServiceEnded(child)) s.items.push_back(ItemFromService(child));
          return Status::Ok();
        }));
  }
  s.status = SubscriptionStatus(base["status"].as_string());
  s.start_date = ParseTime(base["start_date"].as_string());
  if (!base["service_periods"].array().empty()) {
    const Json& period = base["service_periods"].array().front();
    s.current_period_start = ParseTime(period["start_date"].as_string());
    // The period's last day is inclusive: it ends when the next one starts.
    const int64_t last = ParseTime(period["end_date"].as_string());
    s.current_period_end = last ? last + 86'400 : 0;
  }
  const int64_t end = ParseTime(base["end_date"].as_string());
  if (s.status == "canceled") {
    s.canceled_at = end ? end : ParseTime(base["status_date"].as_string());
    s.cancel_at = s.canceled_at;
  } else {
    s.cancel_at = end;
    s.cancel_at_period_end = end != 0 && end == s.current_period_end;
  }
  return s;
}

Result<Json> GtvBilling::BaseService(const std::string& subscription_id) {
  std::optional<Json> base;
  TANDEM_RETURN_IF_ERROR(ListAll(
      std::string(P::kServices) + "?" + Query({{"order_id", subscription_id}}), [&](const Json& s) {
        if (!base && s["parent_service"]["id"].as_string().empty()) base = s;
        return Status::Ok();
      }));
  if (!base) {
    auto order = Get(P::Order(subscription_id));  // NotFound for an id GTV never gave
    if (!order.ok()) return order.status();
    return Status::InvalidArgument("gotransverse order " + subscription_id + " is " +
                                   (*order)["status"].as_string() + ": it has no service yet");
  }
  return *base;
}

// Sent once: callers read, compare and write, so the task's retry after a lost answer reads
// first and sends nothing when the command took effect.
Result<Json> GtvBilling::Command(const std::string& service_id, const char* verb,
                                 const Json& body) {
  return Call("POST", P::ServiceCommand(service_id, verb), &body);
}

Status GtvBilling::ScheduleEnd(const Json& service, int64_t end_at) {
  if (ServiceEnded(service)) return Status::Ok();
  const std::string date = FormatDate(end_at);
  if (service["end_date"].as_string().substr(0, 10) == date) return Status::Ok();
  Json body = Json::MakeObject();
  body.Set("effective_date", date);
  return Command(service["id"].as_string(), "deactivate", body).status();
}

Result<Subscription> GtvBilling::CreateSubscription(const SubscriptionSpec& spec,
                                                    const std::string& key) {
  if (key.empty()) return Status::InvalidArgument("gotransverse: a subscription needs its key");
  Json body = Json::MakeObject();
  body.Set("order_type", "sales");
  body.Set("billing_account", Ref(spec.account_id));
  body.Set("purchase_order_number", key);
  if (spec.cancel_at > 0 && !spec.start_active)
    body.Set("note", std::string(kTermNote) + std::to_string(spec.cancel_at));
  Metadata order_fields = spec.metadata;
  auto custom = CustomFieldValues("order", order_fields);
  if (!custom.ok()) return custom.status();
  if (custom->size() > 0) body.Set("custom_field_values", *custom);
  Json items = Json::MakeArray();
  for (const auto& item : spec.items) {
    auto oi = OrderItem(item, "");
    if (!oi.ok()) return oi.status();
    if (spec.start_at > 0) oi->Set("requested_effective_date", FormatDate(spec.start_at));
    items.Push(*oi);
  }
  body.Set("order_items", items);
  auto order = CreateOnce(
      "order " + key, [&] { return FindOrder(spec.account_id, key); },
      [&] { return Call("POST", P::kOrders, &body); });
  if (!order.ok()) return order.status();
  if (!spec.start_active) return FromOrder(*order);
  auto confirmed = Confirmed(*order, 0);
  if (!confirmed.ok()) return confirmed.status();
  if (spec.cancel_at > 0) {
    auto base = BaseService((*confirmed)["id"].as_string());
    if (!base.ok()) return base.status();
    TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, spec.cancel_at));
  }
  return GetSubscription((*confirmed)["id"].as_string());
}

Result<Subscription> GtvBilling::GetSubscription(const std::string& id) {
  auto order = Get(P::Order(id));
  if (!order.ok()) return order.status();
  return FromOrder(*order);
}

Status GtvBilling::ListSubscriptions(
    const std::function<Status(const Subscription&)>& on_subscription) {
  // Orders that made subscriptions: those whose lines hang on no other service (add-on and
  // change orders do).
  return ListAll(std::string(P::kOrders) + "?" + Query({{"order_type", "sales"}}),
                 [&](const Json& order) {
                   for (const auto& oi : order["order_items"].array())
                     if (!oi["parent_service"]["id"].as_string().empty()) return Status::Ok();
                   auto s = FromOrder(order);
                   if (!s.ok()) return s.status().IsNotFound() ? Status::Ok() : s.status();
                   return on_subscription(*s);
                 });
}

Result<std::optional<Subscription>> GtvBilling::FindSubscription(const std::string& account_id,
                                                                 const std::string& key,
                                                                 const std::string& value) {
  std::optional<Json> hit;
  if (key == "tandem_task") {  // the operation's key is the order's purchase order number
    auto found = FindOrder(account_id, value);
    if (!found.ok()) return found.status();
    hit = *found;
  } else {
    TANDEM_RETURN_IF_ERROR(
        ListAll(std::string(P::kOrders) + "?" + Query({{"billing_account_id", account_id}}),
                [&](const Json& order) {
                  auto fields = ReadCustomFields(order);
                  if (auto it = fields.find(key); it != fields.end() && it->second == value)
                    hit = order;
                  return Status::Ok();
                }));
  }
  if (!hit) return std::optional<Subscription>();
  auto s = FromOrder(*hit);
  if (!s.ok()) return s.status();
  return std::optional<Subscription>(*s);
}

Result<Subscription> GtvBilling::StartSubscription(const std::string& id, int64_t start_at,
                                                   const std::string& key) {
  (void)key;  // a COMPLETED order is started: the retry reads that
  auto order = Get(P::Order(id));
  if (!order.ok()) return order.status();
  const std::string note = (*order)["note"].as_string();
  auto confirmed = Confirmed(*order, start_at);
  if (!confirmed.ok()) return confirmed.status();
  if (note.rfind(kTermNote, 0) == 0) {
    const int64_t end = std::atoll(note.c_str() + sizeof(kTermNote) - 1);
    auto base = BaseService(id);
    if (!base.ok()) return base.status();
    if (end > 0) TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, end));
  }
  return GetSubscription(id);
}

Result<Subscription> GtvBilling::ChangeQuantity(const std::string& subscription_id,
                                                const std::string& item_id, int64_t quantity,
                                                Proration proration, const std::string& key) {
  (void)proration;  // GTV prorates by the price's own setting (docs/gotransverse.md)
  auto item = ChangeAddOn(item_id, quantity, proration, key);
  if (!item.ok()) return item.status();
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::ChangePrice(const std::string& subscription_id,
                                             const std::string& item_id, const SubscriptionItem& to,
                                             Proration proration, const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  const SubscriptionItem now = ItemFromService(*service);
  int64_t amount = to.price.unit_amount_minor;
  std::string product = to.price.product_id;
  if (!to.sold_price) {
    auto price = GetPrice(to.price_id);
    if (!price.ok()) return price.status();
    amount = price->unit_amount_minor;
    product = price->product_id;
  }
  if (!product.empty() && product != now.price.product_id)
    return Status::InvalidArgument(
        "gotransverse changes a service's price within its product; moving service " + item_id +
        " to another product is a replace");
  if (now.price.unit_amount_minor != amount) {
    Json body = Json::MakeObject();
    body.Set("new_recurring_unit_price", FromMinor(amount, now.price.currency));
    auto changed = Command(item_id, "change-price", body);
    if (!changed.ok()) return changed.status();
  }
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::ReTerm(const std::string& subscription_id, int64_t cancel_at,
                                        const std::string& key) {
  (void)key;
  if (cancel_at <= 0)
    return Status::InvalidArgument(
        "gotransverse cannot make a service open-ended again except by renewing it");
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, cancel_at));
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::Cancel(const std::string& subscription_id, bool at_period_end,
                                        const std::string& key) {
  (void)key;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  if (!ServiceEnded(*base)) {
    Json body = Json::MakeObject();
    // The period's end_date is its last day, billed in full: the service ends the day after.
    if (at_period_end && !(*base)["service_periods"].array().empty())
      body.Set(
          "effective_date",
          FormatDate(ParseTime((*base)["service_periods"].array().front()["end_date"].as_string()) +
                     86'400));
    auto done = Command((*base)["id"].as_string(), "deactivate", body);
    if (!done.ok()) {
      auto again = Get(P::Service((*base)["id"].as_string()));  // done by a lost attempt?
      if (!again.ok() || !ServiceEnded(*again)) return done.status();
    }
  }
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::Replace(const std::string& old_subscription_id,
                                         const SubscriptionSpec& spec, const std::string& key) {
  auto base = BaseService(old_subscription_id);
  if (!base.ok()) return base.status();
  Json order = Json::MakeObject();
  order.Set("purchase_order_number", key);
  auto custom = CustomFieldValues("order", spec.metadata);
  if (!custom.ok()) return custom.status();
  if (custom->size() > 0) order.Set("custom_field_values", *custom);
  Json items = Json::MakeArray();
  for (const auto& item : spec.items) {
    auto oi = OrderItem(item, "");
    if (!oi.ok()) return oi.status();
    items.Push(*oi);
  }
  order.Set("order_items", items);
  Json body = Json::MakeObject();
  body.Set("service", Ref((*base)["id"].as_string()));
  body.Set("order", order);
  const std::string account = (*base)["billing_account"]["id"].as_string();
  auto made = CreateOnce(
      "replacement " + key, [&] { return FindOrder(account, key); },
      [&]() -> Result<Json> {
        if (ServiceEnded(*base))
          return Status::InvalidArgument("gotransverse service " + (*base)["id"].as_string() +
                                         " has ended: there is nothing to replace");
        return Call("POST", P::ChangeService(account), &body);
      });
  if (!made.ok()) return made.status();
  const std::string id = (*made)["id"].as_string();
  if (spec.cancel_at > 0) {
    auto new_base = BaseService(id);
    if (!new_base.ok()) return new_base.status();
    TANDEM_RETURN_IF_ERROR(ScheduleEnd(*new_base, spec.cancel_at));
  }
  return GetSubscription(id);
}

Result<Subscription> GtvBilling::Renew(const std::string& subscription_id, int64_t new_cancel_at,
                                       const std::string& key) {
  (void)key;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  if ((*base)["end_date"].as_string().substr(0, 10) != FormatDate(new_cancel_at)) {
    Json body = Json::MakeObject();
    body.Set("preserve_pricing", true);
    body.Set("end_date", FormatDate(new_cancel_at));
    auto renewed = Command((*base)["id"].as_string(), "renew", body);
    if (!renewed.ok()) return renewed.status();
  }
  return GetSubscription(subscription_id);
}

// ---------------------------------------------------------------- add-ons and charges

Result<SubscriptionItem> GtvBilling::AddAddOn(const std::string& subscription_id,
                                              const SubscriptionItem& item, Proration proration,
                                              const std::string& key) {
  (void)proration;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  auto oi = OrderItem(item, (*base)["currency_code"].as_string());
  if (!oi.ok()) return oi.status();
  oi->Set("parent_service", Ref((*base)["id"].as_string()));
  Json body = Json::MakeObject();
  const std::string account = (*base)["billing_account"]["id"].as_string();
  body.Set("order_type", "sales");
  body.Set("billing_account", Ref(account));
  body.Set("purchase_order_number", key);
  Json items = Json::MakeArray();
  items.Push(*oi);
  body.Set("order_items", items);
  auto order = CreateOnce(
      "add-on " + key, [&] { return FindOrder(account, key); },
      [&] { return Call("POST", P::kOrders, &body); });
  if (!order.ok()) return order.status();
  auto confirmed = Confirmed(*order, 0);
  if (!confirmed.ok()) return confirmed.status();
  const std::string service =
      (*confirmed)["order_items"].array().empty()
          ? ""
          : (*confirmed)["order_items"].array().front()["service"]["id"].as_string();
  auto svc = Get(P::Service(service));
  if (!svc.ok()) return svc.status();
  return ItemFromService(*svc);
}

Result<SubscriptionItem> GtvBilling::ChangeAddOn(const std::string& item_id, int64_t quantity,
                                                 Proration proration, const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  if ((*service)["quantity"].as_int() != quantity) {
    Json body = Json::MakeObject();
    body.Set("new_quantity", quantity);
    auto changed = Command(item_id, "change-quantity", body);
    if (!changed.ok()) return changed.status();
    return ItemFromService(*changed);
  }
  return ItemFromService(*service);
}

Status GtvBilling::RemoveAddOn(const std::string& item_id, Proration proration,
                               const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  if (ServiceEnded(*service)) return Status::Ok();  // removed already (a retry)
  return Command(item_id, "deactivate", Json::MakeObject()).status();
}

Result<std::string> GtvBilling::AddOneTimeCharge(const OneTimeCharge& charge,
                                                 const std::string& key) {
  // The key ends the description: what a retry finds the adjustment by.
  const std::string description = charge.description + " [" + key + "]";
  Json body = Json::MakeObject();
  body.Set("billing_account", Ref(charge.account_id));
  body.Set("amount", FromMinor(charge.amount_minor, charge.currency));
  body.Set("credit", false);
  body.Set("description", description);
  body.Set("occurred_on", FormatDate(ToEpochMillis(clock_.Now()) / 1000));
  auto made = CreateOnce(
      "one-time charge " + key,
      [&] {
        return FindOne(
            std::string(P::kAdjustments) + "?" +
                Query({{"billing_account_id", charge.account_id}, {"description", description}}),
            "adjustments for " + key);
      },
      [&] { return Call("POST", P::kAdjustments, &body); });
  if (!made.ok()) return made.status();
  return (*made)["id"].as_string();
}

Status GtvBilling::RecordUsage(const UsageRecord& usage, const std::string& key) {
  Json event = Json::MakeObject();
  event.Set("start_time", FormatDate(usage.timestamp));
  event.Set("service_resource_identifier", usage.subscription_item_id);
  event.Set("usage_uom", "COUNT");
  event.Set("usage_amount", usage.quantity);
  event.Set("reference_id", usage.subscription_item_id);
  event.Set("sequence_id", StableHash(key));  // derived from the key: a resend is a duplicate
  Json body = Json::MakeObject();
  body.Set("mode", usage.set ? "OVERWRITE_ON_EXISTING" : "FAIL_ON_EXISTING");
  Json events = Json::MakeArray();
  events.Push(event);
  body.Set("usage_events", events);
  auto answer = Call("POST", P::kUsageBulk, &body);
  if (!answer.ok()) return answer.status();
  for (const auto& erred : (*answer)["erred_events"].array()) {
    const std::string message = erred["message"].as_string();
    if (message.find("already exists") != std::string::npos) continue;  // sent before: done
    return Status::InvalidArgument("gotransverse usage: " + message);
  }
  return Status::Ok();
}

}  // namespace tandem::connector::billing::gtv
