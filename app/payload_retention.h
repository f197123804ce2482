// Purges billing event payloads past their retention: they hold customers' personal data
// (names, e-mails, addresses) that Tandem needs only until the event is handled. Run by
// `tandem serve`'s callback worker; cheap when there is nothing to purge (one indexed query).
// Thread-safety: one caller at a time (the callback worker's thread).
#pragma once

#include <optional>

#include "store/inbox.h"
#include "util/clock.h"

namespace tandem::app {

class PayloadRetention {
 public:
  // `retention`: how long after arrival a handled event's payload is kept; `every`: how often
  // MaybePurge looks.
  PayloadRetention(store::InboxStore& inbox, const Clock& clock, Millis retention,
                   Millis every = std::chrono::hours(1));

  // Purges when `every` has passed since the last look (or on the first call): the number of
  // payloads emptied (0 when it did not look). Works in slices of 1,000 until none is left.
  Result<int64_t> MaybePurge();

 private:
  store::InboxStore& inbox_;
  const Clock& clock_;
  const Millis retention_;
  const Millis every_;
  std::optional<SteadyTime> last_;
};

}  // namespace tandem::app
