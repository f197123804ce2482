// Schema: the store's tables, brought to the version this binary embeds
// (store/migrations/NNNN_*.sql).
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

class SchemaStore {
 public:
  explicit SchemaStore(Pool& pool) : pool_(pool) {}

  static int LatestSchemaVersion();
  Result<int> SchemaVersion();
  // Applies each pending migration in its own transaction, together with its row in
  // schema_migrations: a crash leaves the schema at a whole version, never half-applied.
  // Safe to run from several processes at once (PostgreSQL: advisory transaction lock).
  Status Migrate();
  Result<std::vector<std::string>> TableNames();

  // Drops the configured PostgreSQL schema with everything in it (tests only).
  Status DropSchemaForTests();

 private:
  Pool& pool_;
};

}  // namespace tandem::store
