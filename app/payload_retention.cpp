#include "app/payload_retention.h"

#include "app/purge_slices.h"
#include "util/log.h"

namespace tandem::app {

PayloadRetention::PayloadRetention(store::InboxStore& inbox, const Clock& clock, Millis retention,
                                   Millis every)
    : inbox_(inbox), clock_(clock), retention_(retention), every_(every) {}

Result<int64_t> PayloadRetention::MaybePurge() {
  const SteadyTime now = clock_.SteadyNow();
  if (last_ && now - *last_ < every_) return int64_t{0};
  last_ = now;
  const int64_t now_ms = ToEpochMillis(clock_.Now());
  const int64_t cut = now_ms - retention_.count();
  // 1,000: the callback worker waits on each slice.
  auto purged =
      PurgeInSlices(1000, [&](int n) { return inbox_.PurgeInboxPayloads(cut, now_ms, n); });
  if (!purged.ok()) return purged.status();
  const int64_t total = *purged;
  if (total > 0)
    log::Get("app")->info("purged the payloads of {} handled billing events older than {} h", total,
                          retention_.count() / 3'600'000);
  return total;
}

}  // namespace tandem::app
