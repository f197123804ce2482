#include "store/audit.h"

#include <cstdint>

#include "store/db.h"
#include "store/writes.h"

namespace tandem::store {

void InsertAudit(soci::session& sql, const std::vector<AuditEntry>& entries) {
  InsertRows(sql, entries, 7,
             "INSERT INTO audit (at_ms, actor, object, record_id, action, outcome, detail)", "",
             [](const AuditEntry& a, std::vector<Value>* p) {
               p->insert(p->end(), {Int(a.at_ms), Text(a.actor), Text(a.object), Text(a.record_id),
                                    Text(a.action), Text(a.outcome), OptText(a.detail)});
             });
}

// RecordSync's transaction with audit rows alone.
Status AuditStore::AppendAudit(const std::vector<AuditEntry>& entries) {
  return RecordSync(pool_, {}, entries, {}, 0);
}

Result<int64_t> AuditStore::CountAudit(const std::string& object) {
  return pool_.With("count audit", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM audit WHERE object = :o", {Text(object)})[0][0]));
  });
}

Result<int64_t> AuditStore::CountUnlinked(const std::string& object, const std::string& record_id) {
  return pool_.With("count unlinked", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(AsInt(Query(sql,
                                            "SELECT COUNT(*) FROM audit WHERE object = :o AND "
                                            "record_id = :r AND outcome = 'unlinked'",
                                            {Text(object), Text(record_id)})[0][0]));
  });
}

Result<std::vector<AuditEntry>> AuditStore::AuditFor(const std::string& object,
                                                     const std::string& record_id) {
  return pool_.With("read audit", [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
    std::vector<AuditEntry> out;
    for (const Row& r : Query(sql,
                              "SELECT at_ms, actor, object, record_id, action, outcome, detail "
                              "FROM audit WHERE object = :o AND record_id = :r ORDER BY id",
                              {Text(object), Text(record_id)})) {
      out.push_back(AuditEntry{AsInt(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]),
                               AsText(r[5]), AsText(r[6])});
    }
    return out;
  });
}

Result<std::vector<AuditEntry>> AuditStore::History(const std::vector<std::string>& record_ids,
                                                    int64_t before_id, int limit) {
  return pool_.With("record history", [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
    std::vector<AuditEntry> out;
    if (record_ids.empty()) return out;
    std::string in;
    std::vector<Value> params;
    for (const auto& id : record_ids) {
      in += std::string(in.empty() ? "" : ", ") + ":r" + std::to_string(params.size());
      params.push_back(Text(id));
    }
    params.push_back(Int(before_id > 0 ? before_id : INT64_MAX));
    params.push_back(Int(limit));
    for (const Row& r : Query(sql,
                              "SELECT at_ms, actor, object, record_id, action, outcome, detail, id "
                              "FROM audit WHERE record_id IN (" +
                                  in + ") AND id < :b ORDER BY id DESC LIMIT :n",
                              params))
      out.push_back(AuditEntry{AsInt(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]),
                               AsText(r[5]), AsText(r[6]), AsInt(r[7])});
    return out;
  });
}

Result<std::vector<AuditEntry>> AuditStore::AuditByActor(const std::string& actor, int64_t after_id,
                                                         int limit) {
  return pool_.With("audit by actor", [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
    std::vector<AuditEntry> out;
    for (const Row& r : Query(sql,
                              "SELECT at_ms, actor, object, record_id, action, outcome, detail, id "
                              "FROM audit WHERE actor = :a AND id > :i ORDER BY id LIMIT :n",
                              {Text(actor), Int(after_id), Int(limit)}))
      out.push_back(AuditEntry{AsInt(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]),
                               AsText(r[5]), AsText(r[6]), AsInt(r[7])});
    return out;
  });
}

}  // namespace tandem::store
