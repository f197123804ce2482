#include "store/links.h"

#include <algorithm>
#include <set>

#include "store/db.h"
#include "store/writes.h"

namespace tandem::store {
namespace {

Link LinkFromRow(const Row& r) {
  return Link{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]), AsInt(r[5])};
}
const char* kLinkColumns = "object, crm_id, billing_id, account_number, content_hash, updated_ms";

// FindLinkByCrmId and FindLinkByBillingId: the link whose `column` is `value`.
Result<std::optional<Link>> FindLinkBy(Pool& pool, const char* column, const std::string& object,
                                       const std::string& value) {
  return pool.With("find link", [&](soci::session& sql) -> Result<std::optional<Link>> {
    auto rows = Query(sql,
                      std::string("SELECT ") + kLinkColumns + " FROM links WHERE object = :o AND " +
                          column + " = :v",
                      {Text(object), Text(value)});
    if (rows.empty()) return std::optional<Link>();
    return std::optional<Link>(LinkFromRow(rows[0]));
  });
}

Result<std::vector<Link>> FindLinksBy(Pool& pool, const char* column, const std::string& object,
                                      const std::vector<std::string>& values) {
  return pool.With("find links", [&](soci::session& sql) -> Result<std::vector<Link>> {
    std::vector<Link> out;
    for (const Row& r : QueryInChunks(sql, values, {Text(object)}, [&](size_t n) {
           return std::string("SELECT ") + kLinkColumns + " FROM links WHERE " + column + " IN (" +
                  InList(n) + ") AND object = :p" + std::to_string(n);
         }))
      out.push_back(LinkFromRow(r));
    return out;
  });
}

}  // namespace

// REQUIRES: inside a transaction (both).
void InsertLinks(soci::session& sql, const std::vector<Link>& links) {
  InsertRows(sql, links, 6, std::string("INSERT INTO links (") + kLinkColumns + ")",
             " ON CONFLICT (object, crm_id) DO UPDATE SET billing_id = excluded.billing_id, "
             "account_number = excluded.account_number, content_hash = excluded.content_hash, "
             "updated_ms = excluded.updated_ms",
             [](const Link& l, std::vector<Value>* p) {
               p->insert(p->end(),
                         {Text(l.object), Text(l.crm_id), Text(l.billing_id),
                          OptText(l.account_number), OptText(l.content_hash), Int(l.updated_ms)});
             });
}

// Here with the links because links lead a sync run's record; the audit rows and cursors
// join their transaction.
Status RecordSync(Pool& pool, const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                  const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  if (links.empty() && audit.empty() && cursors.empty()) return Status::Ok();
  return pool.With("record sync", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool.pg());
    InsertLinks(sql, links);
    InsertAudit(sql, audit);
    WriteCursors(sql, cursors, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Status LinkStore::UpsertLinks(const std::vector<Link>& links) { return RecordSync(links, {}); }

Status LinkStore::RecordSync(const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                             const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  // Two workers linking one record at once (two orders' tasks syncing one account) race in
  // PostgreSQL: the second insert waits for the first to commit, then breaks the billing-id
  // index, which ON CONFLICT (object, crm_id) does not arbitrate. Run again, the row is there
  // and the upsert updates it; a real conflict (the billing id linked to another record)
  // fails every time and is returned.
  Status st;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    st = store::RecordSync(pool_, links, audit, cursors, now_ms);
    if (st.ok() || st.message().find("duplicate key value") == std::string::npos) return st;
  }
  return st;
}

Result<std::optional<Link>> LinkStore::FindLinkByCrmId(const std::string& object,
                                                       const std::string& crm_id) {
  return FindLinkBy(pool_, "crm_id", object, crm_id);
}

Result<std::optional<Link>> LinkStore::FindLinkByBillingId(const std::string& object,
                                                           const std::string& billing_id) {
  return FindLinkBy(pool_, "billing_id", object, billing_id);
}

Result<std::vector<Link>> LinkStore::FindLinksByCrmIds(const std::string& object,
                                                       const std::vector<std::string>& crm_ids) {
  return FindLinksBy(pool_, "crm_id", object, crm_ids);
}

Result<std::vector<Link>> LinkStore::FindLinksByBillingIds(
    const std::string& object, const std::vector<std::string>& billing_ids) {
  return FindLinksBy(pool_, "billing_id", object, billing_ids);
}

Result<std::vector<Link>> LinkStore::ListLinks(const std::string& object,
                                               const std::string& after_crm_id, int limit) {
  return pool_.With("list links", [&](soci::session& sql) -> Result<std::vector<Link>> {
    std::vector<Link> out;
    for (const Row& r : Query(sql,
                              std::string("SELECT ") + kLinkColumns +
                                  " FROM links WHERE object = :o AND crm_id > :a ORDER BY crm_id "
                                  "LIMIT " +
                                  std::to_string(std::max(1, limit)),
                              {Text(object), Text(after_crm_id)}))
      out.push_back(LinkFromRow(r));
    return out;
  });
}

Status LinkStore::DeleteLinks(const std::string& object, const std::vector<std::string>& crm_ids,
                              const std::vector<AuditEntry>& audit) {
  return pool_.With("delete links", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    // Audit rows only for links that were there: one removed twice at once (an unlink beside
    // a billing deletion) is one removal, and so one generation of the record's create key.
    std::set<std::string> removed;
    for (const Row& r : QueryInChunks(sql, crm_ids, {Text(object)}, [](size_t n) {
           return "DELETE FROM links WHERE crm_id IN (" + InList(n) +
                  ") AND object = :o RETURNING crm_id";
         }))
      removed.insert(AsText(r[0]));
    std::vector<AuditEntry> rows;
    for (const auto& a : audit)
      if (a.object != object || removed.count(a.record_id)) rows.push_back(a);
    InsertAudit(sql, rows);
    tr.Commit();
    return Status::Ok();
  });
}

Result<int64_t> LinkStore::CountLinks(const std::string& object) {
  return pool_.With("count links", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM links WHERE object = :o", {Text(object)})[0][0]));
  });
}

}  // namespace tandem::store
