// Services (GTV's subscriptions): reading them and their commands. Deactivation is final and
// cascades to child services; a dated one waits for the clock (Impl::Tick); suspend/resume,
// quantity and price changes, renewals. Commands on an ended service are refused (422).
#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {

using Impl = GtvSandbox::Impl;

bool Impl::Final(const value& service) const {
  const std::string status = Str(service, "status");
  return status == "SERVICE_DEACTIVATED" || status == "SERVICE_REPLACED";
}

void Impl::SetStatus(value& service, const std::string& status) {
  service["status"] = value::string(status);
  service["status_date"] = value::string(NowStamp());
  service["updated_on"] = value::string(NowStamp());
  Notify("service.status_changed", Str(service, "id"), RefId(service, "billing_account"));
}

void Impl::End(value& service, const std::string& status) {
  if (Final(service)) return;
  SetStatus(service, status);
  service["__final_ms"] = value::number(NowMs());
  if (!Field(service, "end_date")) service["end_date"] = value::string(Today());
  const std::string id = Str(service, "id");
  for (auto& [n, child] : objects["service"])
    if (RefId(child, "parent_service") == id) End(child, status);
}

Reply Handler::Command(value& service, const std::string& verb) {
  const std::string id = Str(service, "id");
  const std::string status = Str(service, "status");
  if (s_.Final(service))
    Invalid("service " + id + " is " + status + "; " + verb + " is not allowed");
  const std::string currency = Str(service, "currency_code");
  value changed = service;  // a refused command changes nothing
  if (verb == "change-quantity") {
    const int64_t quantity = WholeNumber(body_, "new_quantity", "new_quantity");
    if (quantity < 1) Invalid("new_quantity must be at least 1");
    if (Field(body_, "effective_date")) s_.When(Str(body_, "effective_date"), "effective_date");
    changed["quantity"] = value::number(quantity);
    s_.Notify("service.quantity_changed", id, RefId(service, "billing_account"));
  } else if (verb == "change-price") {
    const value* price = Field(body_, "new_recurring_unit_price");
    if (!price) Invalid("new_recurring_unit_price is required");
    auto minor = ParseAmount(*price, currency, "new_recurring_unit_price");
    if (!minor.ok()) Invalid(minor.status().message());
    if (*minor < 0) Invalid("new_recurring_unit_price must not be negative");
    changed["amount"] = Money(*minor, currency);
  } else if (verb == "renew") {
    const int months = PeriodMonths(Str(service, "recurrence_period"));
    std::string end;
    if (Field(body_, "end_date")) {
      end = DateOf(s_.When(Str(body_, "end_date"), "end_date"), s_.offset_min);
    } else {
      std::string base = Str(service, "end_date");
      if (base.empty()) base = Str(service.at("service_periods").at(0), "end_date");
      end = AddMonths(base, months);
    }
    if (const value* preserve = Field(body_, "preserve_pricing");
        preserve && preserve->is_boolean() && !preserve->as_bool())
      changed["amount"] = s_.Get("product-price", RefId(service, "product_price")).at("amount");
    changed["renewal_count"] =
        value::number(service.at("renewal_count").as_number().to_int64() + 1);
    changed["end_date"] = value::string(end);
    changed.as_object().erase("__deactivate_ms");  // a renewal clears a scheduled deactivation
  } else if (verb == "deactivate") {
    const int64_t now = s_.NowMs();
    const int64_t at = Field(body_, "effective_date")
                           ? s_.When(Str(body_, "effective_date"), "effective_date")
                           : now;
    if (Field(body_, "reason")) changed["deactivation_reason"] = body_.at("reason");
    if (at <= now) {
      changed["end_date"] = value::string(s_.Today());
      service = changed;
      s_.End(service, "SERVICE_DEACTIVATED");
      return Ok(service);
    }
    changed["end_date"] = value::string(DateOf(at, s_.offset_min));
    changed["__deactivate_ms"] = value::number(at);
  } else if (verb == "suspend") {
    if (status != "SERVICE_ACTIVE")
      Invalid("service " + id + " is " + status + "; only an active service can be suspended");
    if (Field(body_, "reason")) changed["suspension_reason"] = body_.at("reason");
    service = changed;
    s_.SetStatus(service, "SERVICE_SUSPENDED");
    return Ok(service);
  } else if (verb == "resume") {
    if (status != "SERVICE_SUSPENDED")
      Invalid("service " + id + " is " + status + "; only a suspended service can be resumed");
    service = changed;
    s_.SetStatus(service, "SERVICE_ACTIVE");
    return Ok(service);
  } else {
    return NoRoute();
  }
  changed["updated_on"] = value::string(s_.NowStamp());
  service = changed;
  return Ok(service);
}

Reply Handler::Services() {
  if (seg_.size() == 1 && method_ == "GET") return List("service");
  if (seg_.size() < 2) return NoRoute();
  value& service = s_.Get("service", seg_[1]);
  if (seg_.size() == 2 && method_ == "GET") return Ok(service);
  if (seg_.size() == 3 && method_ == "POST") return Command(service, seg_[2]);
  return NoRoute();
}

}  // namespace tandem::sandbox::gtv
