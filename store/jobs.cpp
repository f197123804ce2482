#include "store/jobs.h"

#include "store/db.h"

namespace tandem::store {
namespace {

Job JobFromRow(const Row& r) {
  return Job{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsInt(r[4]),
             AsInt(r[5]),  AsInt(r[6]),  AsText(r[7]), AsInt(r[8]),  AsInt(r[9])};
}

}  // namespace

namespace {

void UpsertJob(soci::session& sql, const Job& j) {
  Exec(sql,
       "INSERT INTO jobs (id, kind, state, params, total, processed, failed, checkpoint, "
       "created_ms, updated_ms) VALUES (:i, :k, :s, :p, :t, :pr, :f, :c, :cr, :u) "
       "ON CONFLICT (id) DO UPDATE SET state = excluded.state, params = excluded.params, "
       "total = excluded.total, processed = excluded.processed, failed = excluded.failed, "
       "checkpoint = excluded.checkpoint, updated_ms = excluded.updated_ms",
       {Text(j.id), Text(j.kind), Text(j.state), Text(j.params), Int(j.total), Int(j.processed),
        Int(j.failed), OptText(j.checkpoint), Int(j.created_ms), Int(j.updated_ms)});
}

}  // namespace

Status JobStore::PutJob(const Job& j) {
  return pool_.With("put job", [&](soci::session& sql) -> Status {
    UpsertJob(sql, j);
    return Status::Ok();
  });
}

Status JobStore::PutJobWithOutcomes(const Job& j, int64_t first_seq,
                                    const std::vector<std::string>& outcomes) {
  return pool_.With("put job with outcomes", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    UpsertJob(sql, j);
    int64_t seq = first_seq;
    InsertRows(sql, outcomes, 3, "INSERT INTO job_outcomes (job_id, seq, outcome)",
               " ON CONFLICT (job_id, seq) DO NOTHING",
               [&](const std::string& outcome, std::vector<Value>* params) {
                 params->push_back(Text(j.id));
                 params->push_back(Int(seq++));
                 params->push_back(Text(outcome));
               });
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::vector<std::pair<int64_t, std::string>>> JobStore::JobOutcomes(
    const std::string& job_id, int64_t after_seq, int limit) {
  return pool_.With(
      "job outcomes",
      [&](soci::session& sql) -> Result<std::vector<std::pair<int64_t, std::string>>> {
        std::vector<std::pair<int64_t, std::string>> out;
        for (const Row& r : Query(sql,
                                  "SELECT seq, outcome FROM job_outcomes WHERE "
                                  "job_id = :j AND seq > :a ORDER BY seq LIMIT :n",
                                  {Text(job_id), Int(after_seq), Int(limit)}))
          out.emplace_back(AsInt(r[0]), AsText(r[1]));
        return out;
      });
}

Result<int64_t> JobStore::PurgeOldJobs(const std::string& kind, int64_t finished_before_ms,
                                       int64_t stalled_before_ms, int limit) {
  return pool_.With("purge old jobs", [&](soci::session& sql) -> Result<int64_t> {
    Tx tr(sql, pool_.pg());
    // The ids first: the two deletes then name the same jobs, whatever commits meanwhile.
    std::vector<Value> ids;
    for (const Row& r :
         Query(sql,
               "SELECT id FROM jobs WHERE kind = :k AND ((state IN ('done', 'failed') "
               "AND updated_ms < :f) OR (state IN ('queued', 'running') AND "
               "updated_ms < :s)) ORDER BY id LIMIT :n",
               {Text(kind), Int(finished_before_ms), Int(stalled_before_ms), Int(limit)}))
      ids.push_back(Text(AsText(r[0])));
    if (ids.empty()) return int64_t{0};
    Exec(sql, "DELETE FROM job_outcomes WHERE job_id IN (" + InList(ids.size()) + ")", ids);
    Exec(sql, "DELETE FROM jobs WHERE id IN (" + InList(ids.size()) + ")", ids);
    tr.Commit();
    return static_cast<int64_t>(ids.size());
  });
}

Result<std::optional<Job>> JobStore::GetJob(const std::string& id) {
  return pool_.With("get job", [&](soci::session& sql) -> Result<std::optional<Job>> {
    auto rows = Query(sql,
                      "SELECT id, kind, state, params, total, processed, failed, checkpoint, "
                      "created_ms, updated_ms FROM jobs WHERE id = :i",
                      {Text(id)});
    if (rows.empty()) return std::optional<Job>();
    return std::optional<Job>(JobFromRow(rows[0]));
  });
}

Result<std::vector<Job>> JobStore::RecentJobs(int limit, const std::string& kind) {
  return pool_.With("recent jobs", [&](soci::session& sql) -> Result<std::vector<Job>> {
    const std::string select =
        "SELECT id, kind, state, params, total, processed, failed, checkpoint, created_ms, "
        "updated_ms FROM jobs ";
    const std::string order = "ORDER BY updated_ms DESC, id LIMIT :n";
    const auto rows =
        kind.empty() ? Query(sql, select + order, {Int(limit)})
                     : Query(sql, select + "WHERE kind = :k " + order, {Text(kind), Int(limit)});
    std::vector<Job> out;
    for (const Row& r : rows) out.push_back(JobFromRow(r));
    return out;
  });
}

Status JobStore::AddMatchKeys(const std::string& job_id, const std::string& side,
                              const std::vector<MatchKey>& keys) {
  if (keys.empty()) return Status::Ok();
  return pool_.With("add match keys", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    InsertRows(sql, keys, 4, "INSERT INTO match_keys (job_id, side, match_key, ref)",
               " ON CONFLICT DO NOTHING", [&](const MatchKey& k, std::vector<Value>* p) {
                 p->insert(p->end(), {Text(job_id), Text(side), Text(k.key), Text(k.ref)});
               });
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::vector<MatchKey>> JobStore::FindMatchKeys(const std::string& job_id,
                                                      const std::string& side,
                                                      const std::vector<std::string>& keys) {
  return pool_.With("find match keys", [&](soci::session& sql) -> Result<std::vector<MatchKey>> {
    std::vector<MatchKey> out;
    for (const Row& r : QueryInChunks(sql, keys, {Text(job_id), Text(side)}, [](size_t n) {
           return "SELECT match_key, ref FROM match_keys WHERE match_key IN (" + InList(n) +
                  ") AND job_id = :p" + std::to_string(n) + " AND side = :p" +
                  std::to_string(n + 1);
         }))
      out.push_back(MatchKey{AsText(r[0]), AsText(r[1])});
    return out;
  });
}

Status JobStore::DropMatchKeys(const std::string& job_id) {
  return pool_.With("drop match keys", [&](soci::session& sql) -> Status {
    Exec(sql, "DELETE FROM match_keys WHERE job_id = :j", {Text(job_id)});
    return Status::Ok();
  });
}

}  // namespace tandem::store
