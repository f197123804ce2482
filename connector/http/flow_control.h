// FlowControl: how many calls to keep in flight to one remote, following what it answers.
// Little's law: a rate limit of R calls/s at a latency of L s is used fully with R x L calls in
// flight, so the target is R x L (from a moving average of the latency measured on the wire)
// with a margin, within [1, cap]. Backing off:
//  - a throttled answer (429; Salesforce's REQUEST_LIMIT_EXCEEDED) cuts the rate the token
//    bucket lets through by a quarter; each second without one gives back 10 % of the
//    configured rate up to 95 % of the rate refused, then 1 % a second (additive increase,
//    multiplicative decrease);
//  - latency rising past twice the lowest seen (the remote queueing) shrinks the target in
//    proportion, down to half.
// With no rate limit configured the target is 4 (a few, not a flood, against a limit nobody
// stated). What paths that write many records keep
// in flight (sync, migration, reconcile repairs): BillingSystem/CrmClient::PreferredInFlight.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "connector/http/http_types.h"
#include "connector/http/rate_limiter.h"
#include "connector/http/retry_classifier.h"

namespace tandem::connector::http {

class FlowControl {
 public:
  // `bucket` (may be null) is the remote's token bucket, whose rate a throttled answer lowers.
  FlowControl(double rate_per_second, int cap, TokenBucket* bucket);

  // One answer from the wire at `now`: how long it took, and whether the remote said to slow
  // down. Throttled answers within one latency (at least a second) of a cut count as one: the
  // calls that were in flight together were refused together.
  void Observe(Millis latency, bool throttled, SteadyTime now);
  // Calls to keep in flight now.
  int InFlight() const;
  // The share of the configured rate let through now (1 until throttled).
  double RateFactor() const;
  int64_t throttled() const { return throttled_.load(); }
  // Calls on the wire now (FlowControlStage counts them).
  int CallsInFlight() const { return in_flight_now_.load(); }
  void CallStarted() { ++in_flight_now_; }
  void CallEnded() { --in_flight_now_; }
  double latency_ms() const;
  // This process's share of the configured rate (several processes sharing the remote).
  void SetShare(double share);

 private:
  const double rate_;
  const int cap_;
  TokenBucket* const bucket_;
  mutable std::mutex mu_;
  double ewma_ms_ = 0;       // GUARDED_BY(mu_); 0: nothing measured yet
  double lowest_ms_ = 0;     // GUARDED_BY(mu_)
  double factor_ = 1.0;      // GUARDED_BY(mu_)
  double share_ = 1.0;       // GUARDED_BY(mu_)
  double refused_at_ = 1.0;  // GUARDED_BY(mu_): the factor the last cut was made from
  SteadyTime last_cut_{};    // GUARDED_BY(mu_)
  SteadyTime last_step_{};   // GUARDED_BY(mu_): the last cut or step back up
  std::atomic<int64_t> throttled_{0};
  std::atomic<int> in_flight_now_{0};
};

// The pipeline stage that feeds FlowControl: it times each attempt on the wire (inside the
// rate limiter, so a wait for a token is not latency). Only answers count: a timeout or a
// refused connection says nothing of how long the remote takes to answer.
class FlowControlStage final : public HttpTransport {
 public:
  FlowControlStage(HttpTransportPtr next, FlowControl& flow, Classifier classifier,
                   const Clock& clock)
      : next_(std::move(next)), flow_(flow), classifier_(std::move(classifier)), clock_(clock) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

 private:
  HttpTransportPtr next_;
  FlowControl& flow_;
  Classifier classifier_;
  const Clock& clock_;
};

// The pipeline stage that keeps at most `limit` attempts in flight at once, whatever the
// number of callers: a remote that refuses beyond a number of concurrent requests
// (Salesforce: 25 running 20 s or longer per production org, 5 in a developer org; a request
// that is short today is long when the org is slow, so every request counts). It sits outside
// the rate limiter: a call waits for a place, then for a token, then goes on the wire.
class ConcurrencyLimitStage final : public HttpTransport {
 public:
  ConcurrencyLimitStage(HttpTransportPtr next, int limit)
      : next_(std::move(next)), limit_(limit < 1 ? 1 : limit) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

  // A new limit (several processes share the remote's): callers above it wait until enough
  // of the attempts on the wire have ended.
  void SetLimit(int limit);

 private:
  HttpTransportPtr next_;
  int limit_;  // GUARDED_BY(mu_)
  std::mutex mu_;
  std::condition_variable freed_;
  int running_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace tandem::connector::http
