// Events (each change emits one, kept for GET /v1/events) and webhook endpoints, with signed
// deliveries retried with a doubling wait on the deliverer's thread.
#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include <cpprest/http_client.h>

#include "sandbox/stripe/internal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace tandem::sandbox::stripe {
namespace {

std::string HmacHex(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace

void StripeSandbox::Impl::Emit(const std::string& type, const value& object,
                               const value& previous) {
  value e = value::object();
  e["id"] = value::string(NewId("evt"));
  e["object"] = value::string("event");
  e["api_version"] = value::string(kApiVersion);
  e["created"] = value::number(Now());
  value data = value::object();
  data["object"] = object;
  if (!previous.is_null()) data["previous_attributes"] = previous;
  e["data"] = data;
  e["livemode"] = value::boolean(false);
  value req = value::object();
  req["id"] = current_request_id.empty() ? value::null() : value::string(current_request_id);
  req["idempotency_key"] =
      current_idem_key.empty() ? value::null() : value::string(current_idem_key);
  e["request"] = req;
  e["type"] = value::string(type);
  int pending = 0;
  std::vector<Delivery> to_send;
  for (const auto& id : order["webhook_endpoint"]) {
    const value* ep = Find("webhook_endpoint", id);
    if (!ep || ep->at("status").as_string() != "enabled") continue;
    bool wanted = false;
    for (const auto& t : ep->at("enabled_events").as_array())
      wanted = wanted || t.as_string() == "*" || t.as_string() == type;
    if (!wanted) continue;
    ++pending;
    to_send.push_back(Delivery{id, "", 0, std::chrono::steady_clock::now()});
  }
  e["pending_webhooks"] = value::number(pending);
  Store("event", e);
  if (to_send.empty()) return;
  const std::string payload = e.serialize();
  std::lock_guard<std::mutex> lock(delivery_mu);
  for (auto& d : to_send) {
    d.payload = payload;
    deliveries.push_back(std::move(d));
  }
  delivery_cv.notify_all();
}

void StripeSandbox::Impl::DeliveryLoop() {
  std::unordered_map<std::string, std::unique_ptr<wh::client::http_client>> clients;
  for (;;) {
    Delivery d;
    {
      std::unique_lock<std::mutex> lock(delivery_mu);
      delivery_cv.wait(lock, [&] { return stopping || !deliveries.empty(); });
      if (stopping) return;
      auto due =
          std::min_element(deliveries.begin(), deliveries.end(),
                           [](const Delivery& a, const Delivery& b) { return a.due < b.due; });
      if (due->due > std::chrono::steady_clock::now()) {
        delivery_cv.wait_until(lock, due->due);
        continue;
      }
      d = *due;
      deliveries.erase(due);
      ++in_flight;
    }
    std::string url, secret;
    {
      std::lock_guard<std::mutex> lock(mu);
      const value* ep = Find("webhook_endpoint", d.endpoint_id);
      if (ep) {
        url = ep->at("url").as_string();
        secret = secrets[d.endpoint_id];
      }
    }
    bool delivered = url.empty();  // endpoint gone: nothing to do
    if (!url.empty()) {
      ++delivery_attempts;
      try {
        auto& client = clients[url];
        if (!client) {
          wh::client::http_client_config cfg;
          cfg.set_timeout(std::chrono::seconds(10));
          client = std::make_unique<wh::client::http_client>(url, cfg);
        }
        const std::string t = std::to_string(Now());
        wh::http_request req(wh::methods::POST);
        req.headers().add("Stripe-Signature",
                          "t=" + t + ",v1=" + HmacHex(secret, t + "." + d.payload));
        req.headers().add("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)");
        req.set_body(d.payload, "application/json; charset=utf-8");
        auto resp = client->request(req).get();
        delivered = resp.status_code() >= 200 && resp.status_code() < 300;
      } catch (const std::exception&) {
        delivered = false;
      }
    }
    std::lock_guard<std::mutex> lock(delivery_mu);
    --in_flight;
    if (!delivered && ++d.attempt < options.webhook_attempts) {
      d.due = std::chrono::steady_clock::now() +
              std::chrono::milliseconds(options.webhook_retry_ms << (d.attempt - 1));
      deliveries.push_back(std::move(d));
    }
    delivery_cv.notify_all();
  }
}

Reply Handler::Events() {
  if (seg_.size() == 2 && method_ == "GET") {
    std::set<std::string> types;
    if (Has(p_, "type")) types.insert(Str(p_, "type"));
    if (Has(p_, "types") && p_.at("types").is_array())
      for (const auto& t : p_.at("types").as_array()) types.insert(t.as_string());
    int64_t gt = -1, gte = -1, lt = -1, lte = -1;
    if (Has(p_, "created")) {
      const value& c = p_.at("created");
      if (c.is_string())
        gte = lte = Int(p_, "created");
      else {
        if (c.has_field("gt")) gt = Int(c, "gt");
        if (c.has_field("gte")) gte = Int(c, "gte");
        if (c.has_field("lt")) lt = Int(c, "lt");
        if (c.has_field("lte")) lte = Int(c, "lte");
      }
    }
    return s_.ListOf("event", p_, "/v1/events", [&](const value& e) {
      const int64_t t = e.at("created").as_number().to_int64();
      if (gt >= 0 && !(t > gt)) return false;
      if (gte >= 0 && !(t >= gte)) return false;
      if (lt >= 0 && !(t < lt)) return false;
      if (lte >= 0 && !(t <= lte)) return false;
      return types.empty() || types.count(e.at("type").as_string()) > 0;
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("event", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::WebhookEndpoints() {
  if (seg_.size() == 2 && method_ == "POST") return CreateWebhookEndpoint();
  if (seg_.size() == 2 && method_ == "GET")
    return s_.ListOf("webhook_endpoint", p_, "/v1/webhook_endpoints",
                     [](const value&) { return true; });
  if (seg_.size() == 3 && method_ == "DELETE") return DeleteWebhookEndpoint();
  if (seg_.size() == 3 && method_ == "GET") return Get("webhook_endpoint", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::CreateWebhookEndpoint() {
  CheckKnown(p_, {"url", "enabled_events", "description", "metadata", "api_version"});
  if (Str(p_, "url").empty()) ThrowMissingParam("url");
  if (!Has(p_, "enabled_events")) ThrowMissingParam("enabled_events");
  value ep = value::object();
  const std::string id = s_.NewId("we");
  ep["id"] = value::string(id);
  ep["object"] = value::string("webhook_endpoint");
  ep["api_version"] = value::null();
  ep["application"] = value::null();
  ep["created"] = value::number(s_.Now());
  ep["description"] = value::null();
  ep["enabled_events"] = p_.at("enabled_events");
  ep["livemode"] = value::boolean(false);
  ep["metadata"] = Metadata(p_);
  ep["status"] = value::string("enabled");
  ep["url"] = value::string(Str(p_, "url"));
  s_.Store("webhook_endpoint", ep);
  const std::string secret = "whsec_sandbox" + s_.NewId("x").substr(2);
  s_.secrets[id] = secret;
  value out = ep;
  out["secret"] = value::string(secret);  // shown once, at creation, as Stripe does
  return Ok(out);
}

Reply Handler::DeleteWebhookEndpoint() {
  if (!s_.Find("webhook_endpoint", seg_[2])) return Missing("webhook_endpoint", seg_[2]);
  s_.objects["webhook_endpoint"].erase(seg_[2]);
  value gone = value::object();
  gone["id"] = value::string(seg_[2]);
  gone["object"] = value::string("webhook_endpoint");
  gone["deleted"] = value::boolean(true);
  return Ok(gone);
}

}  // namespace tandem::sandbox::stripe
