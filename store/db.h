// The store's database layer, private to store/ (no header outside it includes this one):
// the connection pool every concern shares and the helpers that run SQL on a pooled session.
// PostgreSQL and SQLite differ here, and in the few statements that ask Pool::pg().
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <soci/soci.h>

#include "store/options.h"
#include "util/result.h"

namespace tandem::store {

// Bound parameters per statement. SQLite resolves each named parameter by a linear search
// over those seen before, so preparing a statement costs O(params^2): 3,000 parameters made a
// 5,000-row chunk spend seconds in the parser; 250 keeps it at microseconds.
constexpr size_t kParamsPerStatement = 250;

// A bound parameter. SOCI binds by reference, so a Params object owns the storage until the
// statement has run.
struct Value {
  enum class Type { kNull, kInt, kText } type = Type::kNull;
  long long i = 0;
  std::string s;
};
inline Value Int(long long v) { return Value{Value::Type::kInt, v, {}}; }
inline Value Text(std::string v) { return Value{Value::Type::kText, 0, std::move(v)}; }
// Empty text is stored as NULL for optional columns.
inline Value OptText(const std::string& v) { return v.empty() ? Value{} : Text(v); }

using Row = std::vector<Value>;

// A write transaction. SQLite gets BEGIN IMMEDIATE: a deferred transaction that reads and
// then writes can fail with SQLITE_BUSY at once (no busy wait) when another connection does
// the same. Rolls back in the destructor unless committed.
class Tx {
 public:
  Tx(soci::session& sql, bool postgres) : sql_(sql) {
    sql_ << (postgres ? "BEGIN" : "BEGIN IMMEDIATE");
  }
  ~Tx() {
    if (done_) return;
    try {
      sql_ << "ROLLBACK";
    } catch (...) {
      // The connection is broken; the server has rolled back already.
    }
  }
  void Commit() {
    sql_ << "COMMIT";
    done_ = true;
  }

 private:
  soci::session& sql_;
  bool done_ = false;
};

// Runs a statement; returns the number of rows it changed.
long long Exec(soci::session& sql, const std::string& q, const std::vector<Value>& params = {});
std::vector<Row> Query(soci::session& sql, const std::string& q,
                       const std::vector<Value>& params = {});

long long AsInt(const Value& v);
std::string AsText(const Value& v);

// "(?, ?, ?), (?, ?, ?)" with SOCI's named placeholders :p0, :p1, ...
std::string Placeholders(size_t rows, size_t cols);
// ":p0, :p1, ..." for `IN (...)` over n values.
std::string InList(size_t n);

// `head VALUES (..), (..) tail` over `rows`, 500 rows per statement (SOCI's vector binding
// costs a round trip per row on PostgreSQL); `bind` appends one row's `ncols` values.
template <typename T, typename Bind>
void InsertRows(soci::session& sql, const std::vector<T>& rows, size_t ncols,
                const std::string& head, const std::string& tail, Bind bind) {
  const size_t per_statement = std::max<size_t>(1, kParamsPerStatement / ncols);
  for (size_t start = 0; start < rows.size(); start += per_statement) {
    const size_t n = std::min(per_statement, rows.size() - start);
    std::vector<Value> params;
    params.reserve(n * ncols);
    for (size_t i = start; i < start + n; ++i) bind(rows[i], &params);
    Exec(sql, head + " VALUES " + Placeholders(n, ncols) + tail, params);
  }
}

// `SELECT ... WHERE column IN (:p0, ...) AND ...` over `values`, kParamsPerStatement at a
// time: `query(n)` is the statement for n of them, whose `extra` parameters follow the list.
std::vector<Row> QueryInChunks(soci::session& sql, const std::vector<std::string>& values,
                               const std::vector<Value>& extra,
                               const std::function<std::string(size_t n)>& query);

// The sessions every concern of one Store shares (SQLite: one), and how they are opened.
class Pool {
 public:
  // Creates the configured PostgreSQL schema when missing, and opens the sessions.
  // Fails with InvalidArgument for a bad URL or schema, IoError when the database cannot be
  // reached.
  static Result<std::unique_ptr<Pool>> Open(const StoreOptions& options);

  Backend backend() const { return url_.backend; }
  bool pg() const { return url_.backend == Backend::kPostgres; }
  const StoreOptions& options() const { return options_; }

  // Opens `s` on the store's database with the settings every session gets.
  void OpenSession(soci::session& s) const;

  // Runs `fn` with a pooled session, turning SOCI's exceptions into a Status.
  template <typename Fn>
  auto With(const char* what, Fn&& fn) -> decltype(fn(std::declval<soci::session&>())) {
    try {
      soci::session sql(*sessions_);
      return fn(sql);
    } catch (const soci::soci_error& e) {
      return Status::IoError(std::string("store: ") + what + ": " + e.what());
    } catch (const std::exception& e) {
      return Status::Internal(std::string("store: ") + what + ": " + e.what());
    }
  }

 private:
  Pool(StoreOptions options, StoreUrl url) : options_(std::move(options)), url_(std::move(url)) {}

  StoreOptions options_;
  StoreUrl url_;
  std::unique_ptr<soci::connection_pool> sessions_;
};

}  // namespace tandem::store
