// The request pipeline (injected faults, the Handler under the state lock, the answer with
// Sforce-Limit-Info), authentication and the API limit, and the routes under /services/data.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include <cpprest/base_uri.h>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/http/request_parts.h"
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {
namespace {

using Impl = SalesforceSandbox::Impl;

std::string EndpointLabel(const std::string& method, const std::vector<std::string>& seg) {
  // /services/data/vXX/<rest>: ids and names become placeholders so counts group well.
  std::string label = method + " /";
  for (size_t i = 3; i < seg.size(); ++i) {
    const std::string& s = seg[i];
    if (i == 4 && (seg[3] == "query" || seg[3] == "queryAll")) {
      label += "/{locator}";
      continue;
    }
    const bool looks_id =
        (s.size() == 18 || s.size() == 15) && std::any_of(s.begin(), s.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        });
    label += (i > 3 ? "/" : "") + (looks_id ? std::string("{id}") : s);
  }
  return label;
}

// What an injected fault does to a request: delays it, answers instead of the API, or loses
// the answer (the proxy drops the connection).
struct FaultEffect {
  int latency = 0;
  bool lose_response = false;
  std::optional<Reply> reply;
};

FaultEffect TakeFault(Impl& s, const std::string& method, const std::string& path) {
  FaultEffect effect;
  std::lock_guard<std::mutex> lock(s.mu);
  const bool is_api = path.rfind("/services", 0) == 0;
  const bool is_collection = path.find("/composite/sobjects") != std::string::npos;
  auto fault = s.faults.Take(method, path, [&](const Fault& f) {
    // Lock faults on Collections are applied per record by their handler.
    return is_api && !(f.error_code == "UNABLE_TO_LOCK_ROW" && is_collection);
  });
  if (fault) {
    effect.latency = fault->latency_ms;
    if (fault->error_code == "LOSE_RESPONSE") {
      effect.lose_response = true;
    } else if (fault->error_code == "DROP_CONNECTION") {
      effect.reply = Reply{500, "", "text/plain"};
      effect.lose_response = true;
    } else if (fault->status != 0) {
      if (fault->error_code == "REQUEST_LIMIT_EXCEEDED")
        effect.reply = Errors(fault->status, "REQUEST_LIMIT_EXCEEDED",
                              "ConcurrentPerOrgLongTxn Limit exceeded.");
      else if (fault->error_code == "UNABLE_TO_LOCK_ROW")
        effect.reply = Errors(fault->status, "UNABLE_TO_LOCK_ROW",
                              "unable to obtain exclusive access to this record");
      else
        effect.reply = Errors(fault->status, fault->error_code, "injected fault");
    }
  }
  return effect;
}

void Respond(Impl& s, IncomingRequest& in, const Reply& reply, bool lose_response, int64_t used) {
  const std::string& path = in.path;
  wh::http_response resp(static_cast<wh::status_code>(reply.status));
  if (lose_response) resp.headers().add(kDropMarker, "1");
  if (path.rfind("/services/data/v", 0) == 0)
    resp.headers().add("Sforce-Limit-Info", "api-usage=" + std::to_string(used) + "/" +
                                                std::to_string(s.options.daily_api_max));
  if (reply.status != 204) resp.set_body(reply.body, reply.content_type);
  SendReply(in, resp);
}

}  // namespace

void ServeRequest(Impl& s, IncomingRequest& in) {
  const std::string& method = in.method;
  const std::string& path = in.path;
  const std::string& query = in.query;
  const std::string& body = in.body;
  // Faults first: latency outside the lock, answers instead of the real one.
  const FaultEffect fault = TakeFault(s, method, path);
  if (fault.latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.latency));
  Reply reply;
  int64_t used = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (fault.reply) {
      reply = *fault.reply;
    } else {
      try {
        reply = Handler(s, method, path, query, in.raw.headers(), body).Serve();
      } catch (const std::exception& e) {
        reply = Errors(500, "UNKNOWN_EXCEPTION", std::string("sandbox error: ") + e.what());
      }
    }
    used = s.api_used;
  }
  Respond(s, in, reply, fault.lose_response, used);
}

std::optional<Reply> Handler::ParseBody(value* out) const {
  try {
    *out = value::parse(body_);
  } catch (const std::exception& e) {
    return Errors(400, "JSON_PARSER_ERROR", e.what());
  }
  return std::nullopt;
}

Reply Handler::Serve() {
  const auto seg = SplitPath(path_, [](const std::string& s) { return web::uri::decode(s); });
  if (!seg.empty() && seg[0] == "__sandbox") return Admin(seg);
  if (seg.size() >= 3 && seg[0] == "services" && seg[1] == "oauth2" && seg[2] == "token")
    return Token();
  if (seg.size() < 2 || seg[0] != "services" || seg[1] != "data")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 2) return Data(seg);
  // Everything under /services/data/vXX needs a valid session and counts against the limit.
  const std::string auth = Header("Authorization");
  const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
  if (token.empty() || !s_.tokens.count(token))
    return Errors(401, "INVALID_SESSION_ID", "Session expired or invalid");
  if (s_.api_used >= s_.options.daily_api_max)
    return Errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
  if (s_.options.concurrent_request_limit > 0 &&
      s_.front.in_flight() > s_.options.concurrent_request_limit) {
    ++s_.concurrent_refused;
    return Errors(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.");
  }
  ++s_.api_used;
  ++s_.by_endpoint[EndpointLabel(method_, seg)];
  return Data(seg);
}

Reply Handler::Data(const Segments& seg) {
  if (seg.size() == 2) {  // GET /services/data
    value arr = value::array();
    const char* versions[] = {"59.0", "60.0", "61.0", "62.0"};
    for (size_t i = 0; i < 4; ++i) {
      value v = value::object();
      v["label"] = value::string(std::string("v") + versions[i]);
      v["url"] = value::string(std::string("/services/data/v") + versions[i]);
      v["version"] = value::string(versions[i]);
      arr[i] = v;
    }
    return JsonReply(200, arr);
  }
  if (seg[2].size() < 2 || seg[2][0] != 'v')
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  version_ = seg[2].substr(1);
  if (seg.size() == 3) {
    value v = value::object();
    for (const char* r : {"sobjects", "query", "queryAll", "composite", "limits", "jobs"})
      v[r] = value::string("/services/data/v" + version_ + "/" + r);
    return JsonReply(200, v);
  }
  const std::string& resource = seg[3];
  using Resource = Reply (Handler::*)(const Segments&);
  struct Route {
    const char* resource;
    const char* method;  // "" for any
    Resource serve;
  };
  static const Route kRoutes[] = {
      {"limits", "", &Handler::Limits},       {"sobjects", "", &Handler::SObjects},
      {"composite", "", &Handler::Composite}, {"jobs", "", &Handler::Jobs},
      {"query", "GET", &Handler::Query},      {"queryAll", "GET", &Handler::Query},
  };
  for (const Route& route : kRoutes)
    if (resource == route.resource && (!*route.method || method_ == route.method))
      return (this->*route.serve)(seg);
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::Limits(const Segments&) {
  value v = value::object();
  value daily = value::object();
  daily["Max"] = value::number(s_.options.daily_api_max);
  daily["Remaining"] = value::number(std::max<int64_t>(0, s_.options.daily_api_max - s_.api_used));
  v["DailyApiRequests"] = daily;
  value bulk = value::object();
  bulk["Max"] = value::number(15000);
  bulk["Remaining"] = value::number(15000);
  v["DailyBulkV2QueryJobs"] = bulk;
  return JsonReply(200, v);
}

}  // namespace tandem::sandbox::salesforce
