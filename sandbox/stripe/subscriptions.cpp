// Subscriptions (create, update, cancel, list), their items, and usage records on an item.
#include <optional>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

// The fields a new subscription carries empty.
constexpr const char* kEmptyOnCreate[] = {"application",
                                          "application_fee_percent",
                                          "billing_thresholds",
                                          "canceled_at",
                                          "days_until_due",
                                          "default_payment_method",
                                          "default_source",
                                          "description",
                                          "discount",
                                          "ended_at",
                                          "latest_invoice",
                                          "next_pending_invoice_item_invoice",
                                          "on_behalf_of",
                                          "pause_collection",
                                          "pending_invoice_item_interval",
                                          "pending_setup_intent",
                                          "pending_update",
                                          "schedule",
                                          "test_clock",
                                          "transfer_data",
                                          "trial_end",
                                          "trial_start"};

}  // namespace

value StripeSandbox::Impl::ItemPrice(const value& spec, const std::string& where) {
  if (Has(spec, "price") && Has(spec, "price_data"))
    ThrowInvalid(where + "[price_data]",
                 "You may only specify one of these parameters: price, "
                 "price_data.");
  if (Has(spec, "price_data")) {
    const value& data = spec.at("price_data");
    if (!data.is_object()) ThrowInvalid(where + "[price_data]", "Invalid object");
    if (!Has(data, "recurring")) ThrowMissingParam(where + "[price_data][recurring]");
    value params = value::object();
    for (const char* k : {"product", "currency", "unit_amount", "recurring"})
      if (Has(data, k)) params[k] = data.at(k);
    params["active"] = value::string("false");  // the item's own: not offered to others
    value price = NewPrice(params);
    Emit("price.created", Store("price", price));
    return price;
  }
  const std::string price_id = Str(spec, "price");
  if (price_id.empty()) ThrowMissingParam(where + "[price]");
  value* price = Find("price", price_id);
  if (!price) throw BadRequest{Missing("price", price_id)};
  if (!price->at("recurring").is_object())
    ThrowInvalid("price",
                 "The price specified is set to `type=one_time` but this field only accepts "
                 "prices with `type=recurring`.");
  return *price;
}

value StripeSandbox::Impl::NewItem(const std::string& sub_id, const value& spec) {
  const value price = ItemPrice(spec, "items[0]");
  value item = value::object();
  item["id"] = value::string(NewId("si"));
  item["object"] = value::string("subscription_item");
  item["billing_thresholds"] = value::null();
  item["created"] = value::number(Now());
  item["metadata"] = Metadata(spec);
  item["price"] = price;
  const int64_t quantity = Int(spec, "quantity", 1);
  if (quantity < 0)
    throw BadRequest{StripeError(400, "invalid_request_error", "parameter_invalid_integer",
                                 "This value must be greater than or equal to 0.", "quantity")};
  item["quantity"] = value::number(quantity);
  item["subscription"] = value::string(sub_id);
  item["tax_rates"] = value::array();
  kind_of[item.at("id").as_string()] = "subscription_item";
  return item;
}

void StripeSandbox::Impl::RefreshItems(value& sub) {
  value& items = sub["items"];
  items["total_count"] = value::number(static_cast<int64_t>(items.at("data").size()));
}

value* StripeSandbox::Impl::FindItem(const std::string& item_id, value** sub_out) {
  for (auto& [id, sub] : objects["subscription"]) {
    auto& data = sub["items"]["data"];
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i].at("id").as_string() == item_id) {
        *sub_out = &sub;
        return &data[i];
      }
    }
  }
  return nullptr;
}

Reply Handler::Subscriptions() {
  if (seg_.size() == 2 && method_ == "POST") return CreateSubscription();
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer"), status = Str(p_, "status");
    return s_.ListOf("subscription", p_, "/v1/subscriptions", [&](const value& o) {
      const std::string st = o.at("status").as_string();
      return (customer.empty() || o.at("customer").as_string() == customer) &&
             (status == "all"  ? true
              : status.empty() ? st != "canceled"
                               : st == status);
    });
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  value* sub = s_.Find("subscription", seg_[2]);
  if (!sub) return Missing("subscription", seg_[2]);
  if (method_ == "GET") return Ok(s_.Expand(*sub, p_, false));
  if (method_ == "POST") return SubscriptionUpdate(*sub);
  if (method_ == "DELETE") return CancelSubscription(sub);
  return Missing("resource", url_);
}

Reply Handler::CreateSubscription() {
  CheckKnown(p_, {"customer", "items", "cancel_at", "backdate_start_date", "trial_end",
                  "proration_behavior", "metadata", "expand", "description", "collection_method",
                  "payment_behavior", "cancel_at_period_end"});
  const std::string customer = Str(p_, "customer");
  if (customer.empty()) ThrowMissingParam("customer");
  if (!s_.Find("customer", customer)) throw BadRequest{Missing("customer", customer)};
  if (!Has(p_, "items") || !p_.at("items").is_array() || p_.at("items").size() == 0)
    ThrowMissingParam("items");
  const std::string id = s_.NewId("sub");
  const int64_t now = s_.Now();
  const int64_t start = Has(p_, "backdate_start_date") ? Int(p_, "backdate_start_date") : now;
  value items = value::array();
  size_t n = 0;
  for (const auto& spec : p_.at("items").as_array()) items[n++] = s_.NewItem(id, spec);
  value sub = NewSubscription(id, customer, items, start, now);
  const bool trialing =
      Has(p_, "trial_end") && Str(p_, "trial_end") != "now" && Int(p_, "trial_end") > now;
  if (trialing) {
    sub["trial_start"] = value::number(now);
    sub["trial_end"] = value::number(Int(p_, "trial_end"));
  }
  sub["status"] = value::string(trialing ? "trialing" : "active");
  s_.RefreshItems(sub);
  value& stored = s_.Store("subscription", sub);
  s_.Emit("customer.subscription.created", stored);
  if (!trialing) s_.Invoice(customer, &stored, true, "subscription_create");
  return Ok(s_.Expand(stored, p_, false));
}

// The new subscription's fields from the request (all but its status and trial).
value Handler::NewSubscription(const std::string& id, const std::string& customer,
                               const value& items, int64_t start, int64_t now) {
  value sub = value::object();
  const value& first_price = items.at(0).at("price");
  sub["id"] = value::string(id);
  sub["object"] = value::string("subscription");
  for (const char* k : kEmptyOnCreate) sub[k] = value::null();
  value tax = value::object();
  tax["enabled"] = value::boolean(false);
  sub["automatic_tax"] = tax;
  sub["billing_cycle_anchor"] = value::number(start);
  sub["cancel_at"] = Has(p_, "cancel_at") && !Str(p_, "cancel_at").empty()
                         ? value::number(Int(p_, "cancel_at"))
                         : value::null();
  sub["cancel_at_period_end"] = value::boolean(Bool(p_, "cancel_at_period_end"));
  value details = value::object();
  details["comment"] = value::null();
  details["feedback"] = value::null();
  details["reason"] = value::null();
  sub["cancellation_details"] = details;
  sub["collection_method"] = value::string("charge_automatically");
  sub["created"] = value::number(now);
  sub["currency"] = first_price.at("currency");
  sub["current_period_start"] = value::number(start);
  sub["current_period_end"] = value::number(start + s_.PeriodSeconds(first_price));
  sub["customer"] = value::string(customer);
  sub["default_tax_rates"] = value::array();
  sub["items"] = List({}, "/v1/subscription_items?subscription=" + id, false);
  sub["items"]["data"] = items;
  sub["livemode"] = value::boolean(false);
  sub["metadata"] = Metadata(p_);
  value ps = value::object();
  ps["payment_method_options"] = value::null();
  ps["payment_method_types"] = value::null();
  ps["save_default_payment_method"] = value::string("off");
  sub["payment_settings"] = ps;
  sub["start_date"] = value::number(start);
  return sub;
}

Reply Handler::SubscriptionUpdate(value& sub) {
  CheckKnown(p_, {"items", "cancel_at", "cancel_at_period_end", "trial_end", "proration_behavior",
                  "metadata", "expand", "description"});
  if (sub.at("status").as_string() == "canceled")
    return StripeError(
        400, "invalid_request_error", "resource_missing",
        "A canceled subscription can only update its cancellation_details and metadata.");
  // As Stripe: a trial cannot end in the past (checked before anything changes).
  if (Has(p_, "trial_end") && Str(p_, "trial_end") != "now" && Int(p_, "trial_end") <= s_.Now())
    ThrowInvalid("trial_end",
                 "Invalid timestamp: must be an integer Unix timestamp in the future.");
  value prev = value::object();
  if (Has(p_, "items")) {
    prev["items"] = sub.at("items");
    if (auto missing = ApplyItemChanges(sub)) return *missing;
    s_.RefreshItems(sub);
    s_.Prorate(sub, prev.at("items"), Str(p_, "proration_behavior"));
  }
  if (Has(p_, "cancel_at")) {
    prev["cancel_at"] = sub.at("cancel_at");
    sub["cancel_at"] =
        Str(p_, "cancel_at").empty() ? value::null() : value::number(Int(p_, "cancel_at"));
  }
  if (Has(p_, "cancel_at_period_end")) {
    prev["cancel_at_period_end"] = sub.at("cancel_at_period_end");
    sub["cancel_at_period_end"] = value::boolean(Bool(p_, "cancel_at_period_end"));
  }
  if (Has(p_, "metadata")) {
    prev["metadata"] = sub.at("metadata");
    sub["metadata"] = Metadata(p_, sub.at("metadata"));
  }
  bool started = false;
  if (Has(p_, "trial_end")) {
    prev["trial_end"] = sub.at("trial_end");
    prev["status"] = sub.at("status");
    if (Str(p_, "trial_end") == "now") {
      sub["trial_end"] = value::number(s_.Now());
      started = sub.at("status").as_string() == "trialing";
      sub["status"] = value::string("active");
      sub["current_period_start"] = value::number(s_.Now());
      const value& first_price = sub.at("items").at("data").as_array().at(0).at("price");
      sub["current_period_end"] = value::number(s_.Now() + s_.PeriodSeconds(first_price));
    } else {
      // The trial is the current period.
      sub["trial_end"] = value::number(Int(p_, "trial_end"));
      if (sub.at("status").as_string() == "trialing")
        sub["current_period_end"] = value::number(Int(p_, "trial_end"));
    }
  }
  s_.Emit("customer.subscription.updated", sub, prev);
  if (started) s_.Invoice(sub.at("customer").as_string(), &sub, true, "subscription_update");
  return Ok(s_.Expand(sub, p_, false));
}

// Applies the items[] of an update: adds, changes and deletes items. Missing for an item id the
// subscription does not have (the changes before it stay made).
std::optional<Reply> Handler::ApplyItemChanges(value& sub) {
  for (const auto& spec : p_.at("items").as_array()) {
    const std::string item_id = Str(spec, "id");
    auto& data = sub["items"]["data"];
    if (item_id.empty()) {
      data[data.size()] = s_.NewItem(sub.at("id").as_string(), spec);
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i].at("id").as_string() != item_id) continue;
      found = true;
      if (Bool(spec, "deleted")) {
        value rest = value::array();
        size_t k = 0;
        for (size_t j = 0; j < data.size(); ++j)
          if (j != i) rest[k++] = data[j];
        data = rest;
        break;
      }
      if (Has(spec, "quantity")) data[i]["quantity"] = value::number(Int(spec, "quantity"));
      if (Has(spec, "price") || Has(spec, "price_data"))
        data[i]["price"] = s_.ItemPrice(spec, "items[" + std::to_string(i) + "]");
      if (Has(spec, "metadata")) data[i]["metadata"] = Metadata(spec, data[i].at("metadata"));
      break;
    }
    if (!found) return Missing("subscription_item", item_id);
  }
  return std::nullopt;
}

Reply Handler::CancelSubscription(value* sub) {
  if ((*sub)["status"].as_string() != "canceled") {
    value prev = value::object();
    prev["status"] = sub->at("status");
    (*sub)["status"] = value::string("canceled");
    (*sub)["canceled_at"] = value::number(s_.Now());
    (*sub)["ended_at"] = value::number(s_.Now());
    s_.Emit("customer.subscription.deleted", *sub, prev);
  }
  return Ok(*sub);
}

Reply Handler::SubscriptionItems() {
  if (seg_.size() == 2 && method_ == "POST") return AddSubscriptionItem();
  if (seg_.size() == 2 && method_ == "GET") return ListSubscriptionItems();
  if (seg_.size() < 3) return Missing("resource", url_);
  value* sub = nullptr;
  value* item = s_.FindItem(seg_[2], &sub);
  if (!item) return Missing("subscription_item", seg_[2]);
  if (seg_.size() == 4 && seg_[3] == "usage_records" && method_ == "POST") return RecordUsage();
  if (seg_.size() != 3) return Missing("resource", url_);
  if (method_ == "GET") return Ok(*item);
  if (method_ == "POST") return UpdateSubscriptionItem(sub, item);
  if (method_ == "DELETE") return DeleteSubscriptionItem(sub);
  return Missing("resource", url_);
}

Reply Handler::AddSubscriptionItem() {
  CheckKnown(p_, {"subscription", "price", "price_data", "quantity", "metadata",
                  "proration_behavior", "expand"});
  const std::string sub_id = Str(p_, "subscription");
  if (sub_id.empty()) ThrowMissingParam("subscription");
  value* sub = s_.Find("subscription", sub_id);
  if (!sub) return Missing("subscription", sub_id);
  for (const auto& existing : sub->at("items").at("data").as_array())
    if (existing.at("price").at("id").as_string() == Str(p_, "price"))
      return StripeError(
          400, "invalid_request_error", "",
          "Cannot add multiple subscription items with the same plan: " + Str(p_, "price"),
          "price");
  value item = s_.NewItem(sub_id, p_);
  value prev = value::object();
  prev["items"] = sub->at("items");
  auto& data = (*sub)["items"]["data"];
  data[data.size()] = item;
  s_.RefreshItems(*sub);
  s_.Prorate(*sub, prev.at("items"), Str(p_, "proration_behavior"));
  s_.Emit("customer.subscription.updated", *sub, prev);
  return Ok(item);
}

Reply Handler::ListSubscriptionItems() {
  const std::string sub_id = Str(p_, "subscription");
  if (sub_id.empty()) ThrowMissingParam("subscription");
  value* sub = s_.Find("subscription", sub_id);
  if (!sub) return Missing("subscription", sub_id);
  std::vector<value> data;
  for (const auto& i : sub->at("items").at("data").as_array()) data.push_back(i);
  return Ok(List(data, "/v1/subscription_items", false));
}

Reply Handler::RecordUsage() {
  CheckKnown(p_, {"quantity", "timestamp", "action"});
  if (!Has(p_, "quantity")) ThrowMissingParam("quantity");
  const std::string action = Has(p_, "action") ? Str(p_, "action") : "increment";
  if (action != "increment" && action != "set") ThrowInvalid("action", "Invalid action: " + action);
  value u = value::object();
  u["id"] = value::string(s_.NewId("mbur"));
  u["object"] = value::string("usage_record");
  u["livemode"] = value::boolean(false);
  u["quantity"] = value::number(Int(p_, "quantity"));
  u["subscription_item"] = value::string(seg_[2]);
  u["timestamp"] = value::number(Has(p_, "timestamp") ? Int(p_, "timestamp") : s_.Now());
  s_.Store("usage_record", u);
  return Ok(u);
}

Reply Handler::UpdateSubscriptionItem(value* sub, value* item) {
  CheckKnown(p_, {"quantity", "price", "metadata", "proration_behavior", "expand"});
  value prev = value::object();
  prev["items"] = sub->at("items");
  if (Has(p_, "quantity")) (*item)["quantity"] = value::number(Int(p_, "quantity"));
  if (Has(p_, "price")) {
    value* price = s_.Find("price", Str(p_, "price"));
    if (!price) return Missing("price", Str(p_, "price"));
    (*item)["price"] = *price;
  }
  if (Has(p_, "metadata")) (*item)["metadata"] = Metadata(p_, item->at("metadata"));
  value copy = *item;
  s_.Prorate(*sub, prev.at("items"), Str(p_, "proration_behavior"));
  s_.Emit("customer.subscription.updated", *sub, prev);
  return Ok(copy);
}

Reply Handler::DeleteSubscriptionItem(value* sub) {
  if (sub->at("items").at("data").size() <= 1)
    return StripeError(400, "invalid_request_error", "",
                       "A subscription must have at least one active plan. To cancel a "
                       "subscription, please use the cancel API endpoint on /v1/subscriptions.");
  value prev = value::object();
  prev["items"] = sub->at("items");
  auto& data = (*sub)["items"]["data"];
  value rest = value::array();
  size_t k = 0;
  for (size_t j = 0; j < data.size(); ++j)
    if (data[j].at("id").as_string() != seg_[2]) rest[k++] = data[j];
  data = rest;
  s_.RefreshItems(*sub);
  s_.Prorate(*sub, prev.at("items"), Str(p_, "proration_behavior"));
  s_.Emit("customer.subscription.updated", *sub, prev);
  value gone = value::object();
  gone["id"] = value::string(seg_[2]);
  gone["object"] = value::string("subscription_item");
  gone["deleted"] = value::boolean(true);
  return Ok(gone);
}

}  // namespace tandem::sandbox::stripe
