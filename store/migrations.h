// Versioned schema migrations, embedded from store/migrations/NNNN_*.sql at build time.
// Thread-safety: read-only data.
#pragma once

#include <string>
#include <vector>

namespace tandem::store {

struct Migration {
  int version;
  const char* name;
  const char* sql;  // statements separated by lines ending in ';'; {{ID}} is dialect-specific
};

// All migrations, ordered by version.
const std::vector<Migration>& EmbeddedMigrations();

// Splits a migration into statements and substitutes the dialect's placeholders.
std::vector<std::string> MigrationStatements(const Migration& m, bool postgres);

}  // namespace tandem::store
