// The admin endpoints under /__sandbox/ (no auth): POST bill-run {"customer"?, "fail": [ids]},
// POST/DELETE faults, GET stats, POST reset.
#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

using Impl = StripeSandbox::Impl;

Reply BillRun(Impl& s, const value& v, const std::string&) {
  std::vector<std::string> fail;
  if (v.has_field("fail"))
    for (const auto& f : v.at("fail").as_array()) fail.push_back(f.as_string());
  const auto r = s.BillRunLocked(v.has_field("customer") ? v.at("customer").as_string() : "", fail);
  Reply reply = Reply{200, value::object(), {}};
  reply.body["invoices"] = value::number(r.invoices);
  reply.body["paid"] = value::number(r.paid);
  reply.body["failed"] = value::number(r.failed);
  return reply;
}

Reply AddFaults(Impl& s, const value&, const std::string& body) {
  std::vector<Fault> faults;
  Status st = ParseFaults(body, &faults);
  if (!st.ok()) throw BadRequest{StripeError(400, "invalid_request_error", "", st.message())};
  for (const auto& f : faults) s.faults.Add(f);
  return Reply{200, value::object(), {}};
}

Reply ClearFaults(Impl& s, const value&, const std::string&) {
  s.faults.Clear();
  return Reply{200, value::object(), {}};
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
  value made = value::object();
  for (const auto& [kind, n] : s.made) made[kind] = value::number(n);
  st["made"] = made;
  return Reply{200, st, {}};
}

Reply Reset(Impl& s, const value&, const std::string&) {
  s.objects.clear();
  s.order.clear();
  s.kind_of.clear();
  s.idempotency.clear();
  s.idempotency_order.clear();
  return Reply{200, value::object(), {}};
}

struct AdminRoute {
  const char* what;
  const char* method;
  Reply (*serve)(Impl& s, const value& json, const std::string& body);
};

constexpr AdminRoute kAdminRoutes[] = {
    {"bill-run", "POST", BillRun}, {"faults", "POST", AddFaults}, {"faults", "DELETE", ClearFaults},
    {"stats", "GET", Stats},       {"reset", "POST", Reset},
};

}  // namespace

Reply ServeAdmin(Impl& s, const std::string& method, const std::vector<std::string>& seg,
                 const std::string& body) {
  value v = body.empty() ? value::object() : value::parse(body);
  if (seg.size() == 2)
    for (const AdminRoute& route : kAdminRoutes)
      if (seg[1] == route.what && method == route.method) return route.serve(s, v, body);
  return StripeError(404, "invalid_request_error", "", "unknown sandbox endpoint");
}

}  // namespace tandem::sandbox::stripe
