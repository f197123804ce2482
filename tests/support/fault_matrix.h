// The fault matrix: the failures a production connector meets, as sandbox faults for the
// CRM and billing emulators. Every flow (sync, work orders, catalog, migration) runs under
// each and must end in step with billing, shown by a reconciliation that finds nothing.
// kill -9 is the other column: the crash tests (serve, migrate) end in a reconcile too.
#pragma once

#include <string>
#include <vector>

#include "connector/billing/stripe/connection.h"
#include "connector/crm/salesforce/connection.h"
#include "sandbox/faults/faults.h"

namespace tandem::testing {

struct FaultCase {
  std::string name;
  std::vector<sandbox::Fault> crm, billing;
};

// The clients under test wait 2 s for an answer: "timeouts" delays answers past that.
inline constexpr int kFaultClientTimeoutMs = 2000;
inline constexpr int kFaultLatencyMs = 3000;

inline connector::crm::salesforce::ConnectionOptions FaultCrmOptions() {
  connector::crm::salesforce::ConnectionOptions o;
  o.timeout = Millis(kFaultClientTimeoutMs);
  return o;
}
inline connector::billing::stripe::StripeConnectionOptions FaultBillingOptions() {
  connector::billing::stripe::StripeConnectionOptions o;
  o.timeout = Millis(kFaultClientTimeoutMs);
  return o;
}

inline std::vector<FaultCase> FaultMatrix() {
  using sandbox::Fault;
  return {
      // Stripe's rate limit; Salesforce's answer to a busy org is 503 (below).
      {"429 rate limited", {}, {Fault{"POST", "", 429, "rate_limit", 2, 0}}},
      {"503 unavailable",
       {Fault{"", "/query", 503, "SERVER_UNAVAILABLE", 1, 0},
        Fault{"", "/composite/sobjects", 503, "SERVER_UNAVAILABLE", 1, 0}},
       {Fault{"", "", 503, "api_error", 2, 0}}},
      {"timeouts",
       {Fault{"GET", "/query", 0, "", 1, kFaultLatencyMs}},
       {Fault{"POST", "", 0, "", 1, kFaultLatencyMs}, Fault{"GET", "", 0, "", 1, kFaultLatencyMs}}},
      {"dropped connections",
       {Fault{"GET", "/query", 0, "DROP_CONNECTION", 1, 0}},
       {Fault{"", "", 500, "DROP_CONNECTION", 2, 0}}},
      // Served, then the answer is lost: only an idempotency key keeps the retry single.
      {"lost answers", {}, {Fault{"POST", "", 0, "LOSE_RESPONSE", 2, 0}}},
      // Some records of a Collections call fail (row locks); the rest succeed.
      {"partial Collections failures",
       {Fault{"", "/composite/sobjects", 0, "UNABLE_TO_LOCK_ROW", 3, 0}},
       {}},
  };
}

}  // namespace tandem::testing
