// RetryStage: repeats an attempt that failed transiently, with jittered exponential backoff
// or the wait the remote asked for in Retry-After (seconds or HTTP date, RFC 9110 §10.2.3).
// A request that is not retry-safe (a POST without Idempotency-Key) is never repeated: the
// first attempt may have taken effect even when its answer was lost.
// Thread-safety: Send() may be called concurrently if the next stage allows it.
#pragma once

#include <atomic>

#include "connector/http/backoff.h"
#include "connector/http/http_types.h"
#include "connector/http/retry_classifier.h"

namespace tandem::connector::http {

struct RetryPolicy {
  int max_attempts = 4;  // attempts in all, the first included; default 4
  // A Retry-After longer than this is not waited for: the answer goes to the caller
  // (a remote asking us to come back in an hour is not a retry). Default 60 s.
  Millis max_retry_after = Millis(60'000);
  Classifier classifier = DefaultClassify;
};

// Counters a test or /metrics can read.
struct RetryStats {
  std::atomic<int64_t> attempts{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> gave_up{0};
};

class RetryStage final : public HttpTransport {
 public:
  RetryStage(HttpTransportPtr next, RetryPolicy policy, Backoff& backoff, Sleeper& sleeper,
             const Clock& clock, std::string remote);

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

  const RetryStats& stats() const { return stats_; }

 private:
  HttpTransportPtr next_;
  RetryPolicy policy_;
  Backoff& backoff_;
  Sleeper& sleeper_;
  const Clock& clock_;
  std::string remote_;
  RetryStats stats_;
};

}  // namespace tandem::connector::http
