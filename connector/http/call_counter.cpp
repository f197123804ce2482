#include "connector/http/call_counter.h"

namespace tandem::connector::http {

void CallCounter::AddCall(const std::string& remote, const std::string& endpoint, bool failed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& c = counts_[remote + "|" + endpoint];
  ++c.calls;
  if (failed) ++c.failures;
}

void CallCounter::AddAttempt(const std::string& remote, const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[remote + "|" + endpoint].attempts;
}

CallCounts CallCounter::Total(const std::string& remote) const {
  std::lock_guard<std::mutex> lock(mu_);
  CallCounts total;
  const std::string prefix = remote + "|";
  for (const auto& [key, c] : counts_) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    total.calls += c.calls;
    total.attempts += c.attempts;
    total.failures += c.failures;
  }
  return total;
}

std::map<std::string, CallCounts> CallCounter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void CallCounter::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  counts_.clear();
}

Result<HttpResponse> CountingStage::Send(HttpRequest& request) {
  const std::string endpoint = request.EndpointLabel();
  if (mode_ == Mode::kAttempts) {
    counter_.AddAttempt(remote_, endpoint);
    return next_->Send(request);
  }
  Result<HttpResponse> result = next_->Send(request);
  counter_.AddCall(remote_, endpoint, !result.ok() || result->status >= 400);
  return result;
}

}  // namespace tandem::connector::http
