#include "actions/billing_poll.h"

namespace tandem::actions {

Result<PollRound> BillingPoller::PollOnce() {
  PollRound round;
  for (const std::string& kind : billing_.PolledKinds()) {
    const std::string cursor_name = "billing-poll:" + kind;
    auto cursor = store_.GetCursor(cursor_name);
    if (!cursor.ok()) return cursor.status();
    auto polled = billing_.PollEvents(kind, cursor->value_or(""));
    if (!polled.ok()) return polled.status();
    round.reads += polled->reads;
    const int64_t now_ms = ToEpochMillis(clock_.Now());
    for (const auto& e : polled->events) {
      store::InboxEvent row{e.id,   billing_.name(), e.raw_type, e.object.Dump(),
                            now_ms, "pending",       0,          ""};
      auto inserted = store_.InsertInboxEvent(row);
      if (!inserted.ok()) return inserted.status();
      ++(*inserted ? round.events : round.duplicates);
    }
    TANDEM_RETURN_IF_ERROR(store_.SetCursor(cursor_name, polled->cursor, now_ms));
  }
  return round;
}

}  // namespace tandem::actions
