#include "connector/http/retry.h"

#include "util/log.h"

namespace tandem::connector::http {

RetryStage::RetryStage(HttpTransportPtr next, RetryPolicy policy, Backoff& backoff,
                       Sleeper& sleeper, const Clock& clock, std::string remote)
    : next_(std::move(next)),
      policy_(std::move(policy)),
      backoff_(backoff),
      sleeper_(sleeper),
      clock_(clock),
      remote_(std::move(remote)) {
  if (policy_.max_attempts < 1) policy_.max_attempts = 1;
}

Result<HttpResponse> RetryStage::Send(HttpRequest& request) {
  auto logger = log::Get("connector.http");
  const bool retry_safe = IsRetrySafe(request);
  for (int attempt = 1;; ++attempt) {
    ++stats_.attempts;
    Result<HttpResponse> result = next_->Send(request);
    const Action action = policy_.classifier(result);
    if (action != Action::kRetry && action != Action::kRateLimited) return result;

    const std::string what =
        result.ok() ? "HTTP " + std::to_string(result->status) : result.status().ToString();
    if (!retry_safe) {
      logger->warn("{} {}: {} — not retried: {} without an idempotency key", remote_,
                   request.EndpointLabel(), what, request.method);
      ++stats_.gave_up;
      return result;
    }
    if (attempt >= policy_.max_attempts) {
      logger->warn("{} {}: {} — giving up after {} attempts", remote_, request.EndpointLabel(),
                   what, attempt);
      ++stats_.gave_up;
      return result;
    }

    Millis wait = backoff_.Delay(attempt);
    if (result.ok()) {
      if (auto header = result->Header("Retry-After")) {
        if (auto asked = ParseRetryAfter(*header, clock_.Now())) {
          if (*asked > policy_.max_retry_after) {
            logger->warn("{} {}: Retry-After {} ms exceeds the {} ms we wait; giving up", remote_,
                         request.EndpointLabel(), asked->count(), policy_.max_retry_after.count());
            ++stats_.gave_up;
            return result;
          }
          wait = *asked;  // the remote knows when it will be ready; jitter would only add load
        }
      }
    }
    logger->info("{} {}: {} ({}), retry {} of {} in {} ms", remote_, request.EndpointLabel(), what,
                 ActionName(action), attempt, policy_.max_attempts - 1, wait.count());
    ++stats_.retries;
    sleeper_.Sleep(wait);
  }
}

}  // namespace tandem::connector::http
