// Orders: a DRAFT order of items (product, price, quantity, sold unit price, start date,
// parent service for an add-on), confirmed into services (a one-time product into a pending
// charge for the next bill run) or voided; change-service replaces a service through a new,
// completed order.
#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

// The product's first active price in `currency` (GTV's default when an item names none).
const value* DefaultPrice(Impl& s, const std::string& product_id, const std::string& currency) {
  for (const value* p : s.All("product-price"))
    if (RefId(*p, "product") == product_id && Str(*p, "status") == "ACTIVE" &&
        Str(*p, "currency_code") == currency)
      return p;
  return nullptr;
}

// One order item of a request, checked against the catalog and the account.
value Item(Impl& s, const value& spec, const value& account, size_t i) {
  const std::string where = "order_items[" + std::to_string(i) + "]";
  if (!spec.is_object()) Invalid(where + " must be an object");
  const std::string account_id = Str(account, "id");
  const std::string currency = Str(account, "currency_code");
  const std::string product_id = RefId(spec, "product");
  const value* product = s.Find("product", product_id);
  if (!product) Invalid(where + ".product: no product with id '" + product_id + "'");
  if (Str(*product, "status") != "ACTIVE")
    Invalid(where + ".product: product " + product_id + " is " + Str(*product, "status") +
            "; only an ACTIVE product can be ordered");
  const std::string type = Str(*product, "product_type");
  const value* price = nullptr;
  if (Field(spec, "product_price")) {
    const std::string price_id = RefId(spec, "product_price");
    price = s.Find("product-price", price_id);
    if (!price || RefId(*price, "product") != product_id)
      Invalid(where + ".product_price: price '" + price_id + "' is not a price of product " +
              product_id);
    if (Str(*price, "status") != "ACTIVE")
      Invalid(where + ".product_price: price " + price_id + " is not ACTIVE");
    if (Str(*price, "currency_code") != currency)
      Invalid(where + ".product_price: the price's currency is not the account's (" + currency +
              ")");
  } else {
    price = DefaultPrice(s, product_id, currency);
    if (!price)
      Invalid(where + ".product_price: product " + product_id + " has no active " + currency +
              " price");
  }
  if (type != "one-time" && Str(*price, "price_type") != "recurring")
    Invalid(where + ".product_price: a " + type + " product needs a recurring price");
  const int64_t quantity = WholeNumber(spec, "quantity", where + ".quantity");
  if (quantity < 1) Invalid(where + ".quantity must be at least 1");
  int64_t unit = MinorOf(price->at("amount"));
  if (const value* sold = Field(spec, "unit_price")) {
    auto minor = ParseAmount(*sold, currency, where + ".unit_price");
    if (!minor.ok()) Invalid(minor.status().message());
    if (*minor < 0) Invalid(where + ".unit_price must not be negative");
    unit = *minor;
  }
  value item = value::object();
  item["id"] = value::string(s.NewId("order-item"));
  item["sequence"] = value::number(static_cast<int64_t>(i + 1));
  value pref = Ref(product_id);
  pref["name"] = product->at("name");
  pref["product_type"] = product->at("product_type");
  item["product"] = pref;
  item["product_price"] = Ref(Str(*price, "id"));
  item["quantity"] = value::number(quantity);
  item["unit_price"] = Money(unit, currency);
  item["requested_effective_date"] = value::null();
  if (Field(spec, "requested_effective_date")) {
    const std::string date = Str(spec, "requested_effective_date");
    s.When(date, where + ".requested_effective_date");
    item["requested_effective_date"] = value::string(date);
  }
  item["parent_service"] = value::null();
  if (Field(spec, "parent_service")) {
    const std::string parent_id = RefId(spec, "parent_service");
    const value* parent = s.Find("service", parent_id);
    if (!parent || RefId(*parent, "billing_account") != account_id ||
        Str(*parent, "status") != "SERVICE_ACTIVE")
      Invalid(where + ".parent_service: '" + parent_id +
              "' is not an active service of billing account " + account_id);
    item["parent_service"] = Ref(parent_id);
  } else if (type == "add-on") {
    Invalid(where + ".parent_service: an add-on product needs the active service it adds to");
  }
  item["service_resources"] = value::array();
  if (const value* resources = Field(spec, "service_resources")) {
    if (!resources->is_array()) Invalid(where + ".service_resources must be an array");
    std::vector<value> out;
    for (const auto& r : resources->as_array()) {
      if (Str(r, "identifier").empty())
        Invalid(where + ".service_resources[].identifier is required");
      value res = value::object();
      res["identifier"] = value::string(Str(r, "identifier"));
      out.push_back(res);
    }
    item["service_resources"] = Arr(out);
  }
  item["custom_field_values"] = value::array();
  if (const value* cfv = Field(spec, "custom_field_values"))
    item["custom_field_values"] = s.CustomValues(*cfv, "order", value::array());
  item["service"] = value::null();
  return item;
}

// The service custom fields named like the order item's: what an order item says about its
// service (crm_order_item, tandem_task, ...) is kept on the service it becomes.
value ServiceFields(Impl& s, const value& item_values) {
  value out = value::array();
  size_t n = 0;
  for (const auto& cv : item_values.as_array()) {
    const std::string name = Str(cv.at("custom_field"), "name");
    for (const value* f : s.All("custom-field")) {
      if (Str(*f, "custom_field_value_type") != "service" || Str(*f, "name") != name) continue;
      value copy = value::object();
      copy["id"] = value::string(s.NewId("custom-field-value"));
      value ref = Ref(Str(*f, "id"));
      ref["name"] = value::string(name);
      copy["custom_field"] = ref;
      copy["value"] = cv.at("value");
      out[n++] = copy;
    }
  }
  return out;
}

}  // namespace

value Impl::NewOrder(const value& body, const std::string& account_id) {
  const value* account = Find("billing-account", account_id);
  if (!account) Invalid("billing_account: no billing account with id '" + account_id + "'");
  if (Str(*account, "status") != "ACTIVE")
    Invalid("billing_account: account " + account_id + " is " + Str(*account, "status") +
            "; orders need an ACTIVE account");
  const std::string type = Field(body, "order_type") ? Str(body, "order_type") : "sales";
  if (type != "sales") Invalid("order_type must be sales");
  const value* items = Field(body, "order_items");
  if (!items || !items->is_array() || items->size() == 0)
    Invalid("order_items must hold at least one item");
  value order = value::object();
  order["order_type"] = value::string(type);
  order["status"] = value::string("DRAFT");
  order["billing_account"] = Ref(account_id);
  order["purchase_order_number"] = Field(body, "purchase_order_number")
                                       ? value::string(Str(body, "purchase_order_number"))
                                       : value::null();
  order["note"] = Field(body, "note") ? value::string(Str(body, "note")) : value::null();
  order["custom_field_values"] = value::array();
  if (const value* cfv = Field(body, "custom_field_values"))
    order["custom_field_values"] = CustomValues(*cfv, "order", value::array());
  std::vector<value> out;
  for (size_t i = 0; i < items->size(); ++i) out.push_back(Item(*this, items->at(i), *account, i));
  order["order_items"] = Arr(out);
  order["id"] = value::string(NewId("order"));
  order["occurred_on"] = value::string(NowStamp());
  order["created_on"] = value::string(NowStamp());
  order["updated_on"] = value::string(NowStamp());
  return order;
}

void Impl::Confirm(value& order) {
  const std::string account_id = RefId(order, "billing_account");
  const value& account = Get("billing-account", account_id);
  if (Str(account, "status") != "ACTIVE")
    Invalid("billing_account: account " + account_id + " is not ACTIVE");
  const std::string currency = Str(account, "currency_code");
  const int64_t now = NowMs();
  value& items = order["order_items"];
  for (size_t i = 0; i < items.size(); ++i) {
    value& item = items[i];
    const value& product = Get("product", RefId(item, "product"));
    if (Str(product, "status") != "ACTIVE")
      Invalid("order_items[" + std::to_string(i) + "].product is no longer ACTIVE");
    const std::string parent = RefId(item, "parent_service");
    if (!parent.empty() && Str(Get("service", parent), "status") != "SERVICE_ACTIVE")
      Invalid("order_items[" + std::to_string(i) + "].parent_service is no longer active");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    value& item = items[i];
    const value& product = Get("product", RefId(item, "product"));
    const value& price = Get("product-price", RefId(item, "product_price"));
    const int64_t quantity = item.at("quantity").as_number().to_int64();
    const int64_t unit = MinorOf(item.at("unit_price"));
    if (Str(product, "product_type") == "one-time") {
      value charge = value::object();
      charge["id"] = value::string(NewId("one-time-charge"));
      charge["billing_account"] = Ref(account_id);
      value pref = Ref(Str(product, "id"));
      pref["name"] = product.at("name");
      charge["product"] = pref;
      charge["order"] = Ref(Str(order, "id"));
      charge["quantity"] = value::number(quantity);
      charge["unit_amount"] = Money(unit, currency);
      charge["total_amount"] = Money(unit * quantity, currency);
      charge["invoiced"] = value::boolean(false);
      Store("one-time-charge", charge);
      continue;
    }
    const std::string when = Str(item, "requested_effective_date");
    const int64_t start_ms = when.empty() ? now : When(when, "requested_effective_date");
    const std::string start = DateOf(start_ms, offset_min);
    const std::string period = Str(price, "recurrence_period");
    value service = value::object();
    const std::string id = NewId("service");
    service["id"] = value::string(id);
    service["status"] = value::string(start_ms > now ? "SERVICE_SCHEDULED" : "SERVICE_ACTIVE");
    service["status_date"] = value::string(NowStamp());
    service["quantity"] = value::number(quantity);
    service["amount"] = Money(unit, currency);
    service["currency_code"] = value::string(currency);
    service["recurrence_period"] = value::string(period);
    service["start_date"] = value::string(start);
    service["end_date"] = value::null();
    service["product"] = item.at("product");
    service["product_price"] = Ref(Str(price, "id"));
    service["billing_account"] = Ref(account_id);
    service["parent_service"] = item.at("parent_service");
    service["order"] = Ref(Str(order, "id"));
    value period_obj = value::object();
    period_obj["start_date"] = value::string(start);
    period_obj["end_date"] = value::string(AddDays(AddMonths(start, PeriodMonths(period)), -1));
    service["service_periods"] = Arr({period_obj});
    service["renewal_count"] = value::number(0);
    value resources = item.at("service_resources");
    if (resources.size() == 0) {
      value r = value::object();
      r["identifier"] = value::string(id);  // GTV's default resource: the service itself
      resources = Arr({r});
    }
    service["service_resources"] = resources;
    service["custom_field_values"] = ServiceFields(*this, item.at("custom_field_values"));
    service["created_on"] = value::string(NowStamp());
    service["updated_on"] = value::string(NowStamp());
    service["__start_ms"] = value::number(start_ms);
    Store("service", service);
    item["service"] = Ref(id);
    Notify("service.status_changed", id, account_id);
  }
  order["status"] = value::string("COMPLETED");
  order["updated_on"] = value::string(NowStamp());
  RefreshTotals(account_id);
}

Reply Handler::Orders() {
  if (seg_.size() == 1 && method_ == "POST") {
    value order = s_.NewOrder(body_, RefId(body_, "billing_account"));
    return Ok(s_.Store("order", order));
  }
  if (seg_.size() == 1 && method_ == "GET") return List("order");
  if (seg_.size() < 2) return NoRoute();
  value& order = s_.Get("order", seg_[1]);
  if (seg_.size() == 2 && method_ == "GET") return Ok(order);
  const std::string status = Str(order, "status");
  if (seg_.size() == 2 && method_ == "DELETE") {
    if (status != "DRAFT")
      Invalid("order " + seg_[1] + " is " + status + "; only a DRAFT order can be voided");
    order["status"] = value::string("CANCELED");
    order["updated_on"] = value::string(s_.NowStamp());
    return Ok(order);
  }
  // A DRAFT order's item may still be edited (1.x: PUT salesOrders): its start date.
  if (seg_.size() == 4 && method_ == "PUT" && seg_[2] == "order-items") {
    if (status != "DRAFT")
      Invalid("order " + seg_[1] + " is " + status + "; only a DRAFT order's items can change");
    value& items = order["order_items"];
    for (size_t i = 0; i < items.size(); ++i) {
      if (Str(items[i], "id") != seg_[3]) continue;
      if (Field(body_, "requested_effective_date")) {
        const std::string date = Str(body_, "requested_effective_date");
        s_.When(date, "requested_effective_date");
        items[i]["requested_effective_date"] = value::string(date);
      }
      order["updated_on"] = value::string(s_.NowStamp());
      return Ok(order);
    }
    Invalid("order " + seg_[1] + " has no order item " + seg_[3]);
  }
  if (seg_.size() == 3 && method_ == "POST" && seg_[2] == "confirm") {
    if (status != "DRAFT")
      Invalid("order " + seg_[1] + " is " + status + "; only a DRAFT order can be confirmed");
    value confirmed = order;  // confirmed on a copy: a refused confirm changes nothing
    s_.Confirm(confirmed);
    order = confirmed;
    return Ok(order);
  }
  return NoRoute();
}

Reply Handler::ChangeService(const std::string& account_id) {
  const std::string old_id = RefId(body_, "service");
  value* old = s_.Find("service", old_id);
  if (!old || RefId(*old, "billing_account") != account_id)
    Invalid("service: '" + old_id + "' is not a service of billing account " + account_id);
  if (s_.Final(*old))
    Invalid("service: " + old_id + " is " + Str(*old, "status") + "; it cannot be changed");
  const value* spec = Field(body_, "order");
  if (!spec) Invalid("order is required");
  value order_body = *spec;
  if (Field(body_, "effective_date")) {
    const std::string when = Str(body_, "effective_date");
    s_.When(when, "effective_date");
    // The new services start when the change takes effect, unless an item says otherwise.
    value& items = order_body["order_items"];
    if (items.is_array())
      for (size_t i = 0; i < items.size(); ++i)
        if (!Field(items[i], "requested_effective_date"))
          items[i]["requested_effective_date"] = value::string(when);
  }
  value order = s_.NewOrder(order_body, account_id);
  s_.Confirm(order);
  s_.End(*old, "SERVICE_REPLACED");
  return Ok(s_.Store("order", order));
}

}  // namespace tandem::sandbox::gtv
