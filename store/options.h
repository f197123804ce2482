// How Store reaches its database: the URL forms it accepts and the options Store::Open takes.
#pragma once

#include <string>

#include "util/crash_point.h"
#include "util/result.h"

namespace tandem::store {

enum class Backend { kSqlite, kPostgres };

struct StoreUrl {
  Backend backend = Backend::kSqlite;
  std::string connect;  // SOCI connection string (key=value for PostgreSQL, path for SQLite)
};

// Accepts "sqlite:PATH", "sqlite::memory:", "postgresql://user:pass@host:port/db?opt=v" (and
// "postgres://"), or "postgresql:key=value ..." (libpq keywords). SOCI 4.0 mangles URI
// strings, so URIs are rewritten to key=value here.
Result<StoreUrl> ParseStoreUrl(const std::string& url);

// True when the URL carries a password (user:PASSWORD@ in a URI, password=... among libpq
// keywords): the configuration accepts one only through a secret reference.
bool StoreUrlHasPassword(const std::string& url);
// The URL with the password added as a libpq keyword ("postgresql:... password='…'").
// Failure: InvalidArgument for a SQLite URL, or one that does not parse.
Result<std::string> StoreUrlWithPassword(const std::string& url, const std::string& password);

struct StoreOptions {
  std::string url = "sqlite:tandem.db";  // default: SQLite file in the working directory
  int pool_size = 4;                     // PostgreSQL sessions; SQLite always uses 1
  CrashPoints* crash_points = nullptr;   // tests: die at named points
  bool migrate = true;                   // apply pending migrations on Open
  // PostgreSQL only: the schema Tandem's tables live in (created when missing); empty means
  // the server's default search_path. Letters, digits and '_' only.
  std::string schema;
};

}  // namespace tandem::store
