#include "store/leadership.h"

#include <map>
#include <mutex>
#include <string>

#include "store/db.h"

namespace tandem::store {
namespace {

// Advisory locks are database-wide: two deployments in two schemas of one database must not
// take each other's leadership, so the schema name is folded into the key (FNV-1a).
int64_t SchemaLockKey(int64_t key, const std::string& schema) {
  if (schema.empty()) return key;
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : schema) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>((static_cast<uint64_t>(key) ^ h) & 0x7FFFFFFFFFFFFFFFULL);
}

}  // namespace

struct LeadershipStore::Held {
  std::mutex mu;
  std::unique_ptr<soci::session> session;  // GUARDED_BY(mu)
  std::map<int64_t, bool> locks;           // GUARDED_BY(mu)
};

LeadershipStore::LeadershipStore(Pool& pool) : pool_(pool), held_(std::make_unique<Held>()) {}
LeadershipStore::~LeadershipStore() = default;

Result<bool> LeadershipStore::TryAcquireLeadership(int64_t lock_key) {
  if (!pool_.pg()) return true;
  lock_key = SchemaLockKey(lock_key, pool_.options().schema);
  std::lock_guard<std::mutex> lock(held_->mu);
  if (held_->locks[lock_key]) return true;
  try {
    if (!held_->session) {
      held_->session = std::make_unique<soci::session>();
      pool_.OpenSession(*held_->session);
    }
    auto rows =
        Query(*held_->session, "SELECT CASE WHEN pg_try_advisory_lock(:k) THEN 1 ELSE 0 END",
              {Int(lock_key)});
    const bool got = AsInt(rows.at(0).at(0)) == 1;
    held_->locks[lock_key] = got;
    return got;
  } catch (const soci::soci_error& e) {
    held_->session.reset();  // a broken connection loses its locks; start over
    held_->locks.clear();
    return Status::IoError(std::string("store: advisory lock: ") + e.what());
  }
}

Status LeadershipStore::ReleaseLeadership(int64_t lock_key) {
  if (!pool_.pg()) return Status::Ok();
  lock_key = SchemaLockKey(lock_key, pool_.options().schema);
  std::lock_guard<std::mutex> lock(held_->mu);
  if (!held_->session || !held_->locks[lock_key]) return Status::Ok();
  try {
    Query(*held_->session, "SELECT CASE WHEN pg_advisory_unlock(:k) THEN 1 ELSE 0 END",
          {Int(lock_key)});
    held_->locks[lock_key] = false;
    return Status::Ok();
  } catch (const soci::soci_error& e) {
    return Status::IoError(std::string("store: advisory unlock: ") + e.what());
  }
}

Result<int> LeadershipStore::Heartbeat(const std::string& process_id, int64_t now_ms,
                                       int64_t ttl_ms) {
  // Each statement commits alone, the count after the update: a beat a joiner counts (its
  // `beats` committed after the joiner read them) then counts the joiner, whose row was
  // committed before that read (app/limit_share.h). In one transaction the count could come
  // before the commit the joiner sees.
  return pool_.With("process heartbeat", [&](soci::session& sql) -> Result<int> {
    Exec(sql,
         "INSERT INTO processes (id, seen_ms, beats) VALUES (:i, :s, 1) ON CONFLICT (id) DO "
         "UPDATE SET seen_ms = excluded.seen_ms, beats = processes.beats + 1",
         {Text(process_id), Int(now_ms)});
    Exec(sql, "DELETE FROM processes WHERE seen_ms < :t", {Int(now_ms - ttl_ms)});
    auto rows = Query(sql, "SELECT COUNT(*) FROM processes", {});
    return static_cast<int>(AsInt(rows.at(0).at(0)));
  });
}

Status LeadershipStore::LeaveProcesses(const std::string& process_id) {
  return pool_.With("leave processes", [&](soci::session& sql) -> Status {
    Exec(sql, "DELETE FROM processes WHERE id = :i", {Text(process_id)});
    return Status::Ok();
  });
}

Result<std::map<std::string, int64_t>> LeadershipStore::ProcessBeats(int64_t alive_ms) {
  return pool_.With(
      "process beats", [&](soci::session& sql) -> Result<std::map<std::string, int64_t>> {
        std::map<std::string, int64_t> out;
        for (const Row& r :
             Query(sql, "SELECT id, beats FROM processes WHERE seen_ms >= :a", {Int(alive_ms)}))
          out[AsText(r[0])] = AsInt(r[1]);
        return out;
      });
}

}  // namespace tandem::store
