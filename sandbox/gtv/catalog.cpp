// The catalog: products (DRAFT → ACTIVE → DEACTIVATED, names unique) and their prices
// (recurring or one-time, per currency). A product is sellable only ACTIVE, and it can be
// activated only once priced, as in GTV.
#include <cctype>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

const std::set<std::string> kProductTypes = {"customer-subscription", "add-on", "one-time"};
const std::set<std::string> kPeriods = {"MONTH", "QUARTER", "TWICEAYEAR", "YEAR", "TWOYEARS"};

bool NameTaken(GtvSandbox::Impl& s, const std::string& name, const std::string& except_id) {
  for (const value* p : s.All("product"))
    if (Str(*p, "name") == name && Str(*p, "id") != except_id) return true;
  return false;
}

}  // namespace

Reply Handler::CreateProduct() {
  const std::string type = Str(body_, "product_type");
  if (!kProductTypes.count(type))
    Invalid("product_type must be customer-subscription, add-on or one-time");
  const std::string name = Str(body_, "name");
  if (name.empty()) Invalid("name is required");
  if (NameTaken(s_, name, "")) Invalid("name must be unique");
  value p = value::object();
  p["name"] = value::string(name);
  p["description"] = Field(body_, "description") ? body_.at("description") : value::null();
  p["product_type"] = value::string(type);
  p["status"] = value::string("DRAFT");
  p["introduction_date"] = value::string(
      Field(body_, "introduction_date")
          ? DateOf(s_.When(Str(body_, "introduction_date"), "introduction_date"), s_.offset_min)
          : s_.Today());
  p["parent_product"] = value::null();
  if (Field(body_, "parent_product")) {
    const std::string parent = RefId(body_, "parent_product");
    if (type != "add-on") Invalid("parent_product is allowed only on an add-on product");
    if (!s_.Find("product", parent)) Invalid("parent_product: no product with id '" + parent + "'");
    p["parent_product"] = Ref(parent);
  }
  p["custom_field_values"] = value::array();
  if (const value* cfv = Field(body_, "custom_field_values"))
    p["custom_field_values"] = s_.CustomValues(*cfv, "product", value::array());
  p["id"] = value::string(s_.NewId("product"));
  p["created_on"] = value::string(s_.NowStamp());
  p["updated_on"] = value::string(s_.NowStamp());
  return Ok(s_.Store("product", p));
}

Reply Handler::UpdateProduct(value& product) {
  value changed = product;
  if (Field(body_, "name")) {
    const std::string name = Str(body_, "name");
    if (name.empty()) Invalid("name must not be empty");
    if (NameTaken(s_, name, Str(product, "id"))) Invalid("name must be unique");
    changed["name"] = value::string(name);
  }
  if (body_.has_field("description")) changed["description"] = body_.at("description");
  if (const value* cfv = Field(body_, "custom_field_values"))
    changed["custom_field_values"] =
        s_.CustomValues(*cfv, "product", changed["custom_field_values"]);
  changed["updated_on"] = value::string(s_.NowStamp());
  product = changed;
  return Ok(product);
}

Reply Handler::CreatePrice(value& product) {
  const std::string type = Str(body_, "price_type");
  if (type != "recurring" && type != "one-time")
    Invalid("price_type must be recurring or one-time");
  std::string currency = Str(body_, "currency_code");
  for (char& c : currency) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (currency.size() != 3) Invalid("currency_code must be an ISO 4217 code (e.g. USD)");
  const value* amount = Field(body_, "amount");
  if (!amount) Invalid("amount is required");
  auto minor = ParseAmount(*amount, currency, "amount");
  if (!minor.ok()) Invalid(minor.status().message());
  if (*minor < 0) Invalid("amount must not be negative");
  value price = value::object();
  price["product"] = Ref(Str(product, "id"));
  price["price_type"] = value::string(type);
  price["currency_code"] = value::string(currency);
  price["amount"] = Money(*minor, currency);
  price["recurrence_period"] = value::null();
  if (type == "recurring") {
    const std::string period = Str(body_, "recurrence_period");
    if (!kPeriods.count(period))
      Invalid("recurrence_period must be MONTH, QUARTER, TWICEAYEAR, YEAR or TWOYEARS");
    price["recurrence_period"] = value::string(period);
  }
  const std::string from =
      Field(body_, "from_date")
          ? DateOf(s_.When(Str(body_, "from_date"), "from_date"), s_.offset_min)
          : s_.Today();
  price["from_date"] = value::string(from);
  price["thru_date"] = value::null();
  if (Field(body_, "thru_date")) {
    const std::string thru = DateOf(s_.When(Str(body_, "thru_date"), "thru_date"), s_.offset_min);
    if (thru < from) Invalid("thru_date must not be before from_date");
    price["thru_date"] = value::string(thru);
  }
  price["status"] = value::string("ACTIVE");
  price["id"] = value::string(s_.NewId("product-price"));
  product["updated_on"] = value::string(s_.NowStamp());
  value& stored = s_.Store("product-price", price);
  s_.Tick();  // a thru_date already past ends the price at once
  return Ok(stored);
}

Reply Handler::Products() {
  if (seg_.size() == 1 && method_ == "POST") return CreateProduct();
  if (seg_.size() == 1 && method_ == "GET") return List("product");
  if (seg_.size() < 2) return NoRoute();
  value& product = s_.Get("product", seg_[1]);
  const std::string id = Str(product, "id");
  if (seg_.size() == 2 && method_ == "GET") return Ok(product);
  if (seg_.size() == 2 && method_ == "PUT") return UpdateProduct(product);
  if (seg_.size() != 3) return NoRoute();
  if (seg_[2] == "product-prices" && method_ == "POST") return CreatePrice(product);
  if (seg_[2] == "product-prices" && method_ == "GET") {
    std::vector<const value*> prices;
    for (const value* p : s_.All("product-price"))
      if (RefId(*p, "product") == id) prices.push_back(p);
    return ListPage("product-price", prices, q_);
  }
  if (seg_[2] == "activate" && method_ == "POST") {
    if (Str(product, "status") == "DEACTIVATED") Invalid("product is DEACTIVATED");
    bool priced = false;
    for (const value* p : s_.All("product-price"))
      priced = priced || (RefId(*p, "product") == id && Str(*p, "status") == "ACTIVE");
    if (!priced) Invalid("product must have an active price before it can be activated");
    product["status"] = value::string("ACTIVE");
    product["updated_on"] = value::string(s_.NowStamp());
    return Ok(product);
  }
  if (seg_[2] == "deactivate" && method_ == "POST") {
    if (Str(product, "status") == "DEACTIVATED") Invalid("product is already DEACTIVATED");
    product["status"] = value::string("DEACTIVATED");
    product["updated_on"] = value::string(s_.NowStamp());
    return Ok(product);
  }
  return NoRoute();
}

Reply Handler::ProductPrices() {
  if (seg_.size() == 1 && method_ == "GET") return List("product-price");
  if (seg_.size() != 2) return NoRoute();
  value& price = s_.Get("product-price", seg_[1]);
  if (method_ == "GET") return Ok(price);
  if (method_ != "PUT") return NoRoute();
  // Only the end of a price changes: its amount is history invoices were made from.
  if (!body_.has_field("thru_date")) Invalid("thru_date is required");
  if (body_.at("thru_date").is_null()) {
    price["thru_date"] = value::null();
    price["status"] = value::string("ACTIVE");
    return Ok(price);
  }
  const std::string thru = DateOf(s_.When(Str(body_, "thru_date"), "thru_date"), s_.offset_min);
  if (thru < Str(price, "from_date")) Invalid("thru_date must not be before from_date");
  price["thru_date"] = value::string(thru);
  s_.Tick();
  return Ok(price);
}

}  // namespace tandem::sandbox::gtv
