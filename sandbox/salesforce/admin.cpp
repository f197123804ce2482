// The admin endpoints under /__sandbox/ (no auth): POST/DELETE faults, POST expire-tokens,
// POST reset, GET stats, POST tally.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {
namespace {

using Impl = SalesforceSandbox::Impl;

Reply AddFaults(Impl& s, const std::string& body) {
  std::vector<Fault> faults;
  if (Status st = ParseFaults(body, &faults); !st.ok())
    return Errors(400, "JSON_PARSER_ERROR", st.message());
  for (const auto& f : faults) s.faults.Add(f);
  return Reply{204, "", "application/json"};
}

Reply ClearFaults(Impl& s, const std::string&) {
  s.faults.Clear();
  return Reply{204, "", "application/json"};
}

Reply ExpireTokens(Impl& s, const std::string&) {
  s.tokens.clear();
  return Reply{204, "", "application/json"};
}

Reply Reset(Impl& s, const std::string&) {
  s.Reset();
  return Reply{204, "", "application/json"};
}

Reply Stats(Impl& s, const std::string&) {
  value v = value::object();
  value by = value::object();
  int64_t total = 0;
  for (const auto& [k, n] : s.by_endpoint) {
    by[k] = value::number(n);
    total += n;
  }
  v["api_calls"] = value::number(total);
  v["peak_concurrent_requests"] = value::number(s.front.peak_in_flight());
  v["concurrent_refused"] = value::number(s.concurrent_refused);
  value hits = value::object();
  for (const auto& [kind, n] : s.faults.hits()) hits[kind] = value::number(n);
  v["fault_hits"] = hits;
  v["by_endpoint"] = by;
  value counts = value::object();
  for (const auto& [name, t] : s.tables)
    counts[t.def->name] = value::number(static_cast<int64_t>(t.by_id.size()));
  v["records"] = counts;
  return JsonReply(200, v);
}

// How many records of an object hold each value of a field: {"object": "Order", "field":
// "Automation_Status__c"} -> {"Completed": 980, "In Progress": 20} ("": the records without a
// value; the object's name matched ignoring case, the field's exactly). For benches that
// watch a run's progress: no API call counted, no latency, so the run's end is seen at once.
Reply Tally(Impl& s, const std::string& body) {
  value req;
  try {
    req = value::parse(body);
  } catch (const std::exception&) {
    return Errors(400, "JSON_PARSER_ERROR", "tally: the body is not JSON");
  }
  if (!req.is_object() || !req.has_string_field("object") || !req.has_string_field("field"))
    return Errors(400, "INVALID_FIELD", "tally: needs \"object\" and \"field\"");
  auto table = s.tables.find(Lower(req.at("object").as_string()));
  if (table == s.tables.end()) return Errors(404, "NOT_FOUND", "tally: no such object");
  const std::string field = req.at("field").as_string();
  std::map<std::string, int64_t> tally;
  for (const auto& [id, record] : table->second.by_id) {
    std::string v;
    if (record.has_field(field)) {
      const value& f = record.at(field);
      v = f.is_string() ? f.as_string() : f.is_null() ? "" : f.serialize();
    }
    ++tally[v];
  }
  value out = value::object();
  for (const auto& [v, n] : tally) out[v] = value::number(n);
  return JsonReply(200, out);
}

struct AdminRoute {
  const char* what;
  const char* method;
  Reply (*serve)(Impl& s, const std::string& body);
};

constexpr AdminRoute kAdminRoutes[] = {
    {"faults", "POST", AddFaults},
    {"faults", "DELETE", ClearFaults},
    {"expire-tokens", "POST", ExpireTokens},
    {"reset", "POST", Reset},
    {"stats", "GET", Stats},
    {"tally", "POST", Tally},
};

}  // namespace

Reply Handler::Admin(const Segments& seg) {
  if (seg.size() < 2) return Errors(404, "NOT_FOUND", "unknown admin endpoint");
  const std::string& what = seg[1];
  for (const AdminRoute& route : kAdminRoutes)
    if (what == route.what && method_ == route.method) return route.serve(s_, body_);
  return Errors(404, "NOT_FOUND", "unknown admin endpoint");
}

}  // namespace tandem::sandbox::salesforce
