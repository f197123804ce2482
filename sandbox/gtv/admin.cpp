// The admin endpoints under /__sandbox/ (no auth): POST bill-run {"billing_account_id"?,
// "fail": [ids]}, POST/DELETE faults, GET stats, POST reset, POST custom-fields
// {"type","name"}, POST notifications {"url","headers"}, POST refund {"payment_id","amount"}.
#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

// An array of ids under `key` (fail, hold), or none.
std::vector<std::string> Ids(const value& v, const char* key) {
  std::vector<std::string> ids;
  if (const value* f = Field(v, key)) {
    if (!f->is_array()) Fail(400, std::string(key) + " must be an array of billing account ids");
    for (const auto& id : f->as_array())
      ids.push_back(id.is_string() ? id.as_string() : id.serialize());
  }
  return ids;
}

Reply BillRun(Impl& s, const value& v, const std::string&) {
  const auto r = s.BillRunLocked(Str(v, "billing_account_id"), Ids(v, "fail"), Ids(v, "hold"));
  value out = value::object();
  out["invoices"] = value::number(r.invoices);
  out["paid"] = value::number(r.paid);
  out["failed"] = value::number(r.failed);
  return Reply{200, out, {}, {}, {}};
}

Reply AddFaults(Impl& s, const value&, const std::string& body) {
  std::vector<Fault> faults;
  Status st = ParseFaults(body, &faults);
  if (!st.ok()) Fail(400, st.message());
  for (const auto& f : faults) s.faults.Add(f);
  return Reply{200, value::object(), {}, {}, {}};
}

Reply ClearFaults(Impl& s, const value&, const std::string&) {
  s.faults.Clear();
  return Reply{200, value::object(), {}, {}, {}};
}

Reply Stats(Impl& s, const value&, const std::string&) {
  value st = value::object();
  st["requests"] = value::number(s.request_count);
  st["rate_limited"] = value::number(s.rate_limited_count);
  value hits = value::object();
  for (const auto& [kind, n] : s.faults.hits()) hits[kind] = value::number(n);
  st["fault_hits"] = hits;
  value counts = value::object();
  for (const auto& [kind, m] : s.objects)
    counts[kind] = value::number(static_cast<int64_t>(m.size()));
  st["objects"] = counts;
  return Reply{200, st, {}, {}, {}};
}

Reply Reset(Impl& s, const value&, const std::string&) {
  s.Reset();
  return Reply{200, value::object(), {}, {}, {}};
}

Reply AddCustomField(Impl& s, const value& v, const std::string&) {
  const std::string type = Str(v, "type"), name = Str(v, "name");
  if (type != "billing-account" && type != "order" && type != "service" && type != "product")
    Fail(400, "type must be billing-account, order, service or product");
  if (name.empty()) Fail(400, "name is required");
  return Reply{200, s.AddCustomField(type, name), {}, {}, {}};
}

Reply AddNotification(Impl& s, const value& v, const std::string&) {
  Notification n;
  n.url = Str(v, "url");
  if (n.url.rfind("http://", 0) != 0 && n.url.rfind("https://", 0) != 0)
    Fail(400, "url must be an http(s) URL");
  if (const value* headers = Field(v, "headers")) {
    if (!headers->is_object()) Fail(400, "headers must be an object of name: value");
    for (const auto& [name, val] : headers->as_object())
      n.headers.emplace_back(name, val.is_string() ? val.as_string() : val.serialize());
  }
  s.notifications.push_back(std::move(n));
  return Reply{200, value::object(), {}, {}, {}};
}

Reply Refund(Impl& s, const value& v, const std::string&) {
  value* pay = s.Find("payment", Str(v, "payment_id"));
  if (!pay) return NotFound("payment", Str(v, "payment_id"));
  const std::string currency = Str(*pay, "currency_code");
  const value* amount = Field(v, "amount");
  auto minor = amount ? ParseAmount(*amount, currency, "amount")
                      : Result<int64_t>(MinorOf(pay->at("amount")));
  if (!minor.ok()) Fail(400, minor.status().message());
  const int64_t refunded = MinorOf(pay->at("refunded_amount")) + *minor;
  if (Str(*pay, "status") != "COMPLETED") Fail(422, "only a COMPLETED payment can be refunded");
  if (*minor <= 0 || refunded > MinorOf(pay->at("amount")))
    Fail(422, "amount must be positive and at most what is left to refund");
  (*pay)["refunded_amount"] = Money(refunded, currency);
  s.Notify("payment.refunded", Str(*pay, "id"), RefId(*pay, "billing_account"));
  return Reply{200, *pay, {}, {}, {}};
}

Reply Settle(Impl& s, const value& v, const std::string&) {
  const value* completed = Field(v, "completed");
  if (!completed || !completed->is_boolean()) Fail(400, "completed must be true or false");
  const Status st = s.SettleLocked(Str(v, "payment_id"), completed->as_bool());
  if (st.IsNotFound()) return NotFound("payment", Str(v, "payment_id"));
  if (!st.ok()) Fail(422, st.message());
  return Reply{200, s.Get("payment", Str(v, "payment_id")), {}, {}, {}};
}

struct AdminRoute {
  const char* what;
  const char* method;
  Reply (*serve)(Impl& s, const value& json, const std::string& body);
};

constexpr AdminRoute kAdminRoutes[] = {
    {"bill-run", "POST", BillRun},
    {"faults", "POST", AddFaults},
    {"faults", "DELETE", ClearFaults},
    {"stats", "GET", Stats},
    {"reset", "POST", Reset},
    {"custom-fields", "POST", AddCustomField},
    {"notifications", "POST", AddNotification},
    {"refund", "POST", Refund},
    {"settle", "POST", Settle},
};

}  // namespace

Reply ServeAdmin(Impl& s, const std::string& method, const std::vector<std::string>& seg,
                 const std::string& body) {
  value v = value::object();
  if (!body.empty()) {
    try {
      v = value::parse(body);
    } catch (const std::exception&) {
      return GtvError(400, "Malformed JSON request body");
    }
  }
  if (seg.size() == 2)
    for (const AdminRoute& route : kAdminRoutes)
      if (seg[1] == route.what && method == route.method) return route.serve(s, v, body);
  return GtvError(404, "unknown sandbox endpoint");
}

}  // namespace tandem::sandbox::gtv
