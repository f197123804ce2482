// Products and prices (the catalog), and a recurring price's billing period.
#include <algorithm>
#include <cctype>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {

value StripeSandbox::Impl::ExpandPrice(const std::string& id) {
  value* p = Find("price", id);
  return p ? *p : value::string(id);
}

value StripeSandbox::Impl::NewProduct(const value& p) {
  CheckKnown(p,
             {"name", "description", "active", "metadata", "id", "expand", "type", "unit_label"});
  if (Str(p, "name").empty()) ThrowMissingParam("name");
  value o = value::object();
  o["id"] = value::string(Has(p, "id") ? Str(p, "id") : NewId("prod"));
  o["object"] = value::string("product");
  o["active"] = value::boolean(Bool(p, "active", true));
  o["attributes"] = value::array();
  o["created"] = value::number(Now());
  o["default_price"] = value::null();
  o["description"] =
      Str(p, "description").empty() ? value::null() : value::string(Str(p, "description"));
  o["features"] = value::array();
  o["images"] = value::array();
  o["livemode"] = value::boolean(false);
  o["metadata"] = Metadata(p);
  o["name"] = value::string(Str(p, "name"));
  o["package_dimensions"] = value::null();
  o["shippable"] = value::null();
  o["statement_descriptor"] = value::null();
  o["tax_code"] = value::null();
  o["type"] = value::string("service");
  o["unit_label"] = value::null();
  o["updated"] = value::number(Now());
  o["url"] = value::null();
  return o;
}

value StripeSandbox::Impl::NewPrice(const value& p) {
  CheckKnown(p, {"product", "currency", "unit_amount", "recurring", "nickname", "active",
                 "metadata", "expand", "lookup_key"});
  if (Str(p, "product").empty()) ThrowMissingParam("product");
  if (Str(p, "currency").empty()) ThrowMissingParam("currency");
  if (!Has(p, "unit_amount")) ThrowMissingParam("unit_amount");
  if (!Find("product", Str(p, "product"))) throw BadRequest{Missing("product", Str(p, "product"))};
  const int64_t amount = Int(p, "unit_amount");
  if (amount < 0) ThrowInvalid("unit_amount", "unit_amount must be non-negative");
  value o = value::object();
  o["id"] = value::string(NewId("price"));
  o["object"] = value::string("price");
  o["active"] = value::boolean(Bool(p, "active", true));
  o["billing_scheme"] = value::string("per_unit");
  o["created"] = value::number(Now());
  std::string currency = Str(p, "currency");
  std::transform(currency.begin(), currency.end(), currency.begin(), ::tolower);
  o["currency"] = value::string(currency);
  o["custom_unit_amount"] = value::null();
  o["livemode"] = value::boolean(false);
  o["lookup_key"] = value::null();
  o["metadata"] = Metadata(p);
  o["nickname"] = Str(p, "nickname").empty() ? value::null() : value::string(Str(p, "nickname"));
  o["product"] = value::string(Str(p, "product"));
  if (Has(p, "recurring")) {
    const value& r = p.at("recurring");
    const std::string interval = Str(r, "interval");
    if (interval != "day" && interval != "week" && interval != "month" && interval != "year")
      ThrowInvalid("recurring[interval]",
                   "Invalid recurring[interval]: must be one of day, week, month, or year");
    value rec = value::object();
    rec["aggregate_usage"] = value::null();
    rec["interval"] = value::string(interval);
    rec["interval_count"] = value::number(Int(r, "interval_count", 1));
    rec["trial_period_days"] = value::null();
    rec["usage_type"] = value::string("licensed");
    o["recurring"] = rec;
    o["type"] = value::string("recurring");
  } else {
    o["recurring"] = value::null();
    o["type"] = value::string("one_time");
  }
  o["tax_behavior"] = value::string("unspecified");
  o["tiers_mode"] = value::null();
  o["transform_quantity"] = value::null();
  o["unit_amount"] = value::number(amount);
  o["unit_amount_decimal"] = value::string(std::to_string(amount));
  return o;
}

int64_t StripeSandbox::Impl::PeriodSeconds(const value& price) {
  const value& r = price.at("recurring");
  if (!r.is_object()) return 30 * kDay;
  const std::string i = r.at("interval").as_string();
  const int64_t n = r.at("interval_count").as_number().to_int64();
  if (i == "day") return n * kDay;
  if (i == "week") return n * 7 * kDay;
  if (i == "year") return n * 365 * kDay;
  return n * 30 * kDay;
}

Reply Handler::Products() {
  if (seg_.size() == 2 && method_ == "POST") {
    value o = s_.NewProduct(p_);
    if (s_.Find("product", o.at("id").as_string()))
      return StripeError(400, "invalid_request_error", "resource_already_exists",
                         "Product already exists.", "id");
    s_.Emit("product.created", s_.Store("product", o));
    return Ok(o);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const bool filter = Has(p_, "active");
    const bool active = filter && Bool(p_, "active");
    return s_.ListOf("product", p_, "/v1/products",
                     [&](const value& o) { return !filter || o.at("active").as_bool() == active; });
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  value* o = s_.Find("product", seg_[2]);
  if (!o) return Missing("product", seg_[2]);
  if (method_ == "GET") return Ok(*o);
  if (method_ == "POST") {
    CheckKnown(p_, {"name", "description", "active", "metadata", "expand"});
    value prev = value::object();
    if (Has(p_, "name")) {
      prev["name"] = o->at("name");
      (*o)["name"] = value::string(Str(p_, "name"));
    }
    if (Has(p_, "description")) {
      prev["description"] = o->at("description");
      (*o)["description"] =
          Str(p_, "description").empty() ? value::null() : value::string(Str(p_, "description"));
    }
    if (Has(p_, "active")) {
      prev["active"] = o->at("active");
      (*o)["active"] = value::boolean(Bool(p_, "active"));
    }
    if (Has(p_, "metadata")) {
      prev["metadata"] = o->at("metadata");
      (*o)["metadata"] = Metadata(p_, o->at("metadata"));
    }
    (*o)["updated"] = value::number(s_.Now());
    s_.Emit("product.updated", *o, prev);
    return Ok(*o);
  }
  return Missing("resource", url_);
}

Reply Handler::Prices() {
  if (seg_.size() == 2 && method_ == "POST") {
    value o = s_.NewPrice(p_);
    s_.Emit("price.created", s_.Store("price", o));
    return Ok(o);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string product = Str(p_, "product");
    const bool filter = Has(p_, "active");
    const bool active = filter && Bool(p_, "active");
    return s_.ListOf("price", p_, "/v1/prices", [&](const value& o) {
      return (product.empty() || o.at("product").as_string() == product) &&
             (!filter || o.at("active").as_bool() == active);
    });
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  value* o = s_.Find("price", seg_[2]);
  if (!o) return Missing("price", seg_[2]);
  if (method_ == "GET") return Ok(s_.Expand(*o, p_, false));
  if (method_ == "POST") {
    CheckKnown(p_, {"active", "nickname", "metadata", "expand"});
    value prev = value::object();
    if (Has(p_, "active")) {
      prev["active"] = o->at("active");
      (*o)["active"] = value::boolean(Bool(p_, "active"));
    }
    if (Has(p_, "nickname")) (*o)["nickname"] = value::string(Str(p_, "nickname"));
    if (Has(p_, "metadata")) (*o)["metadata"] = Metadata(p_, o->at("metadata"));
    s_.Emit("price.updated", *o, prev);
    return Ok(*o);
  }
  return Missing("resource", url_);
}

}  // namespace tandem::sandbox::stripe
