// The Stripe emulator's public face (stripe_sandbox.h): starting and stopping it, and the
// calls tests make on it directly. The emulator itself is in the other files of this folder
// (internal.h lists them).
#include "sandbox/stripe/stripe_sandbox.h"

#include <chrono>

#include "sandbox/stripe/internal.h"
#include "util/thread.h"

namespace tandem::sandbox::stripe {

StripeSandbox::StripeSandbox(StripeSandboxOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

StripeSandbox::~StripeSandbox() { Stop(); }

std::string StripeSandbox::base_url() const { return impl_->front.base_url(impl_->options.host); }

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
int64_t StripeSandbox::requests_received() const { return impl_->front.received(); }
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
std::vector<std::string> StripeSandbox::Objects(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  auto objects = impl_->objects.find(kind);
  auto ids = impl_->order.find(kind);
  if (objects == impl_->objects.end() || ids == impl_->order.end()) return out;
  for (const auto& id : ids->second)
    if (auto it = objects->second.find(id); it != objects->second.end())
      out.push_back(it->second.serialize());
  return out;
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
int64_t StripeSandbox::dropped_connections() const { return impl_->front.dropped(); }

Status StripeSandbox::Start() {
  Impl* impl = impl_.get();
  Status st = impl->front.Start(
      impl->options.host, impl->options.port, std::chrono::seconds(60),
      [impl](IncomingRequest& in) { ServeRequest(*impl, in); }, "Stripe sandbox",
      impl->options.latency);
  if (!st.ok()) return st;
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
  impl_->front.Stop();
}

}  // namespace tandem::sandbox::stripe
