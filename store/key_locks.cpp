#include "store/key_locks.h"

#include "store/db.h"

namespace tandem::store {

Result<bool> KeyLockStore::TryLockKey(const std::string& key, const std::string& holder,
                                      int64_t now_ms, int64_t until_ms) {
  return pool_.With("lock key", [&](soci::session& sql) -> Result<bool> {
    // One statement, so two processes racing for a free key cannot both take it.
    const long long n =
        Exec(sql,
             "INSERT INTO key_locks (lock_key, holder, until_ms) VALUES (:k, :h, :u) "
             "ON CONFLICT (lock_key) DO UPDATE SET holder = excluded.holder, "
             "until_ms = excluded.until_ms "
             "WHERE key_locks.until_ms < :now OR key_locks.holder = excluded.holder",
             {Text(key), Text(holder), Int(until_ms), Int(now_ms)});
    return n == 1;
  });
}

Status KeyLockStore::UnlockKey(const std::string& key, const std::string& holder) {
  return pool_.With("unlock key", [&](soci::session& sql) -> Status {
    Exec(sql, "DELETE FROM key_locks WHERE lock_key = :k AND holder = :h",
         {Text(key), Text(holder)});
    return Status::Ok();
  });
}

}  // namespace tandem::store
