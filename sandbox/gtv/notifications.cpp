// GTV's Action Framework, reduced to what Tandem relies on: registered HTTP targets get a
// small JSON hint ({"type","id","billing_account_id"}) on invoice, payment and service
// changes, posted by a background thread, fire-and-forget, up to 3 attempts. A hint only:
// the receiver reads the object by id (and must work with no notifications at all).
#include <chrono>
#include <memory>
#include <unordered_map>

#include <cpprest/http_client.h>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {

namespace {
constexpr int kAttempts = 3;
}  // namespace

void GtvSandbox::Impl::Notify(const std::string& type, const std::string& id,
                              const std::string& account_id) {
  if (notifications.empty()) return;
  value body = value::object();
  body["type"] = value::string(type);
  body["id"] = value::string(id);
  body["billing_account_id"] = value::string(account_id);
  const std::string text = body.serialize();
  std::lock_guard<std::mutex> lock(out_mu);
  for (const auto& target : notifications) outgoing.push_back(Outgoing{target, text, 0});
  out_cv.notify_all();
}

void GtvSandbox::Impl::SenderLoop() {
  std::unordered_map<std::string, std::unique_ptr<wh::client::http_client>> clients;
  for (;;) {
    Outgoing o;
    {
      std::unique_lock<std::mutex> lock(out_mu);
      out_cv.wait(lock, [&] { return stopping || !outgoing.empty(); });
      if (stopping) return;
      o = std::move(outgoing.front());
      outgoing.pop_front();
    }
    bool delivered = false;
    try {
      auto& client = clients[o.target.url];
      if (!client) {
        wh::client::http_client_config cfg;
        cfg.set_timeout(std::chrono::seconds(5));
        client = std::make_unique<wh::client::http_client>(o.target.url, cfg);
      }
      wh::http_request req(wh::methods::POST);
      for (const auto& [name, val] : o.target.headers) req.headers().add(name, val);
      req.set_body(o.body, "application/json");
      auto resp = client->request(req).get();
      delivered = resp.status_code() >= 200 && resp.status_code() < 300;
    } catch (const std::exception&) {
      delivered = false;  // the receiver is down: retried below, then dropped
    }
    if (!delivered && ++o.attempt < kAttempts) {
      std::unique_lock<std::mutex> lock(out_mu);
      // A short pause before the retry; Stop() cuts it short.
      out_cv.wait_for(lock, std::chrono::milliseconds(100 << o.attempt), [&] { return stopping; });
      if (stopping) return;
      outgoing.push_back(std::move(o));
    }
  }
}

}  // namespace tandem::sandbox::gtv
