#include "store/overview.h"

#include "store/db.h"

namespace tandem::store {
namespace {

// Counts per state of `table` (a name of ours, never the caller's).
std::map<std::string, int64_t> CountStates(soci::session& sql, const std::string& table) {
  std::map<std::string, int64_t> out;
  for (const Row& r : Query(sql, "SELECT state, COUNT(*) FROM " + table + " GROUP BY state"))
    out[AsText(r[0])] = AsInt(r[1]);
  return out;
}

// Rows of `table` whose `column` falls in each bucket (`where` narrows them further).
std::vector<int64_t> CountPerBucket(soci::session& sql, const std::string& table,
                                    const std::string& column, const std::string& where,
                                    int64_t since_ms, int64_t bucket_ms, int buckets) {
  std::vector<int64_t> out(static_cast<size_t>(buckets), 0);
  const int64_t until_ms = since_ms + bucket_ms * buckets;
  // Integer division on both backends: BIGINT / BIGINT truncates in PostgreSQL and SQLite.
  for (const Row& r : Query(sql,
                            "SELECT (" + column + " - :s) / :b, COUNT(*) FROM " + table +
                                " WHERE " + column + " >= :s2 AND " + column + " < :u" +
                                (where.empty() ? "" : " AND " + where) + " GROUP BY 1",
                            {Int(since_ms), Int(bucket_ms), Int(since_ms), Int(until_ms)})) {
    const int64_t i = AsInt(r[0]);
    if (i >= 0 && i < buckets) out[static_cast<size_t>(i)] = AsInt(r[1]);
  }
  return out;
}

}  // namespace

Result<QueueDepths> OverviewStore::CountQueues() {
  return pool_.With("count queues", [&](soci::session& sql) -> Result<QueueDepths> {
    QueueDepths q;
    q["tasks"] = CountStates(sql, "tasks");
    q["inbox"] = CountStates(sql, "inbox");
    q["jobs"] = CountStates(sql, "jobs");
    auto& retries = q["sync_failures"];
    for (const Row& r : Query(sql,
                              "SELECT CASE WHEN next_retry_ms IS NULL THEN 'given_up' ELSE "
                              "'pending' END, COUNT(*) FROM sync_failures GROUP BY 1"))
      retries[AsText(r[0])] = AsInt(r[1]);
    return q;
  });
}

Result<Activity> OverviewStore::CountActivity(int64_t since_ms, int64_t bucket_ms, int buckets) {
  if (bucket_ms <= 0 || buckets <= 0)
    return Status::InvalidArgument("activity needs a positive bucket size and count");
  return pool_.With("count activity", [&](soci::session& sql) -> Result<Activity> {
    Activity a;
    a.synced = CountPerBucket(sql, "audit", "at_ms",
                              "action = 'sync' AND outcome IN ('created', 'updated')", since_ms,
                              bucket_ms, buckets);
    a.tasks_done =
        CountPerBucket(sql, "tasks", "updated_ms", "state = 'done'", since_ms, bucket_ms, buckets);
    a.events_received =
        CountPerBucket(sql, "inbox", "received_ms", "", since_ms, bucket_ms, buckets);
    return a;
  });
}

}  // namespace tandem::store
