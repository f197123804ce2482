// The request pipeline: an injected fault first, then (under the state lock) the admin
// endpoints or an API request: authentication, the rate limit, a fault's answer, idempotency,
// and the Handler through the route table.
#include <chrono>
#include <optional>
#include <thread>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/http/request_parts.h"
#include "sandbox/stripe/internal.h"

#include <openssl/evp.h>

namespace tandem::sandbox::stripe {
namespace {

using Impl = StripeSandbox::Impl;

std::string Base64Decode(const std::string& in) {
  std::string out(in.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return "";
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

std::string Header(const wh::http_request& req, const std::string& name) {
  auto it = req.headers().find(name);
  return it == req.headers().end() ? std::string() : it->second;
}

// Authentication: Bearer KEY, or Basic with KEY as the user name.
std::string PresentedKey(const std::string& auth) {
  std::string key;
  if (auth.rfind("Bearer ", 0) == 0)
    key = auth.substr(7);
  else if (auth.rfind("Basic ", 0) == 0) {
    key = Base64Decode(auth.substr(6));
    key = key.substr(0, key.find(':'));
  }
  return key;
}

std::optional<Fault> TakeFault(Impl& s, const std::string& method, const std::string& path) {
  if (path.rfind("/v1/", 0) != 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(s.mu);
  return s.faults.Take(method, path);
}

// The answer of a fault that answers instead of the API.
Reply FaultReply(const Fault& fault, bool* lose_response) {
  if (fault.error_code == "DROP_CONNECTION") {
    *lose_response = true;
    return Reply{500, value::object(), {}};
  }
  if (fault.status == 429)
    return StripeError(429, "invalid_request_error", "rate_limit", "Request rate limit exceeded.");
  return StripeError(fault.status, "api_error", "",
                     "An unknown error occurred (injected " + fault.error_code + ")");
}

// The answer saved for the request's Idempotency-Key; null for none. A key older than
// options.idempotency_ttl_ms is forgotten here.
const Impl::Idem* Remembered(Impl& s, const std::string& idem, int64_t clock_ms) {
  auto hit = s.idempotency.find(idem);
  if (hit == s.idempotency.end()) return nullptr;
  if (clock_ms - hit->second.saved_ms >= s.options.idempotency_ttl_ms) {
    s.idempotency.erase(hit);  // expired: the request runs as a new one
    return nullptr;
  }
  return &hit->second;
}

// Runs the request through the Handler, replaying the saved answer of a POST whose
// Idempotency-Key was seen before with the same parameters.
Reply ServeIdempotent(Impl& s, const IncomingRequest& in, const std::vector<std::string>& seg) {
  const std::string& method = in.method;
  value params = DecodeForm(method == "GET" || method == "DELETE" ? in.query : in.body);
  const std::string idem = Header(in.raw, "Idempotency-Key");
  const std::string fingerprint = method + " " + in.path + "?" + in.body;
  s.current_request_id = s.NewId("req");
  s.current_idem_key = idem;
  const int64_t clock_ms = ToEpochMillis(s.clock.Now());
  const Impl::Idem* saved =
      idem.empty() || method != "POST" ? nullptr : Remembered(s, idem, clock_ms);
  Reply reply;
  if (saved) {
    if (saved->fingerprint != fingerprint) {
      reply = StripeError(400, "idempotency_error", "",
                          "Keys for idempotent requests can only be used with the same parameters "
                          "they were first used with. Try using a key other than '" +
                              idem + "' if you meant to execute a different request.");
    } else {
      reply = saved->reply;
      reply.headers.emplace_back("Idempotent-Replayed", "true");
    }
  } else {
    try {
      reply = Handler(s, method, seg, params, in.path).Serve();
    } catch (const BadRequest& bad) {
      reply = bad.reply;
    }
    // Stripe saves the answer of any request that reached its API, errors included
    // (not 429s or 5xx that never executed).
    if (!idem.empty() && method == "POST" && reply.status != 429 && reply.status < 500)
      s.Remember(idem, Impl::Idem{fingerprint, reply, clock_ms});
    if (!idem.empty() && method == "POST") reply.headers.emplace_back("Idempotency-Key", idem);
  }
  reply.headers.emplace_back("Request-Id", s.current_request_id);
  s.current_request_id.clear();
  s.current_idem_key.clear();
  return reply;
}

// An API request (under /v1/). `fault` answers when it has a status (LOSE_RESPONSE does not:
// that request is served). REQUIRES: s.mu held.
Reply ServeApi(Impl& s, const IncomingRequest& in, const std::vector<std::string>& seg,
               const std::optional<Fault>& fault, bool* lose_response) {
  const bool fault_answers = fault && fault->status != 0 && fault->error_code != "LOSE_RESPONSE";
  const std::string key = PresentedKey(Header(in.raw, "Authorization"));
  ++s.request_count;
  const int64_t now_ms = ToEpochMillis(std::chrono::system_clock::now());
  if (now_ms - s.window_start_ms >= 1000) {
    s.window_start_ms = now_ms;
    s.window_count = 0;
  }
  if (key != s.options.api_key)
    return StripeError(401, "invalid_request_error", "",
                       key.empty() ? "You did not provide an API key."
                                   : "Invalid API Key provided: " + key.substr(0, 8) + "****");
  if (s.options.rate_limit_per_second > 0 && ++s.window_count > s.options.rate_limit_per_second) {
    ++s.rate_limited_count;
    return StripeError(429, "invalid_request_error", "rate_limit",
                       "Request rate limit exceeded. Learn more about rate limits "
                       "here https://stripe.com/docs/rate-limits.");
  }
  if (fault_answers) return FaultReply(*fault, lose_response);
  return ServeIdempotent(s, in, seg);
}

void Respond(IncomingRequest& in, const Reply& reply, bool lose_response) {
  wh::http_response resp(static_cast<wh::status_code>(reply.status));
  for (const auto& [k, v] : reply.headers) resp.headers().add(k, v);
  resp.headers().add("Stripe-Version", kApiVersion);
  if (lose_response) resp.headers().add(kDropMarker, "1");
  resp.set_body(reply.body.serialize(), "application/json");
  SendReply(in, resp);
}

}  // namespace

void ServeRequest(Impl& s, IncomingRequest& in) {
  const std::string& method = in.method;
  const std::string& path = in.path;
  const std::optional<Fault> fault = TakeFault(s, method, path);
  if (fault && fault->latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(fault->latency_ms));
  bool lose_response = fault && fault->error_code == "LOSE_RESPONSE";
  Reply reply;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    const auto seg = SplitPath(path, UrlDecode);
    try {
      if (!seg.empty() && seg[0] == "__sandbox") {
        reply = ServeAdmin(s, method, seg, in.body);
      } else if (seg.size() < 2 || seg[0] != "v1") {
        reply = StripeError(404, "invalid_request_error", "",
                            "Unrecognized request URL (" + method + ": " + path + ").");
      } else {
        reply = ServeApi(s, in, seg, fault, &lose_response);
      }
    } catch (const BadRequest& bad) {
      reply = bad.reply;
    } catch (const std::exception& e) {
      reply = StripeError(500, "api_error", "", std::string("sandbox error: ") + e.what());
    }
  }
  Respond(in, reply, lose_response);
}

Reply Handler::Serve() {
  using Resource = Reply (Handler::*)();
  static constexpr std::pair<const char*, Resource> kRoutes[] = {
      {"customers", &Handler::Customers},
      {"products", &Handler::Products},
      {"prices", &Handler::Prices},
      {"subscriptions", &Handler::Subscriptions},
      {"subscription_items", &Handler::SubscriptionItems},
      {"invoiceitems", &Handler::InvoiceItems},
      {"invoices", &Handler::Invoices},
      {"charges", &Handler::Charges},
      {"refunds", &Handler::Refunds},
      {"credit_notes", &Handler::CreditNotes},
      {"events", &Handler::Events},
      {"webhook_endpoints", &Handler::WebhookEndpoints},
  };
  const std::string& r = seg_[1];
  for (const auto& [resource, serve] : kRoutes)
    if (r == resource) return (this->*serve)();
  return StripeError(404, "invalid_request_error", "",
                     "Unrecognized request URL (" + method_ + ": " + url_ + ").");
}

}  // namespace tandem::sandbox::stripe
