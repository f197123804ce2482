#include "store/sync_retries.h"

#include <algorithm>
#include <map>

#include "store/db.h"

namespace tandem::store {

std::optional<int64_t> NextRetryMs(const RetryPolicy& policy, int attempts, int64_t first_failed_ms,
                                   int64_t now_ms) {
  int64_t delay = policy.first_ms;
  for (int i = 1; i < attempts && delay < policy.max_interval_ms; ++i) delay *= 2;
  delay = std::min(delay, policy.max_interval_ms);
  const int64_t next = now_ms + delay;
  if (next - first_failed_ms > policy.give_up_after_ms) return std::nullopt;
  return next;
}

namespace {

SyncFailure FailureFrom(const Row& r) {
  SyncFailure f;
  f.object = AsText(r[0]);
  f.crm_id = AsText(r[1]);
  f.first_failed_ms = AsInt(r[2]);
  f.last_failed_ms = AsInt(r[3]);
  f.attempts = static_cast<int>(AsInt(r[4]));
  if (r[5].type != Value::Type::kNull) f.next_retry_ms = AsInt(r[5]);
  f.last_error = AsText(r[6]);
  return f;
}

constexpr const char* kColumns =
    "SELECT object, crm_id, first_failed_ms, last_failed_ms, attempts, next_retry_ms, "
    "last_error FROM sync_failures ";

}  // namespace

Status SyncRetryStore::NoteSyncOutcomes(
    const std::string& object, const std::vector<std::pair<std::string, std::string>>& failed,
    const std::vector<std::string>& resolved, const RetryPolicy& policy, int64_t now_ms) {
  if (failed.empty() && resolved.empty()) return Status::Ok();
  return pool_.With("note sync outcomes", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    for (size_t start = 0; start < resolved.size(); start += kParamsPerStatement) {
      const size_t n = std::min(resolved.size() - start, kParamsPerStatement);
      std::vector<Value> params;
      for (size_t i = 0; i < n; ++i) params.push_back(Text(resolved[start + i]));
      params.push_back(Text(object));
      Exec(sql, "DELETE FROM sync_failures WHERE crm_id IN (" + InList(n) + ") AND object = :o",
           params);
    }
    std::vector<std::string> ids;
    for (const auto& f : failed) ids.push_back(f.first);
    std::map<std::string, SyncFailure> known;
    for (const Row& r : QueryInChunks(sql, ids, {Text(object)}, [](size_t n) {
           return std::string(kColumns) + "WHERE crm_id IN (" + InList(n) + ") AND object = :o";
         }))
      known[AsText(r[1])] = FailureFrom(r);
    // One multi-row upsert per 35 records (SOCI binds a round trip per row otherwise).
    InsertRows(
        sql, failed, 7,
        "INSERT INTO sync_failures (object, crm_id, first_failed_ms, last_failed_ms, attempts, "
        "next_retry_ms, last_error)",
        " ON CONFLICT (object, crm_id) DO UPDATE SET first_failed_ms = excluded.first_failed_ms, "
        "last_failed_ms = excluded.last_failed_ms, attempts = excluded.attempts, "
        "next_retry_ms = excluded.next_retry_ms, last_error = excluded.last_error",
        [&](const std::pair<std::string, std::string>& f, std::vector<Value>* params) {
          auto it = known.find(f.first);
          // A record given up (or whose last failure is older than the give-up age) that fails
          // again starts a new schedule: its old failure is history, not this one's.
          const bool fresh = it == known.end() || !it->second.next_retry_ms ||
                             now_ms - it->second.last_failed_ms > policy.give_up_after_ms;
          const int64_t first = fresh ? now_ms : it->second.first_failed_ms;
          const int attempts = fresh ? 1 : it->second.attempts + 1;
          const auto next = NextRetryMs(policy, attempts, first, now_ms);
          for (Value v : {Text(object), Text(f.first), Int(first), Int(now_ms), Int(attempts),
                          next ? Int(*next) : Value{}, Text(f.second.substr(0, 2000))})
            params->push_back(std::move(v));
        });
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::vector<SyncFailure>> SyncRetryStore::DueSyncRetries(int64_t now_ms, int limit) {
  return pool_.With(
      "due sync retries", [&](soci::session& sql) -> Result<std::vector<SyncFailure>> {
        std::vector<SyncFailure> out;
        for (const Row& r : Query(sql,
                                  std::string(kColumns) +
                                      "WHERE next_retry_ms IS NOT NULL AND next_retry_ms <= :now "
                                      "ORDER BY next_retry_ms, object, crm_id LIMIT :n",
                                  {Int(now_ms), Int(limit)}))
          out.push_back(FailureFrom(r));
        return out;
      });
}

Result<std::vector<SyncFailure>> SyncRetryStore::ListSyncFailures(const SyncFailureFilter& f) {
  return pool_.With(
      "list sync failures", [&](soci::session& sql) -> Result<std::vector<SyncFailure>> {
        std::string where = "WHERE 1 = 1";
        std::vector<Value> params;
        if (f.state == "pending") where += " AND next_retry_ms IS NOT NULL";
        if (f.state == "given_up") where += " AND next_retry_ms IS NULL";
        if (!f.object.empty()) {
          where += " AND object = :o";
          params.push_back(Text(f.object));
        }
        if (!f.after_object.empty()) {
          where += " AND (object > :ao OR (object = :ao2 AND crm_id > :ac))";
          params.push_back(Text(f.after_object));
          params.push_back(Text(f.after_object));
          params.push_back(Text(f.after_crm_id));
        }
        params.push_back(Int(f.limit));
        std::vector<SyncFailure> out;
        for (const Row& r : Query(
                 sql, std::string(kColumns) + where + " ORDER BY object, crm_id LIMIT :n", params))
          out.push_back(FailureFrom(r));
        return out;
      });
}

}  // namespace tandem::store
