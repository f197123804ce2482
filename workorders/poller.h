// Step 5's trigger: finds activated Orders that automation has not taken yet, oldest change
// first, and enqueues them. Pages by (SystemModstamp, Id) from a stored cursor with
// SystemModstamp >= the cursor's time (records that share the boundary timestamp are never
// skipped; the Id breaks the tie), and moves the cursor only after the page is enqueued, so
// no order is missed or taken twice across restarts (enqueueing is idempotent anyway).
// Every poll starts `lookback` before the cursor: a transaction stamps SystemModstamp when it
// writes but becomes visible when it commits, so a long one appears behind a cursor that
// already passed its time. The window costs no extra work: an order taken has its
// Automation_Status__c set and drops out of the query, so the window re-reads only the
// orders that were not there the last time.
// Thread-safety: one poller per process (the leader's).
#pragma once

#include <string>
#include <vector>

#include "workorders/engine.h"

namespace tandem::workorders {

struct PollResult {
  int seen = 0, enqueued = 0, failed = 0;
  int ineligible = 0;  // activated, but the order map's `eligible:` leaves them to people
  int api_calls = 0;   // CRM calls this poll spent
};

// Which activated Orders automation takes: the order map's `eligible:` (mapping.h) — a
// condition on the Order, a creation date and record types. Empty: all.
struct OrderEligibility {
  std::string when;                       // "Type == 'New'", as a field map's `when`
  std::string since;                      // YYYY-MM-DD: created on or after
  std::vector<std::string> record_types;  // developer names; an Order of another is not read
};

class OrderPoller {
 public:
  OrderPoller(connector::crm::CrmClient& crm, store::Store& store, Engine& engine,
              OrderEligibility eligible = {}, int page_size = 200,
              Millis lookback = Millis(10 * 60 * 1000))
      : crm_(crm),
        store_(store),
        engine_(engine),
        eligible_(std::move(eligible)),
        page_size_(page_size),
        lookback_(lookback) {}

  // Reads pages until none is left.
  Result<PollResult> PollOnce();

  static constexpr const char* kCursor = "orders";

 private:
  connector::crm::CrmClient& crm_;
  store::Store& store_;
  Engine& engine_;
  const OrderEligibility eligible_;
  const int page_size_;
  const Millis lookback_;
};

// The poll interval that spends at most `share` of the daily API allowance when each poll
// costs `calls_per_poll`, never shorter than `floor`.
Millis PollInterval(int64_t daily_max, double share, double calls_per_poll, Millis floor);

}  // namespace tandem::workorders
