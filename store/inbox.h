// Inbox: webhook events as they arrived, each recorded once by its id, until handled.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/cursors.h"
#include "util/result.h"

namespace tandem::store {

class Pool;

struct InboxEvent {
  std::string event_id;
  std::string source;  // "stripe"
  std::string type;
  std::string payload;
  int64_t received_ms = 0;
  std::string state = "pending";  // pending | done | failed | dismissed
  int attempts = 0;
  std::string last_error;
};

// What handling an event came to: its state, the error, the cursors it moved.
struct InboxMark {
  std::string event_id, state, error;
  std::vector<CursorUpdate> cursors;
};

class InboxStore {
 public:
  explicit InboxStore(Pool& pool) : pool_(pool) {}

  // Records the event; returns false (and changes nothing) when its id is already there.
  Result<bool> InsertInboxEvent(const InboxEvent& event);
  Result<std::vector<InboxEvent>> PendingInboxEvents(int limit);
  Result<int64_t> CountPendingInbox();
  // With the cursors the event moved (its object's applied version), in one transaction.
  Status MarkInboxEvent(const std::string& event_id, const std::string& state,
                        const std::string& error, const std::vector<CursorUpdate>& cursors = {},
                        int64_t now_ms = 0);
  // Many events at once, each with its cursors, in one transaction (a batch's outcome).
  Status MarkInboxEvents(const std::vector<InboxMark>& marks, int64_t now_ms);

  // --- recovery by an operator ---
  // Failed events, oldest first, after `after_id` in that order (keyset paging: the last
  // event of the previous page).
  Result<std::vector<InboxEvent>> FailedInboxEvents(const std::string& after_id, int limit);
  // A failed event is applied again (pending, attempts from 0) or given up (dismissed, the
  // reason as its error). NotFound for an unknown id; Conflict when the event is not failed.
  Status ReplayInboxEvent(const std::string& event_id);
  Result<std::vector<InboxEvent>> InboxEventById(const std::string& event_id);  // 0 or 1
  Status DismissInboxEvent(const std::string& event_id, const std::string& reason);

  // --- retention ---
  // Empties the payload of handled events (done or dismissed) received before
  // `received_before_ms`, at most `limit` of them; returns how many. Pending and failed events
  // keep theirs: they are still to be applied or replayed.
  Result<int64_t> PurgeInboxPayloads(int64_t received_before_ms, int64_t now_ms, int limit);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
