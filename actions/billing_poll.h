// BillingPoller: for a billing system that calls no webhooks (Gotransverse), asks it what
// changed since the last poll, kind by kind, and puts each change into the inbox as a
// webhook would: the same appliers then bring it to the CRM. The inbox row is written before
// the kind's cursor moves, so a crash between them polls the same changes again and the
// inbox keeps each once (its event id). For a billing system that pushes (Stripe) it does
// nothing.
// Thread-safety: one PollOnce at a time per poller (serve runs it on the leader only).
#pragma once

#include "connector/billing/billing_system.h"
#include "store/store.h"
#include "util/clock.h"

namespace tandem::actions {

struct PollRound {
  int64_t events = 0;      // new in the inbox
  int64_t duplicates = 0;  // polled again (the lookback), already there
  int64_t reads = 0;       // billing list calls
};

class BillingPoller {
 public:
  BillingPoller(connector::billing::BillingSystem& billing, store::Store& store, const Clock& clock)
      : billing_(billing), store_(store), clock_(clock) {}

  bool active() const { return !billing_.PolledKinds().empty(); }
  Result<PollRound> PollOnce();

 private:
  connector::billing::BillingSystem& billing_;
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace tandem::actions
