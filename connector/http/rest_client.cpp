#include "connector/http/rest_client.h"

#include <algorithm>

#include "connector/http/cpprest_transport.h"
#include "connector/http/jittered_backoff.h"
#include "connector/http/rate_limiter.h"
#include "connector/http/redacting_logger.h"

namespace tandem::connector::http {

struct RestClient::Impl {
  Impl(const RestClientOptions& o, RestClientDeps d)
      : backoff(o.backoff_base, o.backoff_cap, d.random),
        bucket(o.rate_per_second, o.burst, d.clock, d.sleeper),
        flow(o.rate_per_second, o.max_in_flight, &bucket) {}

  JitteredExponentialBackoff backoff;
  TokenBucket bucket;
  FlowControl flow;
  RetryStage* retry = nullptr;                   // owned by the pipeline
  ConcurrencyLimitStage* concurrency = nullptr;  // owned by the pipeline; null: no limit
  HttpTransportPtr pipeline;
};

RestClient::RestClient(RestClientOptions options, RestClientDeps deps, AuthProviderPtr auth,
                       HttpTransportPtr transport)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, deps)) {
  if (!transport)
    transport =
        std::make_unique<CpprestTransport>(TransportOptions{options_.base_url, options_.timeout});
  if (!auth) auth = std::make_shared<NoAuth>();
  const std::string& remote = options_.remote;
  HttpTransportPtr p = std::make_unique<CountingStage>(std::move(transport), deps.counter, remote,
                                                       CountingStage::Mode::kAttempts);
  p = std::make_unique<LoggingStage>(std::move(p), remote, deps.clock);
  p = std::make_unique<FlowControlStage>(std::move(p), impl_->flow, options_.retry.classifier,
                                         deps.clock);
  p = std::make_unique<RateLimitStage>(std::move(p), impl_->bucket);
  if (options_.max_concurrent > 0) {
    auto limit = std::make_unique<ConcurrencyLimitStage>(std::move(p), options_.max_concurrent);
    impl_->concurrency = limit.get();
    p = std::move(limit);
  }
  auto retry = std::make_unique<RetryStage>(std::move(p), options_.retry, impl_->backoff,
                                            deps.sleeper, deps.clock, remote);
  impl_->retry = retry.get();
  p = std::make_unique<AuthStage>(std::move(retry), std::move(auth));
  p = std::make_unique<CountingStage>(std::move(p), deps.counter, remote,
                                      CountingStage::Mode::kCalls);
  impl_->pipeline = std::move(p);
}

RestClient::~RestClient() = default;

Result<HttpResponse> RestClient::Send(HttpRequest request) {
  return impl_->pipeline->Send(request);
}

Result<HttpResponse> RestClient::Get(const std::string& path) {
  HttpRequest r;
  r.method = "GET";
  r.path = path;
  SetHeader(r.headers, "Accept", "application/json");
  return Send(std::move(r));
}

Result<HttpResponse> RestClient::PostJson(const std::string& path, std::string json,
                                          const std::string& idempotency_key) {
  HttpRequest r;
  r.method = "POST";
  r.path = path;
  r.body = std::move(json);
  SetHeader(r.headers, "Content-Type", "application/json");
  SetHeader(r.headers, "Accept", "application/json");
  if (!idempotency_key.empty()) SetHeader(r.headers, "Idempotency-Key", idempotency_key);
  return Send(std::move(r));
}

Result<HttpResponse> RestClient::PostForm(const std::string& path, const FormFields& fields,
                                          const std::string& idempotency_key) {
  HttpRequest r;
  r.method = "POST";
  r.path = path;
  r.body = FormEncode(fields);
  SetHeader(r.headers, "Content-Type", "application/x-www-form-urlencoded");
  SetHeader(r.headers, "Accept", "application/json");
  if (!idempotency_key.empty()) SetHeader(r.headers, "Idempotency-Key", idempotency_key);
  return Send(std::move(r));
}

const RetryStats& RestClient::retry_stats() const { return impl_->retry->stats(); }
TokenBucket& RestClient::rate_limiter() { return impl_->bucket; }

FlowControl& RestClient::flow() { return impl_->flow; }

void RestClient::SetShare(int processes) {
  processes = std::max(1, processes);
  const double share = 1.0 / processes;
  impl_->bucket.SetShare(share);
  impl_->flow.SetShare(share);
  if (impl_->concurrency)
    impl_->concurrency->SetLimit(std::max(1, options_.max_concurrent / processes));
}

}  // namespace tandem::connector::http
