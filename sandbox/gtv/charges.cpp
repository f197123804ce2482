// Charges outside services' recurring periods: adjustments (a free-standing fee or credit,
// billed by the next bill run) and bulk usage events (partial success inside a 200, events
// deduplicated on (sequence_id, reference_id)).
#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

constexpr size_t kMaxUsageEvents = 50;

// The live service holding `identifier` as a resource at `at_ms`; null when none does.
const value* ServiceFor(Impl& s, const std::string& identifier, int64_t at_ms) {
  for (const value* svc : s.All("service")) {
    if (svc->at("__start_ms").as_number().to_int64() > at_ms) continue;
    if (Field(*svc, "__final_ms") && svc->at("__final_ms").as_number().to_int64() <= at_ms)
      continue;
    for (const auto& r : svc->at("service_resources").as_array())
      if (Str(r, "identifier") == identifier) return svc;
  }
  return nullptr;
}

value Erred(const value& event, const std::string& request_id, const std::string& message) {
  value e = value::object();
  e["unrated_usage_event"] = event;
  e["request_id"] = value::string(request_id);
  e["message"] = value::string(message);
  e["code"] = value::string("400");
  return e;
}

}  // namespace

Reply Handler::Adjustments() {
  if (seg_.size() == 2 && method_ == "GET") return Ok(s_.Get("adjustment", seg_[1]));
  if (seg_.size() != 1) return NoRoute();
  if (method_ == "GET") return List("adjustment");
  if (method_ != "POST") return NoRoute();
  const std::string account_id = RefId(body_, "billing_account");
  const value* account = s_.Find("billing-account", account_id);
  if (!account) Invalid("billing_account: no billing account with id '" + account_id + "'");
  const std::string currency = Str(*account, "currency_code");
  const value* amount = Field(body_, "amount");
  if (!amount) Invalid("amount is required");
  auto minor = ParseAmount(*amount, currency, "amount");
  if (!minor.ok()) Invalid(minor.status().message());
  if (*minor <= 0) Invalid("amount must be positive (credit:true makes a credit)");
  if (Str(body_, "description").empty()) Invalid("description is required");
  const value* credit = Field(body_, "credit");
  if (credit && !credit->is_boolean()) Invalid("credit must be true or false");
  value adj = value::object();
  adj["billing_account"] = Ref(account_id);
  adj["amount"] = Money(*minor, currency);
  adj["currency_code"] = value::string(currency);
  adj["credit"] = value::boolean(credit && credit->as_bool());
  adj["description"] = value::string(Str(body_, "description"));
  adj["occurred_on"] = value::string(
      Field(body_, "occurred_on")
          ? Timestamp(s_.When(Str(body_, "occurred_on"), "occurred_on"), s_.offset_min)
          : s_.NowStamp());
  adj["service"] = value::null();
  if (Field(body_, "service")) {
    const std::string service_id = RefId(body_, "service");
    const value* service = s_.Find("service", service_id);
    if (!service || RefId(*service, "billing_account") != account_id)
      Invalid("service: '" + service_id + "' is not a service of billing account " + account_id);
    adj["service"] = Ref(service_id);
  }
  adj["status"] = value::string("POSTED");
  adj["invoiced"] = value::boolean(false);
  adj["invoice"] = value::null();
  adj["id"] = value::string(s_.NewId("adjustment"));
  value& stored = s_.Store("adjustment", adj);
  s_.RefreshTotals(account_id);
  return Ok(stored);
}

Reply Handler::UsageEvents() {
  if (seg_.size() == 1 && method_ == "GET") return List("usage-event");
  if (seg_.size() == 2 && seg_[1] != "bulk" && method_ == "GET")
    return Ok(s_.Get("usage-event", seg_[1]));
  if (seg_.size() != 2 || seg_[1] != "bulk" || method_ != "POST") return NoRoute();
  const std::string mode = Str(body_, "mode");
  if (mode != "FAIL_ON_EXISTING" && mode != "OVERWRITE_ON_EXISTING")
    Invalid("mode must be FAIL_ON_EXISTING or OVERWRITE_ON_EXISTING");
  const value* events = Field(body_, "usage_events");
  if (!events || !events->is_array()) Invalid("usage_events must be an array");
  if (events->size() > kMaxUsageEvents)
    Invalid("usage_events: at most 50 events per request (got " + std::to_string(events->size()) +
            ")");
  const int64_t bulk = ++s_.bulk_requests;
  std::vector<value> rated, erred;
  for (size_t i = 0; i < events->size(); ++i) {
    const value& e = events->at(i);
    const std::string request_id = std::to_string(bulk) + "-" + std::to_string(i + 1);
    std::string missing;
    for (const char* k : {"start_time", "service_resource_identifier", "usage_uom", "usage_amount",
                          "reference_id", "sequence_id"})
      if (missing.empty() && Str(e, k).empty()) missing = k;
    if (!missing.empty()) {
      erred.push_back(Erred(e, request_id, missing + " is required"));
      continue;
    }
    auto start = ParseWhen(Str(e, "start_time"), s_.offset_min);
    if (!start.ok()) {
      erred.push_back(Erred(e, request_id, "start_time: " + start.status().message()));
      continue;
    }
    if (!e.at("usage_amount").is_number()) {
      erred.push_back(Erred(e, request_id, "usage_amount must be a number"));
      continue;
    }
    const std::string identifier = Str(e, "service_resource_identifier");
    const value* service = ServiceFor(s_, identifier, *start);
    if (!service) {
      erred.push_back(Erred(
          e, request_id,
          "Could not find a service with identifier " + identifier + " for the event start time."));
      continue;
    }
    const auto key = std::make_pair(Str(e, "sequence_id"), Str(e, "reference_id"));
    auto existing = s_.usage_keys.find(key);
    std::string voided;
    if (existing != s_.usage_keys.end()) {
      if (mode == "FAIL_ON_EXISTING") {
        erred.push_back(Erred(e, request_id, "Usage event already exists"));
        continue;
      }
      if (value* old = s_.Find("usage-event", existing->second)) {
        (*old)["status"] = value::string("VOIDED");  // both stay queryable, as in GTV
        voided = existing->second;
      }
    }
    const std::string currency = Str(*service, "currency_code");
    value stored = value::object();
    stored["id"] = value::string(s_.NewId("usage-event"));
    stored["start_time"] = value::string(Timestamp(*start, s_.offset_min));
    stored["end_time"] = Field(e, "end_time") ? value::string(Str(e, "end_time")) : value::null();
    for (const char* k :
         {"service_resource_identifier", "usage_uom", "reference_id", "sequence_id", "description"})
      stored[k] = Field(e, k) ? value::string(Str(e, k)) : value::null();
    stored["usage_amount"] = e.at("usage_amount");
    stored["service"] = Ref(Str(*service, "id"));
    stored["total_charge"] = Money(0, currency);  // usage rules are not emulated: rated at 0
    stored["status"] = value::string("RATED");
    s_.Store("usage-event", stored);
    s_.usage_keys[key] = Str(stored, "id");
    value r = value::object();
    r["id"] = stored.at("id");
    r["request_id"] = value::string(request_id);
    r["total_charge"] = stored.at("total_charge");
    r["service"] = Ref(Str(*service, "id"));
    if (!voided.empty()) r["voided_event_id"] = value::string(voided);
    rated.push_back(r);
  }
  value out = value::object();
  out["rated_events"] = Arr(rated);
  out["erred_events"] = Arr(erred);
  return Ok(out);
}

}  // namespace tandem::sandbox::gtv
