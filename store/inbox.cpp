#include "store/inbox.h"

#include "store/db.h"
#include "store/writes.h"

namespace tandem::store {

Result<bool> InboxStore::InsertInboxEvent(const InboxEvent& e) {
  return pool_.With("insert inbox event", [&](soci::session& sql) -> Result<bool> {
    const long long n =
        Exec(sql,
             "INSERT INTO inbox (event_id, source, type, payload, received_ms, state, attempts) "
             "VALUES (:i, :s, :t, :p, :r, :st, 0) ON CONFLICT (event_id) DO NOTHING",
             {Text(e.event_id), Text(e.source), Text(e.type), Text(e.payload), Int(e.received_ms),
              Text(e.state)});
    return n == 1;
  });
}

Result<std::vector<InboxEvent>> InboxStore::PendingInboxEvents(int limit) {
  return pool_.With(
      "pending inbox events", [&](soci::session& sql) -> Result<std::vector<InboxEvent>> {
        std::vector<InboxEvent> out;
        for (const Row& r : Query(sql,
                                  "SELECT event_id, source, type, payload, received_ms, state, "
                                  "attempts, last_error FROM inbox WHERE state = 'pending' "
                                  "ORDER BY received_ms, event_id LIMIT :n",
                                  {Int(limit)})) {
          out.push_back(InboxEvent{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]),
                                   AsInt(r[4]), AsText(r[5]), static_cast<int>(AsInt(r[6])),
                                   AsText(r[7])});
        }
        return out;
      });
}

Result<int64_t> InboxStore::CountPendingInbox() {
  return pool_.With("count inbox", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM inbox WHERE state = 'pending'")[0][0]));
  });
}

Status InboxStore::MarkInboxEvent(const std::string& event_id, const std::string& state,
                                  const std::string& error,
                                  const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  return MarkInboxEvents({InboxMark{event_id, state, error, cursors}}, now_ms);
}

Status InboxStore::MarkInboxEvents(const std::vector<InboxMark>& marks, int64_t now_ms) {
  if (marks.empty()) return Status::Ok();
  return pool_.With("mark inbox events", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    for (const InboxMark& m : marks) {
      const long long n = Exec(sql,
                               "UPDATE inbox SET state = :s, attempts = attempts + 1, "
                               "last_error = :e WHERE event_id = :i",
                               {Text(m.state), OptText(m.error), Text(m.event_id)});
      if (n == 0) return Status::NotFound("inbox event " + m.event_id);
      // Here, in the event's transaction: the cursors move only if the event is marked.
      WriteCursors(sql, m.cursors, now_ms);
    }
    tr.Commit();
    return Status::Ok();
  });
}

}  // namespace tandem::store
