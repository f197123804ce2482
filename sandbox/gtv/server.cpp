// The request pipeline: an injected fault first, then (under the state lock) the admin
// endpoints or an API request under /billing/2: authentication (X-Api-Key), the rate limit,
// a fault's answer, the body's JSON, the clock's effects, and the Handler's route table.
// There is no idempotency: an Idempotency-Key header is ignored, as GTV ignores it.
#include <chrono>
#include <optional>
#include <thread>

#include <cpprest/uri.h>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/gtv/internal.h"
#include "sandbox/http/request_parts.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

constexpr char kApiPrefix[] = "/billing/2/";

std::string Header(const wh::http_request& req, const std::string& name) {
  auto it = req.headers().find(name);  // cpprest compares header names case-insensitively
  return it == req.headers().end() ? std::string() : it->second;
}

std::string Decode(const std::string& s) {
  try {
    return web::uri::decode(s);
  } catch (const std::exception&) {
    return s;
  }
}

std::optional<Fault> TakeFault(Impl& s, const std::string& method, const std::string& path) {
  if (path.rfind(kApiPrefix, 0) != 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(s.mu);
  return s.faults.Take(method, path);
}

// The answer of a fault that answers instead of the API, in GTV's error shape.
Reply FaultReply(const Fault& fault, bool* lose_response) {
  if (fault.error_code == "DROP_CONNECTION") {
    *lose_response = true;
    return GtvError(500, "connection dropped");
  }
  if (fault.status == 429) return GtvError(429, "Too many requests");
  return GtvError(fault.status, "Service unavailable (injected " + fault.error_code + ")");
}

// An API request. `fault` answers when it has a status (LOSE_RESPONSE does not: that request
// is served, and its answer lost). REQUIRES: s.mu held.
Reply ServeApi(Impl& s, const IncomingRequest& in, const std::vector<std::string>& seg,
               const std::optional<Fault>& fault, bool* lose_response) {
  ++s.request_count;
  const int64_t now_ms = ToEpochMillis(std::chrono::system_clock::now());
  if (now_ms - s.window_start_ms >= 1000) {
    s.window_start_ms = now_ms;
    s.window_count = 0;
  }
  if (Header(in.raw, "X-Api-Key") != s.options.api_key)
    return GtvError(401, "Authentication failed");
  if (s.options.rate_limit_per_second > 0 && ++s.window_count > s.options.rate_limit_per_second) {
    ++s.rate_limited_count;
    return GtvError(429, "Too many requests");  // GTV documents no Retry-After: none is sent
  }
  if (fault && fault->status != 0 && fault->error_code != "LOSE_RESPONSE")
    return FaultReply(*fault, lose_response);
  value body = value::object();
  if (!in.body.empty()) {
    try {
      body = value::parse(in.body);
    } catch (const std::exception&) {
      return GtvError(400, "Malformed JSON request body");
    }
  }
  if ((in.method == "POST" || in.method == "PUT") && !body.is_object())
    return GtvError(400, "The request body must be a JSON object");
  const Query query = ParseQuery(in.query);
  s.Tick();
  const std::vector<std::string> rest(seg.begin() + 2, seg.end());
  return Handler(s, in.method, rest, body, query).Serve();
}

void Respond(IncomingRequest& in, const Reply& reply, bool lose_response) {
  wh::http_response resp(static_cast<wh::status_code>(reply.status));
  for (const auto& [k, v] : reply.headers) resp.headers().add(k, v);
  if (lose_response) resp.headers().add(kDropMarker, "1");
  if (!reply.content_type.empty())
    resp.set_body(reply.raw, reply.content_type);
  else
    resp.set_body(Render(reply.body), "application/json");
  SendReply(in, resp);
}

}  // namespace

void ServeRequest(Impl& s, IncomingRequest& in) {
  const std::optional<Fault> fault = TakeFault(s, in.method, in.path);
  if (fault && fault->latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(fault->latency_ms));
  bool lose_response = fault && fault->error_code == "LOSE_RESPONSE";
  Reply reply;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    const auto seg = SplitPath(in.path, Decode);
    try {
      if (!seg.empty() && seg[0] == "__sandbox") {
        reply = ServeAdmin(s, in.method, seg, in.body);
      } else if (seg.size() < 3 || seg[0] != "billing" || seg[1] != "2") {
        reply = GtvError(404, "Resource not found: " + in.method + " " + in.path);
      } else {
        reply = ServeApi(s, in, seg, fault, &lose_response);
      }
    } catch (const ApiError& e) {
      reply = e.reply;
    } catch (const std::exception& e) {
      reply = GtvError(500, std::string("sandbox error: ") + e.what());
    }
  }
  Respond(in, reply, lose_response);
}

Reply Handler::NoRoute() const {
  std::string path = "/billing/2";
  for (const auto& s : seg_) path += "/" + s;
  return GtvError(404, "Resource not found: " + method_ + " " + path);
}

Reply Handler::Serve() {
  using Resource = Reply (Handler::*)();
  static constexpr std::pair<const char*, Resource> kRoutes[] = {
      {"bill-cycles", &Handler::Reference},
      {"billing-account-categories", &Handler::Reference},
      {"payment-terms", &Handler::Reference},
      {"custom-fields", &Handler::Reference},
      {"billing-accounts", &Handler::BillingAccounts},
      {"products", &Handler::Products},
      {"product-prices", &Handler::ProductPrices},
      {"orders", &Handler::Orders},
      {"services", &Handler::Services},
      {"invoices", &Handler::Invoices},
      {"payments", &Handler::Payments},
      {"adjustments", &Handler::Adjustments},
      {"usage-events", &Handler::UsageEvents},
  };
  for (const auto& [resource, serve] : kRoutes)
    if (seg_[0] == resource) return (this->*serve)();
  return NoRoute();
}

}  // namespace tandem::sandbox::gtv
