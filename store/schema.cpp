#include "store/schema.h"

#include <chrono>

#include "store/db.h"
#include "store/migrations.h"
#include "util/clock.h"
#include "util/log.h"

namespace tandem::store {
namespace {

constexpr int64_t kMigrationLockKey = 7143220001;  // "tandem migrations" advisory lock id

}  // namespace

int SchemaStore::LatestSchemaVersion() {
  const auto& all = EmbeddedMigrations();
  return all.empty() ? 0 : all.back().version;
}

namespace {
// Two processes starting at once on a new schema would both create the table (IF NOT EXISTS
// does not cover the race) and the second would fail and exit: one at a time, under the lock.
void EnsureMigrationsTable(soci::session& sql, bool pg) {
  Tx tr(sql, pg);
  if (pg)
    Query(sql, "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) +
                   ")) AS l");
  Exec(sql,
       "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
       "name TEXT NOT NULL, applied_ms BIGINT NOT NULL)");
  tr.Commit();
}
}  // namespace

Result<int> SchemaStore::SchemaVersion() {
  return pool_.With("schema version", [&](soci::session& sql) -> Result<int> {
    EnsureMigrationsTable(sql, pool_.pg());
    auto rows = Query(sql, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    return static_cast<int>(AsInt(rows.at(0).at(0)));
  });
}

Status SchemaStore::Migrate() {
  auto logger = log::Get("store");
  return pool_.With("migrate", [&](soci::session& sql) -> Status {
    EnsureMigrationsTable(sql, pool_.pg());
    for (const Migration& m : EmbeddedMigrations()) {
      Tx tr(sql, pool_.pg());
      if (pool_.pg()) {
        // Serializes concurrent migrators; released at commit/rollback.
        Query(sql, "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" +
                       std::to_string(kMigrationLockKey) + ")) AS l");
      }
      auto rows = Query(sql, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (AsInt(rows.at(0).at(0)) >= m.version) {
        tr.Commit();
        continue;
      }
      logger->info("applying schema migration {} ({})", m.version, m.name);
      for (const std::string& stmt : MigrationStatements(m, pool_.pg())) Exec(sql, stmt);
      Exec(sql, "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)",
           {Int(m.version), Text(m.name), Int(ToEpochMillis(std::chrono::system_clock::now()))});
      if (pool_.options().crash_points)
        pool_.options().crash_points->Hit("store.migration.before_commit");
      tr.Commit();
      if (pool_.options().crash_points)
        pool_.options().crash_points->Hit("store.migration.after_commit");
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> SchemaStore::TableNames() {
  return pool_.With("table names", [&](soci::session& sql) -> Result<std::vector<std::string>> {
    const std::string q = pool_.pg() ? "SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = current_schema() ORDER BY 1"
                                     : "SELECT name FROM sqlite_master WHERE type = 'table' "
                                       "AND name NOT LIKE 'sqlite_%' ORDER BY 1";
    std::vector<std::string> out;
    for (const Row& r : Query(sql, q)) out.push_back(AsText(r[0]));
    return out;
  });
}

Status SchemaStore::DropSchemaForTests() {
  if (!pool_.pg() || pool_.options().schema.empty()) return Status::Ok();
  return pool_.With("drop schema", [&](soci::session& sql) -> Status {
    Exec(sql, "DROP SCHEMA IF EXISTS " + pool_.options().schema + " CASCADE");
    return Status::Ok();
  });
}

}  // namespace tandem::store
