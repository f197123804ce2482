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

namespace {

std::vector<InboxEvent> EventsFrom(soci::session& sql, const std::string& q,
                                   const std::vector<Value>& params) {
  std::vector<InboxEvent> out;
  for (const Row& r : Query(sql,
                            "SELECT event_id, source, type, payload, received_ms, state, "
                            "attempts, last_error FROM inbox WHERE " +
                                q,
                            params))
    out.push_back(InboxEvent{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsInt(r[4]),
                             AsText(r[5]), static_cast<int>(AsInt(r[6])), AsText(r[7])});
  return out;
}

}  // namespace

Result<std::vector<InboxEvent>> InboxStore::PendingInboxEvents(int limit) {
  return pool_.With(
      "pending inbox events", [&](soci::session& sql) -> Result<std::vector<InboxEvent>> {
        return EventsFrom(sql, "state = 'pending' ORDER BY received_ms, event_id LIMIT :n",
                          {Int(limit)});
      });
}

Result<std::vector<InboxEvent>> InboxStore::FailedInboxEvents(const std::string& after_id,
                                                              int limit) {
  return pool_.With(
      "failed inbox events", [&](soci::session& sql) -> Result<std::vector<InboxEvent>> {
        if (after_id.empty())
          return EventsFrom(sql, "state = 'failed' ORDER BY received_ms, event_id LIMIT :n",
                            {Int(limit)});
        // After (received_ms, event_id) of the given event, in that order.
        return EventsFrom(sql,
                          "state = 'failed' AND (received_ms > (SELECT received_ms FROM inbox "
                          "WHERE event_id = :a) OR (received_ms = (SELECT received_ms FROM inbox "
                          "WHERE event_id = :a2) AND event_id > :a3)) "
                          "ORDER BY received_ms, event_id LIMIT :n",
                          {Text(after_id), Text(after_id), Text(after_id), Int(limit)});
      });
}

Result<std::vector<InboxEvent>> InboxStore::InboxEventById(const std::string& event_id) {
  return pool_.With("inbox event", [&](soci::session& sql) -> Result<std::vector<InboxEvent>> {
    return EventsFrom(sql, "event_id = :i", {Text(event_id)});
  });
}

namespace {

Status ChangeFailedEvent(Pool& pool, const std::string& event_id, const std::string& sets,
                         std::vector<Value> params) {
  return pool.With("change inbox event", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool.pg());
    auto rows = Query(sql, "SELECT state FROM inbox WHERE event_id = :i", {Text(event_id)});
    if (rows.empty()) return Status::NotFound("no billing event " + event_id);
    if (AsText(rows[0][0]) != "failed")
      return Status::Conflict("billing event " + event_id + " is " + AsText(rows[0][0]) +
                              ", not failed");
    params.push_back(Text(event_id));
    if (Exec(sql, "UPDATE inbox SET " + sets + " WHERE event_id = :i AND state = 'failed'",
             params) != 1)  // another caller changed it first
      return Status::Conflict("billing event " + event_id + " changed meanwhile");
    tr.Commit();
    return Status::Ok();
  });
}

}  // namespace

Status InboxStore::ReplayInboxEvent(const std::string& event_id) {
  return ChangeFailedEvent(pool_, event_id, "state = 'pending', attempts = 0", {});
}

Status InboxStore::DismissInboxEvent(const std::string& event_id, const std::string& reason) {
  // The reason goes before the failure it gives up on, which stays readable.
  return ChangeFailedEvent(pool_, event_id,
                           "state = 'dismissed', last_error = :e || COALESCE(last_error, '')",
                           {Text("dismissed " + reason + "; failed: ")});
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

Result<int64_t> InboxStore::PurgeInboxPayloads(int64_t received_before_ms, int64_t now_ms,
                                               int limit) {
  return pool_.With("purge inbox payloads", [&](soci::session& sql) -> Result<int64_t> {
    // By event id through a bounded subquery: one short statement however large the backlog.
    return static_cast<int64_t>(
        Exec(sql,
             "UPDATE inbox SET payload = '', purged_ms = :now WHERE event_id IN ("
             "SELECT event_id FROM inbox WHERE state IN ('done', 'dismissed') AND "
             "received_ms < :cut AND purged_ms IS NULL LIMIT :n)",
             {Int(now_ms), Int(received_before_ms), Int(limit)}));
  });
}

}  // namespace tandem::store
