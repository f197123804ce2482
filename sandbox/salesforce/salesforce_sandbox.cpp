// The Salesforce emulator's public face (salesforce_sandbox.h): starting and stopping it, and
// the calls tests make on it directly. The emulator itself is in the other files of this
// folder (internal.h lists them).
#include "sandbox/salesforce/salesforce_sandbox.h"

#include <chrono>

#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

SalesforceSandbox::SalesforceSandbox(SalesforceSandboxOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

SalesforceSandbox::~SalesforceSandbox() { Stop(); }

std::string SalesforceSandbox::base_url() const {
  return impl_->front.base_url(impl_->options.host);
}
int SalesforceSandbox::port() const { return impl_->front.port(); }

void SalesforceSandbox::AddFault(const SalesforceFault& fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Add(fault);
}
Status SalesforceSandbox::AddFaultsFromJson(const std::string& json) {
  std::vector<Fault> faults;
  TANDEM_RETURN_IF_ERROR(ParseFaults(json, &faults));
  for (const auto& f : faults) AddFault(f);
  return Status::Ok();
}
int64_t SalesforceSandbox::dropped_connections() const { return impl_->front.dropped(); }
void SalesforceSandbox::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Clear();
}
int64_t SalesforceSandbox::requests_received() const { return impl_->front.received(); }
std::map<std::string, int64_t> SalesforceSandbox::FaultHits() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->faults.hits();
}
void SalesforceSandbox::ExpireTokens() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->tokens.clear();
}
void SalesforceSandbox::SetApiUsage(int64_t used) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->api_used = used;
}
int64_t SalesforceSandbox::api_calls() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int64_t total = 0;
  for (const auto& [k, v] : impl_->by_endpoint) total += v;
  return total;
}
int SalesforceSandbox::peak_concurrent_requests() const { return impl_->front.peak_in_flight(); }
void SalesforceSandbox::ResetPeak() { impl_->front.ResetPeak(); }
int64_t SalesforceSandbox::concurrent_refused() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->concurrent_refused;
}
std::map<std::string, int64_t> SalesforceSandbox::calls_by_endpoint() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->by_endpoint;
}
Status SalesforceSandbox::SetSystemModstamp(const std::string& object, const std::string& id,
                                            int64_t at_ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto table = impl_->tables.find(Lower(object));
  if (table == impl_->tables.end()) return Status::NotFound("no object " + object);
  auto record = table->second.by_id.find(NormalizeId(id));
  if (record == table->second.by_id.end()) return Status::NotFound(object + " " + id);
  record->second["SystemModstamp"] = value::string(FormatDateTime(at_ms));
  return Status::Ok();
}
int64_t SalesforceSandbox::CountRecords(const std::string& object) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->tables.find(Lower(object));
  return it == impl_->tables.end() ? -1 : static_cast<int64_t>(it->second.by_id.size());
}

Status SalesforceSandbox::Start() {
  Impl* impl = impl_.get();
  return impl->front.Start(
      impl->options.host, impl->options.port, std::chrono::seconds(120),
      [impl](IncomingRequest& in) { ServeRequest(*impl, in); }, "Salesforce sandbox",
      impl->options.latency);
}

void SalesforceSandbox::Stop() { impl_->front.Stop(); }

}  // namespace tandem::sandbox::salesforce
