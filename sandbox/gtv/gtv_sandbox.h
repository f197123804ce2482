// A stateful emulator of the Gotransverse (GTV) billing API 2.0 subset Tandem uses, over HTTP
// on loopback, under /billing/2: reference data (bill cycles, account categories, payment
// terms, custom field definitions), billing accounts, products and prices, orders (draft →
// confirm) and the services they create with their lifecycle commands, adjustments, bulk
// usage, and invoices and payments made only by a bill run. GTV's wire conventions: X-Api-Key,
// {"code","message"} errors, bare-array lists with count headers and the filter= language,
// digit-string ids, money in major units, tenant-offset timestamps, no idempotency.
// It is our own specification (no public OpenAPI exists): see README.md for what is
// verified and what is inferred. Shares no code with the adapter (connector/billing/gtv/).
// Admin endpoints (no auth) under /__sandbox/: POST bill-run {"billing_account_id"?, "fail":
// [ids]}, POST/DELETE faults, GET stats, POST reset, POST custom-fields, POST notifications,
// POST refund.
// Thread-safety: all methods are thread-safe; requests are served concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/faults/faults.h"
#include "sandbox/http/latency.h"
#include "util/clock.h"
#include "util/result.h"

namespace tandem::sandbox::gtv {

struct GtvSandboxOptions {
  std::string host = "127.0.0.1";
  int port = 0;                             // 0: a free port
  std::string api_key = "gtv-sandbox-key";  // the X-Api-Key clients must present
  double rate_limit_per_second = 0;         // 0: unlimited; otherwise 429 beyond it
  Latency latency;                       // the modelled network: every API request waits this long
  std::string tenant_offset = "-06:00";  // the tenant's UTC offset for timestamps and dates
};

struct GtvBillRunResult {
  int invoices = 0, paid = 0, failed = 0;
};

class GtvSandbox {
 public:
  GtvSandbox(GtvSandboxOptions options, const Clock& clock);
  ~GtvSandbox();

  Status Start();
  void Stop();
  std::string base_url() const;  // http://127.0.0.1:PORT; the API is under base_url()+"/billing/2"

  void AddFault(const Fault& fault);
  void ClearFaults();
  // How often injected faults fired, by kind (sandbox/faults/faults.h FaultKind).
  std::map<std::string, int64_t> FaultHits() const;

  // One invoice per active account (of `billing_account_id` only, when given) for its active
  // services' current periods, pending one-time charges and adjustments, then an auto-payment:
  // accounts in `fail` get a failed payment (the invoice stays OPEN), the others pay.
  // Accounts in `hold` get a PROCESSING payment (the gateway has not answered yet; the
  // invoice stays OPEN) until SettlePayment.
  GtvBillRunResult BillRun(const std::string& billing_account_id = "",
                           const std::vector<std::string>& fail = {},
                           const std::vector<std::string>& hold = {});
  // A PROCESSING payment completes (its invoice is paid) or fails. NotFound, or Conflict
  // when it is not processing.
  Status SettlePayment(const std::string& payment_id, bool completed);
  // A COMPLETED payment refunded in full, as `POST /__sandbox/refund` without an amount does
  // (a GTV user's refund in the UI): its refunded_amount grows, a "payment.refunded"
  // notification goes out. InvalidArgument naming why when the sandbox refuses it.
  Status RefundPayment(const std::string& payment_id);

  // kind: "billing-account", "product", "product-price", "order", "service", "invoice",
  // "payment", "adjustment", "usage-event".
  int64_t CountObjects(const std::string& kind) const;
  // Every stored object of a kind as its JSON text (as the API shows it), oldest first.
  std::vector<std::string> Objects(const std::string& kind) const;
  int64_t requests() const;
  int64_t rate_limited() const;
  int64_t dropped_connections() const;

  // Defines a custom field; type: billing-account | order | service | product.
  void AddCustomField(const std::string& type, const std::string& name);

  struct Impl;  // public only so the request handler in the .cpp files can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::sandbox::gtv
