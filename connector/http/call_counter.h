// CallCounter: how many calls Tandem made to each remote and endpoint. Two stages feed it:
// one at the top of the pipeline counts logical calls, one next to the transport counts
// attempts that reached the wire (what the remote bills against its API allowance).
// Benchmarks report API calls per record from it; /metrics exposes it.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "connector/http/http_types.h"

namespace tandem::connector::http {

struct CallCounts {
  int64_t calls = 0;     // logical requests made by Tandem code
  int64_t attempts = 0;  // requests sent on the wire (calls + retries + auth repeats)
  int64_t failures = 0;  // calls whose final answer was a transport failure or >= 400
};

class CallCounter {
 public:
  void AddCall(const std::string& remote, const std::string& endpoint, bool failed);
  void AddAttempt(const std::string& remote, const std::string& endpoint);

  // Counts for one remote, summed over its endpoints.
  CallCounts Total(const std::string& remote) const;
  // Key: "remote|endpoint".
  std::map<std::string, CallCounts> Snapshot() const;
  void Reset();

 private:
  mutable std::mutex mu_;
  std::map<std::string, CallCounts> counts_;  // GUARDED_BY(mu_)
};

class CountingStage final : public HttpTransport {
 public:
  enum class Mode { kCalls, kAttempts };
  CountingStage(HttpTransportPtr next, CallCounter& counter, std::string remote, Mode mode)
      : next_(std::move(next)), counter_(counter), remote_(std::move(remote)), mode_(mode) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

 private:
  HttpTransportPtr next_;
  CallCounter& counter_;
  const std::string remote_;
  const Mode mode_;
};

}  // namespace tandem::connector::http
