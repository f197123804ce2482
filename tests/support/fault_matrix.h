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

// Every fault here can reach every flow of the matrix (a cell whose faults never fire tests
// nothing: each cell asserts its hits). Reads and writes alike: Stripe rate-limits both.
inline std::vector<FaultCase> FaultMatrix() {
  using sandbox::Fault;
  return {
      // Stripe's rate limit; Salesforce's answer to a busy org is 503 (below).
      {"429 rate limited", {}, {Fault{"", "", 429, "rate_limit", 2, 0}}},
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
      // Served, then the answer is lost: only an idempotency key (billing) or an idempotent
      // write (a CRM update or upsert by external id) keeps the retry single.
      {"lost answers",
       {Fault{"PATCH", "", 0, "LOSE_RESPONSE", 1, 0}},
       {Fault{"POST", "", 0, "LOSE_RESPONSE", 2, 0}, Fault{"GET", "", 0, "LOSE_RESPONSE", 1, 0}}},
      // Some records of a Collections call fail (row locks); the rest succeed.
      {"partial Collections failures",
       {Fault{"", "/composite/sobjects", 0, "UNABLE_TO_LOCK_ROW", 3, 0}},
       {}},
  };
}

// What a cell's faults did: how often they fired on each side, and what that cost in
// retries: requests the emulators received beyond the calls the clients made (a request sent
// again by Tandem's retry layer, or by cpprest on a pooled connection that broke — both reach
// the server, only the first shows in the client's attempt count), and rows sent again in a
// further Collections call for record locks (those are calls of their own).
struct FaultTally {
  int64_t crm_hits = 0, billing_hits = 0;
  int64_t row_hits = 0;  // UNABLE_TO_LOCK_ROW on a Collections record
  int64_t received = 0;  // requests the two emulators received
  int64_t calls = 0;     // calls the two clients made
  int64_t hits() const { return crm_hits + billing_hits; }
  // Each side given faults saw at least one fire (a side's faults that never fire test nothing).
  bool EachSideFired(bool crm_faults, bool billing_faults) const {
    return (!crm_faults || crm_hits > 0) && (!billing_faults || billing_hits > 0);
  }
  int64_t transport_hits() const { return hits() - row_hits; }
  int64_t retries() const { return received - calls; }
  std::string Describe() const {
    return "hits crm=" + std::to_string(crm_hits) + " billing=" + std::to_string(billing_hits) +
           " (record locks " + std::to_string(row_hits) + "), requests sent again " +
           std::to_string(retries());
  }
};

// Snapshots the emulators' fault hits and request counts and the clients' call counters when
// made; Delta() is what happened since.
template <class CrmEnv, class BillingEnv>
class FaultProbe {
 public:
  FaultProbe(CrmEnv& crm, BillingEnv& billing) : crm_(crm), billing_(billing), start_(Now()) {}
  FaultTally Delta() const {
    const FaultTally now = Now();
    FaultTally d;
    d.crm_hits = now.crm_hits - start_.crm_hits;
    d.billing_hits = now.billing_hits - start_.billing_hits;
    d.row_hits = now.row_hits - start_.row_hits;
    d.received = now.received - start_.received;
    d.calls = now.calls - start_.calls;
    return d;
  }

 private:
  FaultTally Now() const {
    FaultTally t;
    for (const auto& [kind, n] : crm_.sandbox.FaultHits()) {
      t.crm_hits += n;
      if (kind == "UNABLE_TO_LOCK_ROW") t.row_hits += n;
    }
    for (const auto& [kind, n] : billing_.sandbox.FaultHits()) t.billing_hits += n;
    t.received = crm_.sandbox.requests_received() + billing_.sandbox.requests_received();
    for (const auto* counter : {&crm_.counter, &billing_.counter})
      for (const auto& [endpoint, c] : counter->Snapshot()) t.calls += c.calls;
    return t;
  }
  CrmEnv& crm_;
  BillingEnv& billing_;
  FaultTally start_;
};

}  // namespace tandem::testing
