// A stateful emulator of the Stripe API subset Tandem uses, over HTTP on loopback:
// customers (with search), products, prices, subscriptions and items, usage records, invoice
// items, invoices (a bill run creates, finalizes and pays or fails them; a customer's credit
// balance goes to its next invoice), charges, refunds, credit notes, events,
// webhook endpoints with signed, retried delivery; idempotency-key replay; Stripe's error
// shapes; list pagination; rate limiting (429); fault injection (sandbox/faults).
// Shares no code with the adapter (docs/adr/0003): its own form decoder, JSON via cpprest,
// its own HMAC signing.
// Admin endpoints (no auth) under /__sandbox/: POST bill-run {"customer"?, "fail": [ids]},
// POST/DELETE faults, GET stats, POST reset, POST flush-webhooks.
// Thread-safety: all methods are thread-safe; requests are served concurrently.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/faults/faults.h"
#include "sandbox/http/latency.h"
#include "util/clock.h"
#include "util/result.h"

namespace tandem::sandbox::stripe {

struct StripeSandboxOptions {
  std::string host = "127.0.0.1";
  int port = 0;                             // 0: a free port
  std::string api_key = "sk_test_sandbox";  // the secret key clients must present
  double rate_limit_per_second = 0;         // 0: unlimited; otherwise 429 beyond it
  Latency latency;             // the modelled network: every API request waits this long
  int webhook_attempts = 4;    // deliveries per event and endpoint
  int webhook_retry_ms = 200;  // first retry wait, doubling
  // How long an Idempotency-Key is remembered, by the sandbox's clock: Stripe keeps keys
  // for at least 24 hours, then a request with the same key runs again as a new one.
  int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;
  // 0: keep everything. Otherwise the emulator keeps only the newest `retain` of what a bulk
  // load makes per request — events, subscriptions, invoices, invoice items, charges, the
  // prices made for one item (price_data) — and of the Idempotency-Keys, so that a
  // million-row benchmark measures the client, not the emulator's memory. Customers, products,
  // catalog prices and endpoints are always kept; /__sandbox/stats counts all that was made.
  size_t retain = 0;
};

struct BillRunResult {
  int invoices = 0, paid = 0, failed = 0;
};

class StripeSandbox {
 public:
  StripeSandbox(StripeSandboxOptions options, const Clock& clock);
  ~StripeSandbox();

  Status Start();
  void Stop();
  std::string base_url() const;

  void AddFault(const Fault& fault);
  void ClearFaults();
  // Makes every remembered Idempotency-Key older by `by` (tests: a resume or a retry a day
  // later meets keys Stripe has forgotten).
  void AgeIdempotencyKeys(Millis by);
  // How often injected faults fired, by kind (sandbox/faults/faults.h FaultKind).
  std::map<std::string, int64_t> FaultHits() const;
  // Every request received whole (see LoopbackListener::received).
  int64_t requests_received() const;
  // Invoices every active subscription's period and pending invoice items (of `customer`
  // only, when given); payments of customers in `fail` fail, the others succeed. A failed
  // payment makes the subscription past_due; a second one (dunning gives up) cancels it.
  BillRunResult BillRun(const std::string& customer = "",
                        const std::vector<std::string>& fail = {});
  // Registers a webhook endpoint directly; returns its signing secret.
  std::string AddWebhookEndpoint(const std::string& url);
  // Waits until no webhook delivery is pending (or `timeout` passes); returns whether idle.
  bool FlushWebhooks(Millis timeout = Millis(10'000));

  int64_t CountObjects(const std::string& kind) const;  // "customer", "subscription", ...
  // Every stored object of a kind as its JSON text, oldest first (tests look inside).
  std::vector<std::string> Objects(const std::string& kind) const;
  int64_t requests() const;
  int64_t rate_limited() const;
  int64_t webhook_deliveries() const;  // attempts, failed ones included
  int64_t dropped_connections() const;

  struct Impl;  // public only so the request handler in the .cpp can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::sandbox::stripe
