// The GTV emulator's public face (gtv_sandbox.h): starting and stopping it, and the calls
// tests make on it directly. The emulator itself is in the other files of this folder
// (internal.h lists them).
#include "sandbox/gtv/gtv_sandbox.h"

#include <chrono>

#include "sandbox/gtv/internal.h"
#include "util/thread.h"

namespace tandem::sandbox::gtv {

GtvSandbox::GtvSandbox(GtvSandboxOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

GtvSandbox::~GtvSandbox() { Stop(); }

std::string GtvSandbox::base_url() const { return impl_->front.base_url(impl_->options.host); }

void GtvSandbox::AddFault(const Fault& fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Add(fault);
}

void GtvSandbox::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Clear();
}

std::map<std::string, int64_t> GtvSandbox::FaultHits() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->faults.hits();
}

GtvBillRunResult GtvSandbox::BillRun(const std::string& billing_account_id,
                                     const std::vector<std::string>& fail,
                                     const std::vector<std::string>& hold) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->BillRunLocked(billing_account_id, fail, hold);
}

Status GtvSandbox::RefundPayment(const std::string& payment_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  try {
    value body = value::object();
    body["payment_id"] = value::string(payment_id);
    const Reply r = ServeAdmin(*impl_, "POST", {"__sandbox", "refund"}, body.serialize());
    if (r.status == 200) return Status::Ok();
    return Status::InvalidArgument("refund: " + r.body.serialize());
  } catch (const ApiError& e) {
    return Status::InvalidArgument("refund: " + e.reply.body.serialize());
  }
}

Status GtvSandbox::SettlePayment(const std::string& payment_id, bool completed) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->SettleLocked(payment_id, completed);
}

int64_t GtvSandbox::CountObjects(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->objects.find(kind);
  return it == impl_->objects.end() ? 0 : static_cast<int64_t>(it->second.size());
}

std::vector<std::string> GtvSandbox::Objects(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  auto it = impl_->objects.find(kind);
  if (it == impl_->objects.end()) return out;
  for (const auto& [id, obj] : it->second) out.push_back(Render(obj));
  return out;
}

int64_t GtvSandbox::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->request_count;
}

int64_t GtvSandbox::rate_limited() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rate_limited_count;
}

int64_t GtvSandbox::dropped_connections() const { return impl_->front.dropped(); }

void GtvSandbox::AddCustomField(const std::string& type, const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->AddCustomField(type, name);
}

Status GtvSandbox::Start() {
  Impl* impl = impl_.get();
  if (!ParseOffset(impl->options.tenant_offset).ok())
    return Status::InvalidArgument("GTV sandbox: tenant_offset '" + impl->options.tenant_offset +
                                   "' is not like -06:00");
  Status st = impl->front.Start(
      impl->options.host, impl->options.port, std::chrono::seconds(60),
      [impl](IncomingRequest& in) { ServeRequest(*impl, in); }, "GTV sandbox",
      impl->options.latency);
  if (!st.ok()) return st;
  {
    std::lock_guard<std::mutex> lock(impl->out_mu);
    impl->stopping = false;
  }
  impl->sender = StartThread("gtv-notifications", [impl] { impl->SenderLoop(); });
  return Status::Ok();
}

void GtvSandbox::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->out_mu);
    impl_->stopping = true;
  }
  impl_->out_cv.notify_all();
  if (impl_->sender.joinable()) impl_->sender.join();
  impl_->front.Stop();
}

}  // namespace tandem::sandbox::gtv
