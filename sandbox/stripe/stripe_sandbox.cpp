#include "sandbox/stripe/stripe_sandbox.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <cpprest/http_client.h>
#include <cpprest/http_listener.h>
#include <cpprest/json.h>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/faults/listener.h"
#include "util/net.h"
#include "util/thread.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

namespace tandem::sandbox::stripe {
namespace {

namespace wh = web::http;
using web::json::value;

constexpr int64_t kDay = 86400;
constexpr char kApiVersion[] = "2023-08-16";

struct Reply {
  int status = 200;
  value body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// --- errors in Stripe's shape --------------------------------------------------------

Reply StripeError(int status, const std::string& type, const std::string& code,
                  const std::string& message, const std::string& param = "") {
  value e = value::object();
  e["type"] = value::string(type);
  if (!code.empty()) e["code"] = value::string(code);
  e["message"] = value::string(message);
  if (!param.empty()) e["param"] = value::string(param);
  if (!code.empty()) e["doc_url"] = value::string("https://stripe.com/docs/error-codes/" + code);
  value body = value::object();
  body["error"] = e;
  return Reply{status, body, {}};
}

Reply Missing(const std::string& kind, const std::string& id) {
  return StripeError(404, "invalid_request_error", "resource_missing",
                     "No such " + kind + ": '" + id + "'", "id");
}

// Thrown inside handlers for a bad request; turned into a 400 answer.
struct BadRequest {
  Reply reply;
};

[[noreturn]] void ThrowMissingParam(const std::string& name) {
  throw BadRequest{StripeError(400, "invalid_request_error", "parameter_missing",
                               "Missing required param: " + name + ".", name)};
}
[[noreturn]] void ThrowInvalid(const std::string& name, const std::string& why) {
  throw BadRequest{StripeError(400, "invalid_request_error", "parameter_invalid", why, name)};
}

// --- form decoding: a[b][0][c]=v into a JSON tree (the sandbox's own) ----------------

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void Insert(value& node, const std::vector<std::string>& path, size_t at, const std::string& v) {
  const std::string& seg = path[at];
  const bool last = at + 1 == path.size();
  const bool index = seg.empty() || std::all_of(seg.begin(), seg.end(), ::isdigit);
  if (index) {
    if (!node.is_array()) node = value::array();
    const size_t i = seg.empty() ? node.size() : static_cast<size_t>(std::stoul(seg));
    if (i > node.size() + 1000) ThrowInvalid(path[0], "array index too large");
    if (last) {
      node[i] = value::string(v);
    } else {
      if (i >= node.size() || node[i].is_null()) node[i] = value::object();
      Insert(node[i], path, at + 1, v);
    }
    return;
  }
  if (!node.is_object()) node = value::object();
  if (last) {
    node[seg] = value::string(v);
  } else {
    if (!node.has_field(seg)) node[seg] = value::null();
    Insert(node[seg], path, at + 1, v);
  }
}

value DecodeForm(const std::string& body) {
  value root = value::object();
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key = UrlDecode(pair.substr(0, eq));
    const std::string val = eq == std::string::npos ? "" : UrlDecode(pair.substr(eq + 1));
    std::vector<std::string> path;
    const auto br = key.find('[');
    path.push_back(key.substr(0, br));
    size_t i = br;
    while (i != std::string::npos && i < key.size()) {
      const auto close = key.find(']', i);
      if (key[i] != '[' || close == std::string::npos)
        ThrowInvalid(key, "Invalid parameter name: " + key);
      path.push_back(key.substr(i + 1, close - i - 1));
      i = close + 1 < key.size() ? close + 1 : std::string::npos;
    }
    Insert(root, path, 0, val);
  }
  return root;
}

std::string Str(const value& params, const std::string& key) {
  return params.has_field(key) && params.at(key).is_string() ? params.at(key).as_string() : "";
}
bool Has(const value& params, const std::string& key) { return params.has_field(key); }

int64_t Int(const value& params, const std::string& key, int64_t fallback = 0) {
  if (!params.has_field(key)) return fallback;
  const std::string s = params.at(key).is_string() ? params.at(key).as_string() : "";
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0')
    throw BadRequest{StripeError(400, "invalid_request_error", "parameter_invalid_integer",
                                 "Invalid integer: " + s, key)};
  return v;
}

bool Bool(const value& params, const std::string& key, bool fallback = false) {
  if (!params.has_field(key)) return fallback;
  const std::string s = Str(params, key);
  if (s != "true" && s != "false") ThrowInvalid(key, "Invalid boolean: " + s);
  return s == "true";
}

void CheckKnown(const value& params, std::initializer_list<const char*> allowed) {
  if (!params.is_object()) return;
  for (const auto& kv : params.as_object()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || kv.first == a;
    if (!ok)
      throw BadRequest{StripeError(400, "invalid_request_error", "parameter_unknown",
                                   "Received unknown parameter: " + kv.first, kv.first)};
  }
}

value Metadata(const value& params, value current = value::object()) {
  if (!current.is_object()) current = value::object();
  if (!params.has_field("metadata")) return current;
  const value& m = params.at("metadata");
  if (m.is_string() && m.as_string().empty()) return value::object();  // metadata= clears
  if (!m.is_object()) ThrowInvalid("metadata", "Invalid metadata");
  for (const auto& kv : m.as_object()) {
    if (kv.second.is_string() && kv.second.as_string().empty()) {
      if (current.has_field(kv.first)) current.erase(kv.first);  // unsetting an absent key is fine
    } else
      current[kv.first] = kv.second;
  }
  return current;
}

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

value List(const std::vector<value>& data, const std::string& url, bool has_more) {
  value out = value::object();
  out["object"] = value::string("list");
  value arr = value::array();
  for (size_t i = 0; i < data.size(); ++i) arr[i] = data[i];
  out["data"] = arr;
  out["has_more"] = value::boolean(has_more);
  out["url"] = value::string(url);
  return out;
}

struct Delivery {
  std::string endpoint_id;
  std::string payload;
  int attempt = 0;
  SteadyTime due;
};

}  // namespace

struct StripeSandbox::Impl {
  StripeSandboxOptions options;
  const Clock& clock;
  DropProxy proxy;
  ListenerPtr listener;
  int port = 0;

  mutable std::mutex mu;
  // kind ("customer", ...) → id → object, plus creation order for lists (newest first).
  std::map<std::string, std::unordered_map<std::string, value>> objects;
  std::map<std::string, std::vector<std::string>> order;
  std::map<std::string, std::string> kind_of;  // id → kind
  std::map<std::string, std::string> secrets;  // webhook endpoint id → whsec
  int64_t seq = 0;
  struct Idem {
    std::string fingerprint;
    Reply reply;
    int64_t saved_ms = 0;  // by the sandbox clock; forgotten after options.idempotency_ttl_ms
  };
  std::unordered_map<std::string, Idem> idempotency;
  FaultSet faults;
  int64_t request_count = 0, rate_limited_count = 0, window_start_ms = 0, window_count = 0;
  std::string current_request_id, current_idem_key;

  std::mutex delivery_mu;
  std::condition_variable delivery_cv;
  std::deque<Delivery> deliveries;  // GUARDED_BY(delivery_mu)
  int in_flight = 0;                // GUARDED_BY(delivery_mu)
  bool stopping = false;            // GUARDED_BY(delivery_mu)
  std::atomic<int64_t> delivery_attempts{0};
  std::thread deliverer;

  Impl(StripeSandboxOptions o, const Clock& c) : options(std::move(o)), clock(c) {}

  int64_t Now() const { return ToEpochMillis(clock.Now()) / 1000; }

  std::string NewId(const std::string& prefix) {
    static const char* kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int64_t n = ++seq;
    std::string body(14, '0');
    for (int i = 13; i >= 0 && n > 0; --i) {
      body[static_cast<size_t>(i)] = kDigits[n % 62];
      n /= 62;
    }
    return prefix + "_Sbx" + body;
  }

  value* Find(const std::string& kind, const std::string& id) {
    auto& m = objects[kind];
    auto it = m.find(id);
    return it == m.end() ? nullptr : &it->second;
  }

  value& Store(const std::string& kind, value obj) {
    const std::string id = obj.at("id").as_string();
    auto& m = objects[kind];
    if (!m.count(id)) order[kind].push_back(id);
    kind_of[id] = kind;
    return m[id] = std::move(obj);
  }

  // --- events and webhooks ---

  void Emit(const std::string& type, const value& object, const value& previous = value::null()) {
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

  void DeliveryLoop() {
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

  // --- object builders ---

  value ExpandPrice(const std::string& id) {
    value* p = Find("price", id);
    return p ? *p : value::string(id);
  }

  value NewCustomer(const value& p) {
    CheckKnown(p, {"name", "email", "phone", "description", "address", "metadata", "currency",
                   "invoice_prefix", "expand"});
    value c = value::object();
    c["id"] = value::string(NewId("cus"));
    c["object"] = value::string("customer");
    c["address"] = value::null();
    c["balance"] = value::number(0);
    c["created"] = value::number(Now());
    c["currency"] = value::null();
    c["default_source"] = value::null();
    c["delinquent"] = value::boolean(false);
    c["description"] = value::null();
    c["discount"] = value::null();
    c["email"] = value::null();
    c["invoice_prefix"] = value::string("SBX" + std::to_string(seq % 100000));
    value settings = value::object();
    settings["custom_fields"] = value::null();
    settings["default_payment_method"] = value::null();
    settings["footer"] = value::null();
    settings["rendering_options"] = value::null();
    c["invoice_settings"] = settings;
    c["livemode"] = value::boolean(false);
    c["metadata"] = value::object();
    c["name"] = value::null();
    c["next_invoice_sequence"] = value::number(1);
    c["phone"] = value::null();
    c["preferred_locales"] = value::array();
    c["shipping"] = value::null();
    c["tax_exempt"] = value::string("none");
    c["test_clock"] = value::null();
    ApplyCustomer(c, p);
    return c;
  }

  void ApplyCustomer(value& c, const value& p) {
    for (const char* k : {"name", "email", "phone", "description", "currency"})
      if (Has(p, k)) c[k] = Str(p, k).empty() ? value::null() : value::string(Str(p, k));
    if (Has(p, "address")) {
      const value& a = p.at("address");
      value addr = c.at("address").is_object() ? c.at("address") : value::object();
      for (const char* k : {"line1", "line2", "city", "state", "postal_code", "country"}) {
        if (!addr.has_field(k)) addr[k] = value::null();
        if (a.is_object() && a.has_field(k))
          addr[k] = Str(a, k).empty() ? value::null() : value::string(Str(a, k));
      }
      c["address"] = addr;
    }
    c["metadata"] = Metadata(p, c.at("metadata"));
  }

  value NewProduct(const value& p) {
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

  value NewPrice(const value& p) {
    CheckKnown(p, {"product", "currency", "unit_amount", "recurring", "nickname", "active",
                   "metadata", "expand", "lookup_key"});
    if (Str(p, "product").empty()) ThrowMissingParam("product");
    if (Str(p, "currency").empty()) ThrowMissingParam("currency");
    if (!Has(p, "unit_amount")) ThrowMissingParam("unit_amount");
    if (!Find("product", Str(p, "product")))
      throw BadRequest{Missing("product", Str(p, "product"))};
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

  int64_t PeriodSeconds(const value& price) {
    const value& r = price.at("recurring");
    if (!r.is_object()) return 30 * kDay;
    const std::string i = r.at("interval").as_string();
    const int64_t n = r.at("interval_count").as_number().to_int64();
    if (i == "day") return n * kDay;
    if (i == "week") return n * 7 * kDay;
    if (i == "year") return n * 365 * kDay;
    return n * 30 * kDay;
  }

  value NewItem(const std::string& sub_id, const value& spec) {
    const std::string price_id = Str(spec, "price");
    if (price_id.empty()) ThrowMissingParam("items[0][price]");
    value* price = Find("price", price_id);
    if (!price) throw BadRequest{Missing("price", price_id)};
    if (!price->at("recurring").is_object())
      ThrowInvalid("price",
                   "The price specified is set to `type=one_time` but this field only accepts "
                   "prices with `type=recurring`.");
    value item = value::object();
    item["id"] = value::string(NewId("si"));
    item["object"] = value::string("subscription_item");
    item["billing_thresholds"] = value::null();
    item["created"] = value::number(Now());
    item["metadata"] = Metadata(spec);
    item["price"] = *price;
    item["quantity"] = value::number(Int(spec, "quantity", 1));
    item["subscription"] = value::string(sub_id);
    item["tax_rates"] = value::array();
    kind_of[item.at("id").as_string()] = "subscription_item";
    return item;
  }

  void RefreshItems(value& sub) {
    value& items = sub["items"];
    items["total_count"] = value::number(static_cast<int64_t>(items.at("data").size()));
  }

  value* FindItem(const std::string& item_id, value** sub_out) {
    for (auto& [id, sub] : objects["subscription"]) {
      auto& data = sub["items"]["data"];
      for (size_t i = 0; i < data.size(); ++i) {
        if (data[i].at("id").as_string() == item_id) {
          *sub_out = &sub;
          return &data[i];
        }
      }
    }
    return nullptr;
  }

  value Charge(const value& invoice, bool succeed) {
    value ch = value::object();
    ch["id"] = value::string(NewId("ch"));
    ch["object"] = value::string("charge");
    ch["amount"] = invoice.at("amount_due");
    ch["amount_captured"] = succeed ? invoice.at("amount_due") : value::number(0);
    ch["amount_refunded"] = value::number(0);
    value bd = value::object();
    bd["address"] = value::null();
    bd["email"] = value::null();
    bd["name"] = value::null();
    bd["phone"] = value::null();
    ch["billing_details"] = bd;
    ch["captured"] = value::boolean(succeed);
    ch["created"] = value::number(Now());
    ch["currency"] = invoice.at("currency");
    ch["customer"] = invoice.at("customer");
    ch["description"] = value::null();
    ch["disputed"] = value::boolean(false);
    ch["failure_code"] = succeed ? value::null() : value::string("card_declined");
    ch["failure_message"] = succeed ? value::null() : value::string("Your card was declined.");
    ch["invoice"] = invoice.at("id");
    ch["livemode"] = value::boolean(false);
    ch["metadata"] = value::object();
    ch["paid"] = value::boolean(succeed);
    ch["refunded"] = value::boolean(false);
    ch["status"] = value::string(succeed ? "succeeded" : "failed");
    return ch;
  }

  // Creates, finalizes and pays (or fails) one invoice of `customer` for `sub` (may be null)
  // and every pending invoice item. Returns false when there was nothing to bill.
  bool Invoice(const std::string& customer, value* sub, bool succeed, const std::string& reason) {
    std::vector<value> lines;
    int64_t total = 0;
    std::string currency = "usd";
    int64_t period_start = Now(), period_end = Now();
    const std::string invoice_id = NewId("in");
    if (sub) {
      period_start = sub->at("current_period_start").as_number().to_int64();
      period_end = sub->at("current_period_end").as_number().to_int64();
      for (const auto& item : sub->at("items").at("data").as_array()) {
        const value& price = item.at("price");
        const int64_t amount = price.at("unit_amount").as_number().to_int64() *
                               item.at("quantity").as_number().to_int64();
        currency = price.at("currency").as_string();
        value line = value::object();
        line["id"] = value::string(NewId("il"));
        line["object"] = value::string("line_item");
        line["amount"] = value::number(amount);
        line["currency"] = value::string(currency);
        line["description"] = value::string(item.at("quantity").serialize() + " x " +
                                            price.at("product").as_string());
        line["discountable"] = value::boolean(true);
        line["livemode"] = value::boolean(false);
        line["metadata"] = value::object();
        value period = value::object();
        period["start"] = value::number(period_start);
        period["end"] = value::number(period_end);
        line["period"] = period;
        line["price"] = price;
        line["proration"] = value::boolean(false);
        line["quantity"] = item.at("quantity");
        line["subscription"] = sub->at("id");
        line["subscription_item"] = item.at("id");
        line["type"] = value::string("subscription");
        lines.push_back(line);
        total += amount;
      }
    }
    for (const auto& id : order["invoiceitem"]) {
      value* ii = Find("invoiceitem", id);
      if (!ii || !ii->at("invoice").is_null() || ii->at("customer").as_string() != customer)
        continue;
      if (sub && ii->at("subscription").is_string() &&
          ii->at("subscription").as_string() != sub->at("id").as_string())
        continue;
      (*ii)["invoice"] = value::string(invoice_id);
      const int64_t amount = ii->at("amount").as_number().to_int64();
      currency = ii->at("currency").as_string();
      value line = value::object();
      line["id"] = value::string(NewId("il"));
      line["object"] = value::string("line_item");
      line["amount"] = value::number(amount);
      line["currency"] = ii->at("currency");
      line["description"] = ii->at("description");
      line["discountable"] = value::boolean(true);
      line["invoice_item"] = ii->at("id");
      line["livemode"] = value::boolean(false);
      line["metadata"] = ii->at("metadata");
      line["period"] = ii->at("period");
      line["proration"] = value::boolean(false);
      line["quantity"] = value::number(1);
      line["type"] = value::string("invoiceitem");
      lines.push_back(line);
      total += amount;
    }
    if (lines.empty()) return false;
    value* cust = Find("customer", customer);
    value in = value::object();
    in["id"] = value::string(invoice_id);
    in["object"] = value::string("invoice");
    for (const char* k : {"account_country",
                          "account_name",
                          "account_tax_ids",
                          "application",
                          "application_fee_amount",
                          "charge",
                          "custom_fields",
                          "customer_address",
                          "customer_phone",
                          "customer_shipping",
                          "default_payment_method",
                          "default_source",
                          "description",
                          "discount",
                          "due_date",
                          "footer",
                          "from_invoice",
                          "last_finalization_error",
                          "latest_revision",
                          "next_payment_attempt",
                          "on_behalf_of",
                          "payment_intent",
                          "quote",
                          "receipt_number",
                          "rendering_options",
                          "shipping_cost",
                          "shipping_details",
                          "statement_descriptor",
                          "tax",
                          "test_clock",
                          "transfer_data"})
      in[k] = value::null();
    in["amount_due"] = value::number(total);
    in["amount_paid"] = value::number(0);
    in["amount_remaining"] = value::number(total);
    in["amount_shipping"] = value::number(0);
    in["attempt_count"] = value::number(0);
    in["attempted"] = value::boolean(false);
    in["auto_advance"] = value::boolean(true);
    value tax = value::object();
    tax["enabled"] = value::boolean(false);
    tax["status"] = value::null();
    in["automatic_tax"] = tax;
    in["billing_reason"] = value::string(reason);
    in["collection_method"] = value::string("charge_automatically");
    in["created"] = value::number(Now());
    in["currency"] = value::string(currency);
    in["customer"] = value::string(customer);
    // As Stripe does: the first invoice fixes the currency the customer is billed in.
    if (cust && cust->at("currency").is_null()) (*cust)["currency"] = value::string(currency);
    in["customer_email"] = cust ? cust->at("email") : value::null();
    in["customer_name"] = cust ? cust->at("name") : value::null();
    in["customer_tax_exempt"] = value::string("none");
    in["customer_tax_ids"] = value::array();
    in["default_tax_rates"] = value::array();
    in["discounts"] = value::array();
    in["effective_at"] = value::null();
    in["ending_balance"] = value::null();
    in["hosted_invoice_url"] = value::null();
    in["invoice_pdf"] = value::null();
    in["lines"] = List(lines, "/v1/invoices/" + invoice_id + "/lines", false);
    in["lines"]["total_count"] = value::number(static_cast<int64_t>(lines.size()));
    in["livemode"] = value::boolean(false);
    in["metadata"] = value::object();
    in["number"] = value::null();
    in["paid"] = value::boolean(false);
    in["paid_out_of_band"] = value::boolean(false);
    value ps = value::object();
    ps["default_mandate"] = value::null();
    ps["payment_method_options"] = value::null();
    ps["payment_method_types"] = value::null();
    in["payment_settings"] = ps;
    in["period_end"] = value::number(period_end);
    in["period_start"] = value::number(period_start);
    in["post_payment_credit_notes_amount"] = value::number(0);
    in["pre_payment_credit_notes_amount"] = value::number(0);
    in["starting_balance"] = value::number(0);
    value st = value::object();
    st["finalized_at"] = value::null();
    st["marked_uncollectible_at"] = value::null();
    st["paid_at"] = value::null();
    st["voided_at"] = value::null();
    in["status_transitions"] = st;
    in["status"] = value::string("draft");
    in["subscription"] = sub ? sub->at("id") : value::null();
    in["subtotal"] = value::number(total);
    in["subtotal_excluding_tax"] = value::number(total);
    in["total"] = value::number(total);
    in["total_discount_amounts"] = value::array();
    in["total_excluding_tax"] = value::number(total);
    in["total_tax_amounts"] = value::array();
    in["webhooks_delivered_at"] = value::null();
    Emit("invoice.created", Store("invoice", in));

    value& stored = *Find("invoice", invoice_id);
    stored["status"] = value::string("open");
    stored["number"] = value::string("SBX-" + std::to_string(seq));
    stored["effective_at"] = value::number(Now());
    stored["status_transitions"]["finalized_at"] = value::number(Now());
    stored["hosted_invoice_url"] = value::string("https://invoice.stripe.com/i/" + invoice_id);
    Emit("invoice.finalized", stored);

    stored["attempt_count"] = value::number(1);
    stored["attempted"] = value::boolean(true);
    value charge = Store("charge", Charge(stored, succeed || total == 0));
    stored["charge"] = charge.at("id");
    if (succeed || total == 0) {
      stored["status"] = value::string("paid");
      stored["paid"] = value::boolean(true);
      stored["amount_paid"] = value::number(total);
      stored["amount_remaining"] = value::number(0);
      stored["status_transitions"]["paid_at"] = value::number(Now());
      Emit("charge.succeeded", charge);
      Emit("invoice.paid", stored);
      Emit("invoice.payment_succeeded", stored);
    } else {
      Emit("charge.failed", charge);
      Emit("invoice.payment_failed", stored);
      if (value* c = Find("customer", customer); c && !c->at("delinquent").as_bool()) {
        (*c)["delinquent"] = value::boolean(true);
        value prev = value::object();
        prev["delinquent"] = value::boolean(false);
        Emit("customer.updated", *c, prev);
      }
      if (sub) {
        (*sub)["status"] = value::string("past_due");
        value prev = value::object();
        prev["status"] = value::string("active");
        Emit("customer.subscription.updated", *sub, prev);
      }
    }
    if (sub) (*sub)["latest_invoice"] = value::string(invoice_id);
    return true;
  }

  // REQUIRES: mu held.
  BillRunResult BillRunLocked(const std::string& customer, const std::vector<std::string>& fail) {
    BillRunResult result;
    current_request_id.clear();
    current_idem_key.clear();
    std::set<std::string> billed;
    for (const auto& id : std::vector<std::string>(order["subscription"])) {
      value* sub = Find("subscription", id);
      if (!sub) continue;
      const std::string st = sub->at("status").as_string();
      const std::string cust = sub->at("customer").as_string();
      if ((st != "active" && st != "past_due") || (!customer.empty() && cust != customer)) continue;
      // The next period: advance, then invoice it.
      const int64_t end = sub->at("current_period_end").as_number().to_int64();
      const value& price = sub->at("items").at("data").as_array().at(0).at("price");
      (*sub)["current_period_start"] = value::number(end);
      (*sub)["current_period_end"] = value::number(end + PeriodSeconds(price));
      const bool ok = std::find(fail.begin(), fail.end(), cust) == fail.end();
      if (Invoice(cust, sub, ok, "subscription_cycle")) {
        ++result.invoices;
        ok ? ++result.paid : ++result.failed;
      }
      billed.insert(cust);
    }
    // Pending one-time charges of customers without an active subscription.
    for (const auto& id : std::vector<std::string>(order["customer"])) {
      if (billed.count(id) || (!customer.empty() && id != customer)) continue;
      const bool ok = std::find(fail.begin(), fail.end(), id) == fail.end();
      if (Invoice(id, nullptr, ok, "manual")) {
        ++result.invoices;
        ok ? ++result.paid : ++result.failed;
      }
    }
    return result;
  }

  // --- lists ---

  Reply ListOf(const std::string& kind, const value& q, const std::string& url,
               const std::function<bool(const value&)>& keep) {
    int64_t limit = Int(q, "limit", 10);
    if (limit < 1 || limit > 100)
      ThrowInvalid("limit", "This value must be between 1 and 100 (it currently is " +
                                std::to_string(limit) + ")");
    const std::string after = Str(q, "starting_after");
    const std::string before = Str(q, "ending_before");
    const auto& ids = order[kind];
    std::vector<value> data;
    if (!before.empty()) {
      // The `limit` objects just newer than `before`, newest first (Stripe's backward page).
      if (!Find(kind, before)) throw BadRequest{Missing(kind, before)};
      auto at = std::find(ids.begin(), ids.end(), before);
      std::vector<value> newer;
      bool more = false;
      for (auto it = at + 1; it != ids.end(); ++it) {
        const value* obj = Find(kind, *it);
        if (!obj || !keep(*obj)) continue;
        if (static_cast<int64_t>(newer.size()) == limit) {
          more = true;
          break;
        }
        newer.push_back(Expand(*obj, q, true));
      }
      std::reverse(newer.begin(), newer.end());
      return Reply{200, List(newer, url, more), {}};
    }
    bool started = after.empty(), has_more = false;
    if (!after.empty() && !Find(kind, after)) throw BadRequest{Missing(kind, after)};
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {  // newest first
      if (!started) {
        started = *it == after;
        continue;
      }
      const value* obj = Find(kind, *it);
      if (!obj || !keep(*obj)) continue;
      if (static_cast<int64_t>(data.size()) == limit) {
        has_more = true;
        break;
      }
      data.push_back(Expand(*obj, q, true));
    }
    return Reply{200, List(data, url, has_more), {}};
  }

  value Expand(value obj, const value& q, bool in_list) {
    if (!Has(q, "expand") || !q.at("expand").is_array()) return obj;
    for (const auto& e : q.at("expand").as_array()) {
      std::string path = e.as_string();
      if (in_list && path.rfind("data.", 0) == 0) path = path.substr(5);
      if (obj.has_field(path) && obj.at(path).is_string()) {
        const std::string id = obj.at(path).as_string();
        auto k = kind_of.find(id);
        if (k != kind_of.end())
          if (value* target = Find(k->second, id)) obj[path] = *target;
      }
    }
    return obj;
  }
};

namespace {

class Handler {
 public:
  Handler(StripeSandbox::Impl& s, const std::string& method, const std::vector<std::string>& seg,
          const value& params, const std::string& url)
      : s_(s), method_(method), seg_(seg), p_(params), url_(url) {}

  Reply Serve();

 private:
  Reply Customers();
  Reply Products();
  Reply Prices();
  Reply Subscriptions();
  Reply SubscriptionItems();
  Reply InvoiceItems();
  Reply Invoices();
  Reply Charges();
  Reply Events();
  Reply WebhookEndpoints();
  Reply Ok(const value& v) { return Reply{200, v, {}}; }
  Reply Get(const std::string& kind, const std::string& id) {
    value* o = s_.Find(kind, id);
    if (!o) return Missing(kind, id);
    return Ok(s_.Expand(*o, p_, false));
  }
  Reply SubscriptionUpdate(value& sub);

  StripeSandbox::Impl& s_;
  const std::string method_;
  const std::vector<std::string> seg_;
  const value& p_;
  const std::string url_;
};

Reply Handler::Customers() {
  if (seg_.size() == 2 && method_ == "POST") {
    value c = s_.NewCustomer(p_);
    s_.Emit("customer.created", s_.Store("customer", c));
    return Ok(c);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string email = Str(p_, "email");
    return s_.ListOf("customer", p_, "/v1/customers", [&](const value& c) {
      return email.empty() || (c.at("email").is_string() && c.at("email").as_string() == email);
    });
  }
  if (seg_.size() == 3 && seg_[2] == "search" && method_ == "GET") {
    // query: clause (AND clause)*, clause = field:'value' | metadata['key']:'value'
    const std::string q = Str(p_, "query");
    if (q.empty()) ThrowMissingParam("query");
    std::vector<std::pair<std::string, std::string>> clauses;
    size_t i = 0;
    auto skip_space = [&] {
      while (i < q.size() && q[i] == ' ') ++i;
    };
    while (i < q.size()) {
      skip_space();
      std::string field;
      if (q.compare(i, 10, "metadata['") == 0) {
        const auto end = q.find("']", i + 10);
        if (end == std::string::npos) ThrowInvalid("query", "Invalid search query");
        field = "metadata." + q.substr(i + 10, end - i - 10);
        i = end + 2;
      } else {
        const auto colon = q.find(':', i);
        if (colon == std::string::npos) ThrowInvalid("query", "Invalid search query");
        field = q.substr(i, colon - i);
        i = colon;
      }
      if (i >= q.size() || q[i] != ':' || i + 1 >= q.size() || q[i + 1] != '\'')
        ThrowInvalid("query", "Invalid search query: expected :'value'");
      i += 2;
      std::string v;
      while (i < q.size() && q[i] != '\'') {
        if (q[i] == '\\' && i + 1 < q.size()) ++i;
        v.push_back(q[i++]);
      }
      if (i >= q.size()) ThrowInvalid("query", "Invalid search query: unterminated string");
      ++i;
      clauses.emplace_back(field, v);
      skip_space();
      if (i < q.size()) {
        if (q.compare(i, 3, "AND") != 0)
          ThrowInvalid("query", "Only AND is supported in the sandbox");
        i += 3;
      }
    }
    std::vector<value> data;
    for (auto it = s_.order["customer"].rbegin(); it != s_.order["customer"].rend(); ++it) {
      const value* c = s_.Find("customer", *it);
      if (!c) continue;
      bool match = true;
      for (const auto& [field, v] : clauses) {
        if (field.rfind("metadata.", 0) == 0) {
          const std::string k = field.substr(9);
          const value& m = c->at("metadata");
          match = match && m.has_field(k) && m.at(k).as_string() == v;
        } else {
          match = match && c->has_field(field) && c->at(field).is_string() &&
                  c->at(field).as_string() == v;
        }
      }
      if (match) data.push_back(*c);
    }
    value out = value::object();
    out["object"] = value::string("search_result");
    value arr = value::array();
    for (size_t k = 0; k < data.size() && k < 100; ++k) arr[k] = data[k];
    out["data"] = arr;
    out["has_more"] = value::boolean(data.size() > 100);
    out["next_page"] = value::null();
    out["url"] = value::string("/v1/customers/search");
    return Ok(out);
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  value* c = s_.Find("customer", seg_[2]);
  if (!c) return Missing("customer", seg_[2]);
  if (method_ == "GET") return Ok(s_.Expand(*c, p_, false));
  if (method_ == "POST") {
    CheckKnown(
        p_, {"name", "email", "phone", "description", "address", "metadata", "currency", "expand"});
    value before = *c;
    s_.ApplyCustomer(*c, p_);
    value prev = value::object();
    for (const auto& kv : c->as_object())
      if (!before.has_field(kv.first) || before.at(kv.first) != kv.second)
        prev[kv.first] = before.has_field(kv.first) ? before.at(kv.first) : value::null();
    if (prev.size() > 0) s_.Emit("customer.updated", *c, prev);
    return Ok(*c);
  }
  if (method_ == "DELETE") {
    value gone = value::object();
    gone["id"] = value::string(seg_[2]);
    gone["object"] = value::string("customer");
    gone["deleted"] = value::boolean(true);
    s_.Emit("customer.deleted", *c);
    s_.objects["customer"].erase(seg_[2]);
    return Ok(gone);
  }
  return Missing("resource", url_);
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

Reply Handler::SubscriptionUpdate(value& sub) {
  CheckKnown(p_, {"items", "cancel_at", "cancel_at_period_end", "trial_end", "proration_behavior",
                  "metadata", "expand", "description"});
  if (sub.at("status").as_string() == "canceled")
    return StripeError(
        400, "invalid_request_error", "resource_missing",
        "A canceled subscription can only update its cancellation_details and metadata.");
  value prev = value::object();
  if (Has(p_, "items")) {
    prev["items"] = sub.at("items");
    for (const auto& spec : p_.at("items").as_array()) {
      const std::string item_id = Str(spec, "id");
      auto& data = sub["items"]["data"];
      if (item_id.empty()) {
        data[data.size()] = s_.NewItem(sub.at("id").as_string(), spec);
        continue;
      }
      bool found = false;
      for (size_t i = 0; i < data.size(); ++i) {
        if (data[i].at("id").as_string() != item_id) continue;
        found = true;
        if (Bool(spec, "deleted")) {
          value rest = value::array();
          size_t k = 0;
          for (size_t j = 0; j < data.size(); ++j)
            if (j != i) rest[k++] = data[j];
          data = rest;
          break;
        }
        if (Has(spec, "quantity")) data[i]["quantity"] = value::number(Int(spec, "quantity"));
        if (Has(spec, "price")) {
          value* price = s_.Find("price", Str(spec, "price"));
          if (!price) throw BadRequest{Missing("price", Str(spec, "price"))};
          data[i]["price"] = *price;
        }
        if (Has(spec, "metadata")) data[i]["metadata"] = Metadata(spec, data[i].at("metadata"));
        break;
      }
      if (!found) return Missing("subscription_item", item_id);
    }
    s_.RefreshItems(sub);
  }
  if (Has(p_, "cancel_at")) {
    prev["cancel_at"] = sub.at("cancel_at");
    sub["cancel_at"] =
        Str(p_, "cancel_at").empty() ? value::null() : value::number(Int(p_, "cancel_at"));
  }
  if (Has(p_, "cancel_at_period_end")) {
    prev["cancel_at_period_end"] = sub.at("cancel_at_period_end");
    sub["cancel_at_period_end"] = value::boolean(Bool(p_, "cancel_at_period_end"));
  }
  if (Has(p_, "metadata")) {
    prev["metadata"] = sub.at("metadata");
    sub["metadata"] = Metadata(p_, sub.at("metadata"));
  }
  bool started = false;
  if (Has(p_, "trial_end")) {
    prev["trial_end"] = sub.at("trial_end");
    prev["status"] = sub.at("status");
    if (Str(p_, "trial_end") == "now") {
      sub["trial_end"] = value::number(s_.Now());
      started = sub.at("status").as_string() == "trialing";
      sub["status"] = value::string("active");
      sub["current_period_start"] = value::number(s_.Now());
      const value& first_price = sub.at("items").at("data").as_array().at(0).at("price");
      sub["current_period_end"] = value::number(s_.Now() + s_.PeriodSeconds(first_price));
    } else {
      sub["trial_end"] = value::number(Int(p_, "trial_end"));
    }
  }
  s_.Emit("customer.subscription.updated", sub, prev);
  if (started) s_.Invoice(sub.at("customer").as_string(), &sub, true, "subscription_update");
  return Ok(s_.Expand(sub, p_, false));
}

Reply Handler::Subscriptions() {
  if (seg_.size() == 2 && method_ == "POST") {
    CheckKnown(p_, {"customer", "items", "cancel_at", "backdate_start_date", "trial_end",
                    "proration_behavior", "metadata", "expand", "description", "collection_method",
                    "payment_behavior", "cancel_at_period_end"});
    const std::string customer = Str(p_, "customer");
    if (customer.empty()) ThrowMissingParam("customer");
    if (!s_.Find("customer", customer)) throw BadRequest{Missing("customer", customer)};
    if (!Has(p_, "items") || !p_.at("items").is_array() || p_.at("items").size() == 0)
      ThrowMissingParam("items");
    value sub = value::object();
    const std::string id = s_.NewId("sub");
    const int64_t now = s_.Now();
    const int64_t start = Has(p_, "backdate_start_date") ? Int(p_, "backdate_start_date") : now;
    value items = value::array();
    size_t n = 0;
    for (const auto& spec : p_.at("items").as_array()) items[n++] = s_.NewItem(id, spec);
    const value& first_price = items[0].at("price");
    sub["id"] = value::string(id);
    sub["object"] = value::string("subscription");
    for (const char* k : {"application",
                          "application_fee_percent",
                          "billing_thresholds",
                          "canceled_at",
                          "days_until_due",
                          "default_payment_method",
                          "default_source",
                          "description",
                          "discount",
                          "ended_at",
                          "latest_invoice",
                          "next_pending_invoice_item_invoice",
                          "on_behalf_of",
                          "pause_collection",
                          "pending_invoice_item_interval",
                          "pending_setup_intent",
                          "pending_update",
                          "schedule",
                          "test_clock",
                          "transfer_data",
                          "trial_end",
                          "trial_start"})
      sub[k] = value::null();
    value tax = value::object();
    tax["enabled"] = value::boolean(false);
    sub["automatic_tax"] = tax;
    sub["billing_cycle_anchor"] = value::number(start);
    sub["cancel_at"] = Has(p_, "cancel_at") && !Str(p_, "cancel_at").empty()
                           ? value::number(Int(p_, "cancel_at"))
                           : value::null();
    sub["cancel_at_period_end"] = value::boolean(Bool(p_, "cancel_at_period_end"));
    value details = value::object();
    details["comment"] = value::null();
    details["feedback"] = value::null();
    details["reason"] = value::null();
    sub["cancellation_details"] = details;
    sub["collection_method"] = value::string("charge_automatically");
    sub["created"] = value::number(now);
    sub["currency"] = first_price.at("currency");
    sub["current_period_start"] = value::number(start);
    sub["current_period_end"] = value::number(start + s_.PeriodSeconds(first_price));
    sub["customer"] = value::string(customer);
    sub["default_tax_rates"] = value::array();
    sub["items"] = List({}, "/v1/subscription_items?subscription=" + id, false);
    sub["items"]["data"] = items;
    sub["livemode"] = value::boolean(false);
    sub["metadata"] = Metadata(p_);
    value ps = value::object();
    ps["payment_method_options"] = value::null();
    ps["payment_method_types"] = value::null();
    ps["save_default_payment_method"] = value::string("off");
    sub["payment_settings"] = ps;
    sub["start_date"] = value::number(start);
    const bool trialing =
        Has(p_, "trial_end") && Str(p_, "trial_end") != "now" && Int(p_, "trial_end") > now;
    if (trialing) {
      sub["trial_start"] = value::number(now);
      sub["trial_end"] = value::number(Int(p_, "trial_end"));
    }
    sub["status"] = value::string(trialing ? "trialing" : "active");
    s_.RefreshItems(sub);
    value& stored = s_.Store("subscription", sub);
    s_.Emit("customer.subscription.created", stored);
    if (!trialing) s_.Invoice(customer, &stored, true, "subscription_create");
    return Ok(s_.Expand(stored, p_, false));
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer"), status = Str(p_, "status");
    return s_.ListOf("subscription", p_, "/v1/subscriptions", [&](const value& o) {
      const std::string st = o.at("status").as_string();
      return (customer.empty() || o.at("customer").as_string() == customer) &&
             (status == "all"  ? true
              : status.empty() ? st != "canceled"
                               : st == status);
    });
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  value* sub = s_.Find("subscription", seg_[2]);
  if (!sub) return Missing("subscription", seg_[2]);
  if (method_ == "GET") return Ok(s_.Expand(*sub, p_, false));
  if (method_ == "POST") return SubscriptionUpdate(*sub);
  if (method_ == "DELETE") {
    if ((*sub)["status"].as_string() != "canceled") {
      value prev = value::object();
      prev["status"] = sub->at("status");
      (*sub)["status"] = value::string("canceled");
      (*sub)["canceled_at"] = value::number(s_.Now());
      (*sub)["ended_at"] = value::number(s_.Now());
      s_.Emit("customer.subscription.deleted", *sub, prev);
    }
    return Ok(*sub);
  }
  return Missing("resource", url_);
}

Reply Handler::SubscriptionItems() {
  if (seg_.size() == 2 && method_ == "POST") {
    CheckKnown(p_,
               {"subscription", "price", "quantity", "metadata", "proration_behavior", "expand"});
    const std::string sub_id = Str(p_, "subscription");
    if (sub_id.empty()) ThrowMissingParam("subscription");
    value* sub = s_.Find("subscription", sub_id);
    if (!sub) return Missing("subscription", sub_id);
    for (const auto& existing : sub->at("items").at("data").as_array())
      if (existing.at("price").at("id").as_string() == Str(p_, "price"))
        return StripeError(
            400, "invalid_request_error", "",
            "Cannot add multiple subscription items with the same plan: " + Str(p_, "price"),
            "price");
    value item = s_.NewItem(sub_id, p_);
    value prev = value::object();
    prev["items"] = sub->at("items");
    auto& data = (*sub)["items"]["data"];
    data[data.size()] = item;
    s_.RefreshItems(*sub);
    s_.Emit("customer.subscription.updated", *sub, prev);
    return Ok(item);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string sub_id = Str(p_, "subscription");
    if (sub_id.empty()) ThrowMissingParam("subscription");
    value* sub = s_.Find("subscription", sub_id);
    if (!sub) return Missing("subscription", sub_id);
    std::vector<value> data;
    for (const auto& i : sub->at("items").at("data").as_array()) data.push_back(i);
    return Ok(List(data, "/v1/subscription_items", false));
  }
  if (seg_.size() < 3) return Missing("resource", url_);
  value* sub = nullptr;
  value* item = s_.FindItem(seg_[2], &sub);
  if (!item) return Missing("subscription_item", seg_[2]);
  if (seg_.size() == 4 && seg_[3] == "usage_records" && method_ == "POST") {
    CheckKnown(p_, {"quantity", "timestamp", "action"});
    if (!Has(p_, "quantity")) ThrowMissingParam("quantity");
    const std::string action = Has(p_, "action") ? Str(p_, "action") : "increment";
    if (action != "increment" && action != "set")
      ThrowInvalid("action", "Invalid action: " + action);
    value u = value::object();
    u["id"] = value::string(s_.NewId("mbur"));
    u["object"] = value::string("usage_record");
    u["livemode"] = value::boolean(false);
    u["quantity"] = value::number(Int(p_, "quantity"));
    u["subscription_item"] = value::string(seg_[2]);
    u["timestamp"] = value::number(Has(p_, "timestamp") ? Int(p_, "timestamp") : s_.Now());
    s_.Store("usage_record", u);
    return Ok(u);
  }
  if (seg_.size() != 3) return Missing("resource", url_);
  if (method_ == "GET") return Ok(*item);
  if (method_ == "POST") {
    CheckKnown(p_, {"quantity", "price", "metadata", "proration_behavior", "expand"});
    value prev = value::object();
    prev["items"] = sub->at("items");
    if (Has(p_, "quantity")) (*item)["quantity"] = value::number(Int(p_, "quantity"));
    if (Has(p_, "price")) {
      value* price = s_.Find("price", Str(p_, "price"));
      if (!price) return Missing("price", Str(p_, "price"));
      (*item)["price"] = *price;
    }
    if (Has(p_, "metadata")) (*item)["metadata"] = Metadata(p_, item->at("metadata"));
    value copy = *item;
    s_.Emit("customer.subscription.updated", *sub, prev);
    return Ok(copy);
  }
  if (method_ == "DELETE") {
    if (sub->at("items").at("data").size() <= 1)
      return StripeError(400, "invalid_request_error", "",
                         "A subscription must have at least one active plan. To cancel a "
                         "subscription, please use the cancel API endpoint on /v1/subscriptions.");
    value prev = value::object();
    prev["items"] = sub->at("items");
    auto& data = (*sub)["items"]["data"];
    value rest = value::array();
    size_t k = 0;
    for (size_t j = 0; j < data.size(); ++j)
      if (data[j].at("id").as_string() != seg_[2]) rest[k++] = data[j];
    data = rest;
    s_.RefreshItems(*sub);
    s_.Emit("customer.subscription.updated", *sub, prev);
    value gone = value::object();
    gone["id"] = value::string(seg_[2]);
    gone["object"] = value::string("subscription_item");
    gone["deleted"] = value::boolean(true);
    return Ok(gone);
  }
  return Missing("resource", url_);
}

Reply Handler::InvoiceItems() {
  if (seg_.size() == 2 && method_ == "POST") {
    CheckKnown(p_, {"customer", "amount", "currency", "description", "subscription", "metadata",
                    "price", "quantity", "expand"});
    const std::string customer = Str(p_, "customer");
    if (customer.empty()) ThrowMissingParam("customer");
    if (!s_.Find("customer", customer)) return Missing("customer", customer);
    if (!Has(p_, "amount")) ThrowMissingParam("amount");
    if (Str(p_, "currency").empty()) ThrowMissingParam("currency");
    const std::string sub = Str(p_, "subscription");
    if (!sub.empty() && !s_.Find("subscription", sub)) return Missing("subscription", sub);
    value ii = value::object();
    const int64_t amount = Int(p_, "amount");
    ii["id"] = value::string(s_.NewId("ii"));
    ii["object"] = value::string("invoiceitem");
    ii["amount"] = value::number(amount);
    // Stripe keeps currencies in lower case, whatever case they were sent in.
    std::string ii_currency = Str(p_, "currency");
    std::transform(ii_currency.begin(), ii_currency.end(), ii_currency.begin(), ::tolower);
    ii["currency"] = value::string(ii_currency);
    ii["customer"] = value::string(customer);
    ii["date"] = value::number(s_.Now());
    ii["description"] =
        Str(p_, "description").empty() ? value::null() : value::string(Str(p_, "description"));
    ii["discountable"] = value::boolean(true);
    ii["discounts"] = value::array();
    ii["invoice"] = value::null();
    ii["livemode"] = value::boolean(false);
    ii["metadata"] = Metadata(p_);
    value period = value::object();
    period["start"] = value::number(s_.Now());
    period["end"] = value::number(s_.Now());
    ii["period"] = period;
    ii["price"] = value::null();
    ii["proration"] = value::boolean(false);
    ii["quantity"] = value::number(1);
    ii["subscription"] = sub.empty() ? value::null() : value::string(sub);
    ii["tax_rates"] = value::array();
    ii["test_clock"] = value::null();
    ii["unit_amount"] = value::number(amount);
    ii["unit_amount_decimal"] = value::string(std::to_string(amount));
    s_.Emit("invoiceitem.created", s_.Store("invoiceitem", ii));
    return Ok(ii);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer");
    return s_.ListOf("invoiceitem", p_, "/v1/invoiceitems", [&](const value& o) {
      return customer.empty() || o.at("customer").as_string() == customer;
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("invoiceitem", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::Invoices() {
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer"), sub = Str(p_, "subscription"),
                      status = Str(p_, "status");
    return s_.ListOf("invoice", p_, "/v1/invoices", [&](const value& o) {
      return (customer.empty() || o.at("customer").as_string() == customer) &&
             (sub.empty() ||
              (o.at("subscription").is_string() && o.at("subscription").as_string() == sub)) &&
             (status.empty() || o.at("status").as_string() == status);
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("invoice", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::Charges() {
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer");
    return s_.ListOf("charge", p_, "/v1/charges", [&](const value& o) {
      return customer.empty() || o.at("customer").as_string() == customer;
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("charge", seg_[2]);
  return Missing("resource", url_);
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
  if (seg_.size() == 2 && method_ == "POST") {
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
  if (seg_.size() == 2 && method_ == "GET")
    return s_.ListOf("webhook_endpoint", p_, "/v1/webhook_endpoints",
                     [](const value&) { return true; });
  if (seg_.size() == 3 && method_ == "DELETE") {
    if (!s_.Find("webhook_endpoint", seg_[2])) return Missing("webhook_endpoint", seg_[2]);
    s_.objects["webhook_endpoint"].erase(seg_[2]);
    value gone = value::object();
    gone["id"] = value::string(seg_[2]);
    gone["object"] = value::string("webhook_endpoint");
    gone["deleted"] = value::boolean(true);
    return Ok(gone);
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("webhook_endpoint", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::Serve() {
  const std::string& r = seg_[1];
  if (r == "customers") return Customers();
  if (r == "products") return Products();
  if (r == "prices") return Prices();
  if (r == "subscriptions") return Subscriptions();
  if (r == "subscription_items") return SubscriptionItems();
  if (r == "invoiceitems") return InvoiceItems();
  if (r == "invoices") return Invoices();
  if (r == "charges") return Charges();
  if (r == "events") return Events();
  if (r == "webhook_endpoints") return WebhookEndpoints();
  return StripeError(404, "invalid_request_error", "",
                     "Unrecognized request URL (" + method_ + ": " + url_ + ").");
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(UrlDecode(path.substr(start, slash - start)));
    start = slash + 1;
  }
  return out;
}

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

}  // namespace

StripeSandbox::StripeSandbox(StripeSandboxOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

StripeSandbox::~StripeSandbox() { Stop(); }

std::string StripeSandbox::base_url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

void StripeSandbox::AddFault(const Fault& fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Add(fault);
}
void StripeSandbox::AgeIdempotencyKeys(Millis by) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& [key, idem] : impl_->idempotency) idem.saved_ms -= by.count();
}
void StripeSandbox::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Clear();
}
int64_t StripeSandbox::requests_received() const {
  return impl_->listener ? impl_->listener->received() : 0;
}
std::map<std::string, int64_t> StripeSandbox::FaultHits() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->faults.hits();
}

BillRunResult StripeSandbox::BillRun(const std::string& customer,
                                     const std::vector<std::string>& fail) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->BillRunLocked(customer, fail);
}

std::string StripeSandbox::AddWebhookEndpoint(const std::string& url) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  value params = value::object();
  params["url"] = value::string(url);
  value events = value::array();
  events[0] = value::string("*");
  params["enabled_events"] = events;
  Reply r =
      Handler(*impl_, "POST", {"v1", "webhook_endpoints"}, params, "/v1/webhook_endpoints").Serve();
  return r.body.at("secret").as_string();
}

bool StripeSandbox::FlushWebhooks(Millis timeout) {
  std::unique_lock<std::mutex> lock(impl_->delivery_mu);
  return impl_->delivery_cv.wait_for(
      lock, timeout, [&] { return impl_->deliveries.empty() && impl_->in_flight == 0; });
}

int64_t StripeSandbox::CountObjects(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->objects.find(kind);
  return it == impl_->objects.end() ? 0 : static_cast<int64_t>(it->second.size());
}
int64_t StripeSandbox::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->request_count;
}
int64_t StripeSandbox::rate_limited() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rate_limited_count;
}
int64_t StripeSandbox::webhook_deliveries() const { return impl_->delivery_attempts.load(); }
int64_t StripeSandbox::dropped_connections() const { return impl_->proxy.dropped(); }

Status StripeSandbox::Start() {
  Impl* impl = impl_.get();
  const int inner_port = FreeLoopbackPort();  // the listener cannot report its port
  auto listener =
      OpenLoopbackListener(inner_port, std::chrono::seconds(60), [impl](IncomingRequest& in) {
        const std::string& method = in.method;
        const std::string& path = in.path;
        const std::string& query = in.query;
        const std::string& body = in.body;
        wh::http_request& req = in.raw;
        auto header = [&](const std::string& name) {
          auto it = req.headers().find(name);
          return it == req.headers().end() ? std::string() : it->second;
        };
        Reply reply;
        bool lose_response = false;
        std::optional<Fault> fault;
        if (path.rfind("/v1/", 0) == 0) {
          std::lock_guard<std::mutex> lock(impl->mu);
          fault = impl->faults.Take(method, path);
        }
        if (fault && fault->latency_ms > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(fault->latency_ms));
        if (fault && fault->error_code == "LOSE_RESPONSE") lose_response = true;
        const bool fault_answers =
            fault && fault->status != 0 && fault->error_code != "LOSE_RESPONSE";
        {
          std::lock_guard<std::mutex> lock(impl->mu);
          Impl& s = *impl;
          const auto seg = Split(path);
          try {
            if (!seg.empty() && seg[0] == "__sandbox") {
              value v = body.empty() ? value::object() : value::parse(body);
              if (seg.size() == 2 && seg[1] == "bill-run" && method == "POST") {
                std::vector<std::string> fail;
                if (v.has_field("fail"))
                  for (const auto& f : v.at("fail").as_array()) fail.push_back(f.as_string());
                const auto r = s.BillRunLocked(
                    v.has_field("customer") ? v.at("customer").as_string() : "", fail);
                reply = Reply{200, value::object(), {}};
                reply.body["invoices"] = value::number(r.invoices);
                reply.body["paid"] = value::number(r.paid);
                reply.body["failed"] = value::number(r.failed);
              } else if (seg.size() == 2 && seg[1] == "faults" && method == "POST") {
                std::vector<Fault> faults;
                Status st = ParseFaults(body, &faults);
                if (!st.ok())
                  throw BadRequest{StripeError(400, "invalid_request_error", "", st.message())};
                for (const auto& f : faults) s.faults.Add(f);
                reply = Reply{200, value::object(), {}};
              } else if (seg.size() == 2 && seg[1] == "faults" && method == "DELETE") {
                s.faults.Clear();
                reply = Reply{200, value::object(), {}};
              } else if (seg.size() == 2 && seg[1] == "stats" && method == "GET") {
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
                reply = Reply{200, st, {}};
              } else if (seg.size() == 2 && seg[1] == "reset" && method == "POST") {
                s.objects.clear();
                s.order.clear();
                s.kind_of.clear();
                s.idempotency.clear();
                reply = Reply{200, value::object(), {}};
              } else {
                reply = StripeError(404, "invalid_request_error", "", "unknown sandbox endpoint");
              }
            } else if (seg.size() < 2 || seg[0] != "v1") {
              reply = StripeError(404, "invalid_request_error", "",
                                  "Unrecognized request URL (" + method + ": " + path + ").");
            } else {
              // Authentication: Bearer KEY, or Basic with KEY as the user name.
              const std::string auth = header("Authorization");
              std::string key;
              if (auth.rfind("Bearer ", 0) == 0)
                key = auth.substr(7);
              else if (auth.rfind("Basic ", 0) == 0) {
                key = Base64Decode(auth.substr(6));
                key = key.substr(0, key.find(':'));
              }
              ++s.request_count;
              const int64_t now_ms = ToEpochMillis(std::chrono::system_clock::now());
              if (now_ms - s.window_start_ms >= 1000) {
                s.window_start_ms = now_ms;
                s.window_count = 0;
              }
              if (key != s.options.api_key) {
                reply = StripeError(401, "invalid_request_error", "",
                                    key.empty()
                                        ? "You did not provide an API key."
                                        : "Invalid API Key provided: " + key.substr(0, 8) + "****");
              } else if (s.options.rate_limit_per_second > 0 &&
                         ++s.window_count > s.options.rate_limit_per_second) {
                ++s.rate_limited_count;
                reply = StripeError(429, "invalid_request_error", "rate_limit",
                                    "Request rate limit exceeded. Learn more about rate limits "
                                    "here https://stripe.com/docs/rate-limits.");
              } else if (fault_answers) {
                if (fault->error_code == "DROP_CONNECTION") {
                  reply = Reply{500, value::object(), {}};
                  lose_response = true;
                } else if (fault->status == 429) {
                  reply = StripeError(429, "invalid_request_error", "rate_limit",
                                      "Request rate limit exceeded.");
                } else {
                  reply =
                      StripeError(fault->status, "api_error", "",
                                  "An unknown error occurred (injected " + fault->error_code + ")");
                }
              } else {
                value params = DecodeForm(method == "GET" || method == "DELETE" ? query : body);
                const std::string idem = header("Idempotency-Key");
                const std::string fingerprint = method + " " + path + "?" + body;
                s.current_request_id = s.NewId("req");
                s.current_idem_key = idem;
                auto hit = idem.empty() || method != "POST" ? s.idempotency.end()
                                                            : s.idempotency.find(idem);
                const int64_t clock_ms = ToEpochMillis(s.clock.Now());
                if (hit != s.idempotency.end() &&
                    clock_ms - hit->second.saved_ms >= s.options.idempotency_ttl_ms) {
                  s.idempotency.erase(hit);  // expired: the request runs as a new one
                  hit = s.idempotency.end();
                }
                if (hit != s.idempotency.end()) {
                  if (hit->second.fingerprint != fingerprint) {
                    reply = StripeError(
                        400, "idempotency_error", "",
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than '" +
                            idem + "' if you meant to execute a different request.");
                  } else {
                    reply = hit->second.reply;
                    reply.headers.emplace_back("Idempotent-Replayed", "true");
                  }
                } else {
                  try {
                    reply = Handler(s, method, seg, params, path).Serve();
                  } catch (const BadRequest& bad) {
                    reply = bad.reply;
                  }
                  // Stripe saves the answer of any request that reached its API, errors included
                  // (not 429s or 5xx that never executed).
                  if (!idem.empty() && method == "POST" && reply.status != 429 &&
                      reply.status < 500)
                    s.idempotency[idem] = Impl::Idem{fingerprint, reply, clock_ms};
                  if (!idem.empty() && method == "POST")
                    reply.headers.emplace_back("Idempotency-Key", idem);
                }
                reply.headers.emplace_back("Request-Id", s.current_request_id);
                s.current_request_id.clear();
                s.current_idem_key.clear();
              }
            }
          } catch (const BadRequest& bad) {
            reply = bad.reply;
          } catch (const std::exception& e) {
            reply = StripeError(500, "api_error", "", std::string("sandbox error: ") + e.what());
          }
        }
        wh::http_response resp(static_cast<wh::status_code>(reply.status));
        for (const auto& [k, v] : reply.headers) resp.headers().add(k, v);
        resp.headers().add("Stripe-Version", kApiVersion);
        if (lose_response) resp.headers().add(kDropMarker, "1");
        resp.set_body(reply.body.serialize(), "application/json");
        SendReply(in, resp);
      });
  if (!listener.ok()) return listener.status().WithContext("Stripe sandbox");
  impl->listener = std::move(listener).value();
  Status st = impl->proxy.Start(impl->options.host, impl->options.port, inner_port);
  if (!st.ok()) {
    Stop();
    return st;
  }
  impl->port = impl->proxy.port();
  {
    std::lock_guard<std::mutex> lock(impl->delivery_mu);
    impl->stopping = false;
  }
  impl->deliverer = StartThread("stripe-webhooks", [impl] { impl->DeliveryLoop(); });
  return Status::Ok();
}

void StripeSandbox::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->delivery_mu);
    impl_->stopping = true;
  }
  impl_->delivery_cv.notify_all();
  if (impl_->deliverer.joinable()) impl_->deliverer.join();
  impl_->proxy.Stop();
  if (!impl_->listener) return;
  impl_->listener->Close();  // waits for handlers still running
  impl_->listener.reset();
}

}  // namespace tandem::sandbox::stripe
