// RestClient: the one REST client core both remote systems' clients are built on.
// It assembles the pipeline, outermost first:
//   call counter (calls) → auth → retry → [concurrency limit] → rate limiter → flow control
//     → redacting logger → call counter (attempts) → transport
// Retry sits inside auth so that a refreshed token is used by every later attempt; the rate
// limiter sits inside retry so that each attempt, retries included, takes a token, since the
// remote counts each against its quota (STYLE.md lists the limiter outside retry; see
// docs/adr/0005-rest-pipeline-order.md).
// Thread-safety: Send() and the helpers are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "connector/http/auth.h"
#include "connector/http/call_counter.h"
#include "connector/http/flow_control.h"
#include "connector/http/form.h"
#include "connector/http/http_types.h"
#include "connector/http/rate_limiter.h"
#include "connector/http/retry.h"
#include "util/random.h"

namespace tandem::connector::http {

struct RestClientOptions {
  std::string remote = "remote";        // name in logs and call counts: "salesforce", "stripe"
  std::string base_url;                 // scheme://host[:port]
  Millis timeout = Millis(30'000);      // per request; default 30 s
  RetryPolicy retry;                    // default: 4 attempts, Retry-After up to 60 s
  Millis backoff_base = Millis(250);    // first retry waits up to this; default 250 ms
  Millis backoff_cap = Millis(20'000);  // no retry waits longer; default 20 s
  double rate_per_second = 0;           // token bucket rate; 0 = unlimited (default)
  double burst = 10;                    // token bucket size; default 10
  int max_in_flight = 64;               // FlowControl's cap on calls in flight; default 64
  int max_concurrent = 0;  // attempts on the wire at once, whatever the callers; 0 = no limit
};

// What a RestClient needs from outside; held by reference, must outlive the client.
struct RestClientDeps {
  const Clock& clock;
  Sleeper& sleeper;
  Random& random;
  CallCounter& counter;
};

class RestClient {
 public:
  // `transport` replaces the cpprest transport (tests script the remote through it);
  // `auth` may be null for no authentication.
  RestClient(RestClientOptions options, RestClientDeps deps, AuthProviderPtr auth,
             HttpTransportPtr transport = nullptr);
  ~RestClient();

  // Sends through the whole pipeline. Success: the final answer, whatever its status.
  Result<HttpResponse> Send(HttpRequest request);

  Result<HttpResponse> Get(const std::string& path);
  // JSON body; a non-empty idempotency_key is sent as Idempotency-Key and makes it retry-safe.
  Result<HttpResponse> PostJson(const std::string& path, std::string json,
                                const std::string& idempotency_key = "");
  Result<HttpResponse> PostForm(const std::string& path, const FormFields& fields,
                                const std::string& idempotency_key = "");

  const RestClientOptions& options() const { return options_; }
  const RetryStats& retry_stats() const;
  TokenBucket& rate_limiter();
  // How many calls to keep in flight to this remote now (connector/http/flow_control.h).
  FlowControl& flow();
  // Several processes sharing one store split this remote's limits: this one keeps
  // 1/`processes` of the rate and of the concurrent attempts (at least one).
  void SetShare(int processes);

 private:
  struct Impl;
  RestClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::connector::http
