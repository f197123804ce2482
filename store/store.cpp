#include "store/store.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "store/migrations.h"
#include "util/clock.h"
#include "util/log.h"

namespace tandem::store {
namespace {

constexpr int64_t kMigrationLockKey = 7143220001;  // "tandem migrations" advisory lock id
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
Value Int(long long v) { return Value{Value::Type::kInt, v, {}}; }
Value Text(std::string v) { return Value{Value::Type::kText, 0, std::move(v)}; }
// Empty text is stored as NULL for optional columns.
Value OptText(const std::string& v) { return v.empty() ? Value{} : Text(v); }

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

class Params {
 public:
  void BindTo(soci::statement& st, const std::vector<Value>& values) {
    for (const Value& v : values) {
      switch (v.type) {
        case Value::Type::kInt:
          ints_.push_back(v.i);
          inds_.push_back(soci::i_ok);
          st.exchange(soci::use(ints_.back(), inds_.back()));
          break;
        case Value::Type::kText:
          texts_.push_back(v.s);
          inds_.push_back(soci::i_ok);
          st.exchange(soci::use(texts_.back(), inds_.back()));
          break;
        case Value::Type::kNull:
          texts_.emplace_back();
          inds_.push_back(soci::i_null);
          st.exchange(soci::use(texts_.back(), inds_.back()));
          break;
      }
    }
  }

 private:
  std::deque<long long> ints_;
  std::deque<std::string> texts_;
  std::deque<soci::indicator> inds_;
};

// Runs a statement; returns the number of rows it changed.
long long Exec(soci::session& sql, const std::string& q, const std::vector<Value>& params = {}) {
  soci::statement st(sql);
  Params p;
  p.BindTo(st, params);
  st.alloc();
  st.prepare(q);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

Value FromRow(const soci::row& r, std::size_t i) {
  if (r.get_indicator(i) == soci::i_null) return Value{};
  switch (r.get_properties(i).get_data_type()) {
    case soci::dt_integer:
      return Int(r.get<int>(i));
    case soci::dt_long_long:
      return Int(r.get<long long>(i));
    case soci::dt_unsigned_long_long:
      return Int(static_cast<long long>(r.get<unsigned long long>(i)));
    case soci::dt_double:
      return Int(static_cast<long long>(r.get<double>(i)));
    case soci::dt_string:
      return Text(r.get<std::string>(i));
    default:
      return Text(r.get<std::string>(i));
  }
}

std::vector<Row> Query(soci::session& sql, const std::string& q,
                       const std::vector<Value>& params = {}) {
  soci::row r;
  soci::statement st(sql);
  st.exchange(soci::into(r));
  Params p;
  p.BindTo(st, params);
  st.alloc();
  st.prepare(q);
  st.define_and_bind();
  std::vector<Row> out;
  if (st.execute(true)) {
    do {
      Row row;
      row.reserve(r.size());
      for (std::size_t i = 0; i < r.size(); ++i) row.push_back(FromRow(r, i));
      out.push_back(std::move(row));
    } while (st.fetch());
  }
  return out;
}

long long AsInt(const Value& v) {
  if (v.type == Value::Type::kInt) return v.i;
  if (v.type == Value::Type::kText && !v.s.empty()) return std::stoll(v.s);
  return 0;
}
std::string AsText(const Value& v) {
  if (v.type == Value::Type::kText) return v.s;
  if (v.type == Value::Type::kInt) return std::to_string(v.i);
  return {};
}

// "(?, ?, ?), (?, ?, ?)" with SOCI's named placeholders :p0, :p1, ...
std::string Placeholders(size_t rows, size_t cols) {
  std::string out;
  size_t n = 0;
  for (size_t r = 0; r < rows; ++r) {
    out += r ? ", (" : "(";
    for (size_t c = 0; c < cols; ++c) {
      if (c) out += ", ";
      out += ":p" + std::to_string(n++);
    }
    out += ")";
  }
  return out;
}

std::string InList(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? ", :p" : ":p") + std::to_string(i);
  return out;
}

Link LinkFromRow(const Row& r) {
  return Link{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]), AsInt(r[5])};
}
const char* kLinkColumns = "object, crm_id, billing_id, account_number, content_hash, updated_ms";

const char* kTaskColumns =
    "id, task_key, group_id, kind, payload, depends_on, state, attempts, max_attempts, "
    "next_run_ms, claimed_by, result, last_error, lease_token";
Task TaskFromRow(const Row& r) {
  Task t;
  t.id = AsInt(r[0]);
  t.key = AsText(r[1]);
  t.group_id = AsText(r[2]);
  t.kind = AsText(r[3]);
  t.payload = AsText(r[4]);
  t.depends_on = AsText(r[5]);
  t.state = AsText(r[6]);
  t.attempts = static_cast<int>(AsInt(r[7]));
  t.max_attempts = static_cast<int>(AsInt(r[8]));
  t.next_run_ms = AsInt(r[9]);
  t.claimed_by = AsText(r[10]);
  t.result = AsText(r[11]);
  t.last_error = AsText(r[12]);
  t.lease_token = AsInt(r[13]);
  return t;
}

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

void WriteCursors(soci::session& sql, const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  for (const auto& c : cursors)
    Exec(sql,
         "INSERT INTO cursors (name, value, updated_ms) VALUES (:n, :v, :u) ON CONFLICT (name) "
         "DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
         {Text(c.name), Text(c.value), Int(now_ms)});
}

void InsertAudit(soci::session& sql, const std::vector<AuditEntry>& entries) {
  InsertRows(sql, entries, 7,
             "INSERT INTO audit (at_ms, actor, object, record_id, action, outcome, detail)", "",
             [](const AuditEntry& a, std::vector<Value>* p) {
               p->insert(p->end(), {Int(a.at_ms), Text(a.actor), Text(a.object), Text(a.record_id),
                                    Text(a.action), Text(a.outcome), OptText(a.detail)});
             });
}

bool ValidSchemaName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_';
  });
}

// libpq URI → key=value. Values are quoted for libpq (backslash-escaped single quotes).
Result<std::string> PostgresUriToKeywords(const std::string& uri) {
  auto decode = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  };
  auto quote = [](const std::string& v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out + "'";
  };
  const auto scheme_end = uri.find("://");
  std::string rest = uri.substr(scheme_end + 3);
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string authority = rest, dbname;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    dbname = rest.substr(slash + 1);
  }
  std::vector<std::pair<std::string, std::string>> kv;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (auto colon = userinfo.find(':'); colon != std::string::npos) {
      kv.emplace_back("user", decode(userinfo.substr(0, colon)));
      kv.emplace_back("password", decode(userinfo.substr(colon + 1)));
    } else {
      kv.emplace_back("user", decode(userinfo));
    }
  }
  if (!authority.empty()) {
    std::string host = authority, port;
    if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (!host.empty()) kv.emplace_back("host", decode(host));
    if (!port.empty()) {
      if (!std::all_of(port.begin(), port.end(), ::isdigit))
        return Status::InvalidArgument("store url: port '" + port + "' is not a number");
      kv.emplace_back("port", port);
    }
  }
  if (!dbname.empty()) kv.emplace_back("dbname", decode(dbname));
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(start, amp - start);
    if (auto eq = pair.find('='); eq != std::string::npos)
      kv.emplace_back(decode(pair.substr(0, eq)), decode(pair.substr(eq + 1)));
    start = amp + 1;
  }
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += " ";
    out += k + "=" + quote(v);
  }
  return out;
}

}  // namespace

Result<StoreUrl> ParseStoreUrl(const std::string& url) {
  auto starts = [&](const char* p) { return url.rfind(p, 0) == 0; };
  if (starts("sqlite:")) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite://path
    if (path.empty())
      return Status::InvalidArgument("store url 'sqlite:' needs a file path or :memory:");
    return StoreUrl{Backend::kSqlite, path};
  }
  if (starts("postgresql://") || starts("postgres://")) {
    auto kw = PostgresUriToKeywords(url);
    if (!kw.ok()) return kw.status();
    return StoreUrl{Backend::kPostgres, *kw};
  }
  if (starts("postgresql:")) return StoreUrl{Backend::kPostgres, url.substr(11)};
  return Status::InvalidArgument("store url must start with sqlite: or postgresql: (got '" +
                                 url.substr(0, url.find(':')) + ":...')");
}

struct Store::Impl {
  StoreOptions options;
  StoreUrl url;
  std::unique_ptr<soci::connection_pool> pool;
  std::mutex leader_mu;
  std::unique_ptr<soci::session> leader_session;  // GUARDED_BY(leader_mu)
  std::map<int64_t, bool> held_locks;             // GUARDED_BY(leader_mu)

  bool pg() const { return url.backend == Backend::kPostgres; }

  void OpenSession(soci::session& s) {
    if (pg()) {
      s.open(*soci::factory_postgresql(), url.connect);
      s << "SET client_min_messages TO warning";
      if (!options.schema.empty()) s << ("SET search_path TO " + options.schema);
    } else {
      s.open(*soci::factory_sqlite3(), "db=" + url.connect + " timeout=10");
      s << "PRAGMA foreign_keys = ON";
      if (url.connect != ":memory:") {
        // WAL lets readers (tandem migrate status) run beside the writer.
        s << "PRAGMA journal_mode = WAL";
        s << "PRAGMA synchronous = NORMAL";
      }
    }
  }

  // Runs `fn` with a pooled session, turning SOCI's exceptions into a Status.
  template <typename Fn>
  auto With(const char* what, Fn&& fn) -> decltype(fn(std::declval<soci::session&>())) {
    try {
      soci::session sql(*pool);
      return fn(sql);
    } catch (const soci::soci_error& e) {
      return Status::IoError(std::string("store: ") + what + ": " + e.what());
    } catch (const std::exception& e) {
      return Status::Internal(std::string("store: ") + what + ": " + e.what());
    }
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  auto url = ParseStoreUrl(options.url);
  if (!url.ok()) return url.status();
  if (!options.schema.empty() && !ValidSchemaName(options.schema))
    return Status::InvalidArgument("store schema '" + options.schema +
                                   "' may hold only lower-case letters, digits and '_'");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->url = *url;
  // SQLite allows one writer; one connection also keeps :memory: a single database.
  const size_t size = impl->pg() ? static_cast<size_t>(std::max(1, options.pool_size)) : 1;
  try {
    if (impl->pg() && !options.schema.empty()) {
      soci::session admin;
      admin.open(*soci::factory_postgresql(), impl->url.connect);
      admin << "SET client_min_messages TO warning";
      admin << ("CREATE SCHEMA IF NOT EXISTS " + options.schema);
    }
    impl->pool = std::make_unique<soci::connection_pool>(size);
    for (size_t i = 0; i < size; ++i) impl->OpenSession(impl->pool->at(i));
  } catch (const soci::soci_error& e) {
    return Status::IoError(std::string("cannot open store (") +
                           (impl->pg() ? "postgresql" : "sqlite " + impl->url.connect) +
                           "): " + e.what());
  }
  std::unique_ptr<Store> store(new Store(std::move(impl)));
  if (options.migrate) TANDEM_RETURN_IF_ERROR(store->Migrate());
  return store;
}

Backend Store::backend() const { return impl_->url.backend; }

int Store::LatestSchemaVersion() {
  const auto& all = EmbeddedMigrations();
  return all.empty() ? 0 : all.back().version;
}

Result<int> Store::SchemaVersion() {
  return impl_->With("schema version", [&](soci::session& sql) -> Result<int> {
    Exec(sql,
         "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
         "name TEXT NOT NULL, applied_ms BIGINT NOT NULL)");
    auto rows = Query(sql, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    return static_cast<int>(AsInt(rows.at(0).at(0)));
  });
}

Status Store::Migrate() {
  auto logger = log::Get("store");
  return impl_->With("migrate", [&](soci::session& sql) -> Status {
    Exec(sql,
         "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
         "name TEXT NOT NULL, applied_ms BIGINT NOT NULL)");
    for (const Migration& m : EmbeddedMigrations()) {
      Tx tr(sql, impl_->pg());
      if (impl_->pg()) {
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
      for (const std::string& stmt : MigrationStatements(m, impl_->pg())) Exec(sql, stmt);
      Exec(sql, "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)",
           {Int(m.version), Text(m.name), Int(ToEpochMillis(std::chrono::system_clock::now()))});
      if (impl_->options.crash_points)
        impl_->options.crash_points->Hit("store.migration.before_commit");
      tr.Commit();
      if (impl_->options.crash_points)
        impl_->options.crash_points->Hit("store.migration.after_commit");
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> Store::TableNames() {
  return impl_->With("table names", [&](soci::session& sql) -> Result<std::vector<std::string>> {
    const std::string q = impl_->pg() ? "SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = current_schema() ORDER BY 1"
                                      : "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY 1";
    std::vector<std::string> out;
    for (const Row& r : Query(sql, q)) out.push_back(AsText(r[0]));
    return out;
  });
}

Status Store::UpsertLinks(const std::vector<Link>& links) { return RecordSync(links, {}); }

Status Store::RecordSync(const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                         const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  if (links.empty() && audit.empty() && cursors.empty()) return Status::Ok();
  return impl_->With("record sync", [&](soci::session& sql) -> Status {
    Tx tr(sql, impl_->pg());
    InsertLinks(sql, links);
    InsertAudit(sql, audit);
    WriteCursors(sql, cursors, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::optional<Link>> Store::FindLinkByCrmId(const std::string& object,
                                                   const std::string& crm_id) {
  return impl_->With("find link", [&](soci::session& sql) -> Result<std::optional<Link>> {
    auto rows = Query(
        sql,
        std::string("SELECT ") + kLinkColumns + " FROM links WHERE object = :o AND crm_id = :c",
        {Text(object), Text(crm_id)});
    if (rows.empty()) return std::optional<Link>();
    return std::optional<Link>(LinkFromRow(rows[0]));
  });
}

Result<std::optional<Link>> Store::FindLinkByBillingId(const std::string& object,
                                                       const std::string& billing_id) {
  return impl_->With("find link", [&](soci::session& sql) -> Result<std::optional<Link>> {
    auto rows = Query(
        sql,
        std::string("SELECT ") + kLinkColumns + " FROM links WHERE object = :o AND billing_id = :b",
        {Text(object), Text(billing_id)});
    if (rows.empty()) return std::optional<Link>();
    return std::optional<Link>(LinkFromRow(rows[0]));
  });
}

Result<std::vector<Link>> Store::FindLinksByCrmIds(const std::string& object,
                                                   const std::vector<std::string>& crm_ids) {
  return FindLinksBy("crm_id", object, crm_ids);
}

Result<std::vector<Link>> Store::FindLinksByBillingIds(
    const std::string& object, const std::vector<std::string>& billing_ids) {
  return FindLinksBy("billing_id", object, billing_ids);
}

Result<std::vector<Link>> Store::FindLinksBy(const char* column, const std::string& object,
                                             const std::vector<std::string>& values) {
  return impl_->With("find links", [&](soci::session& sql) -> Result<std::vector<Link>> {
    std::vector<Link> out;
    for (size_t start = 0; start < values.size(); start += kParamsPerStatement) {
      const size_t n = std::min(kParamsPerStatement, values.size() - start);
      std::vector<Value> params;
      for (size_t i = start; i < start + n; ++i) params.push_back(Text(values[i]));
      params.push_back(Text(object));
      auto rows = Query(sql,
                        std::string("SELECT ") + kLinkColumns + " FROM links WHERE " + column +
                            " IN (" + InList(n) + ") AND object = :p" + std::to_string(n),
                        params);
      for (const Row& r : rows) out.push_back(LinkFromRow(r));
    }
    return out;
  });
}

Status Store::AddMatchKeys(const std::string& job_id, const std::string& side,
                           const std::vector<MatchKey>& keys) {
  if (keys.empty()) return Status::Ok();
  return impl_->With("add match keys", [&](soci::session& sql) -> Status {
    Tx tr(sql, impl_->pg());
    InsertRows(sql, keys, 4, "INSERT INTO match_keys (job_id, side, match_key, ref)",
               " ON CONFLICT DO NOTHING", [&](const MatchKey& k, std::vector<Value>* p) {
                 p->insert(p->end(), {Text(job_id), Text(side), Text(k.key), Text(k.ref)});
               });
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::vector<MatchKey>> Store::FindMatchKeys(const std::string& job_id,
                                                   const std::string& side,
                                                   const std::vector<std::string>& keys) {
  return impl_->With("find match keys", [&](soci::session& sql) -> Result<std::vector<MatchKey>> {
    std::vector<MatchKey> out;
    for (size_t start = 0; start < keys.size(); start += kParamsPerStatement) {
      const size_t n = std::min(kParamsPerStatement, keys.size() - start);
      std::vector<Value> params;
      for (size_t i = start; i < start + n; ++i) params.push_back(Text(keys[i]));
      params.push_back(Text(job_id));
      params.push_back(Text(side));
      auto rows = Query(sql,
                        "SELECT match_key, ref FROM match_keys WHERE match_key IN (" + InList(n) +
                            ") AND job_id = :p" + std::to_string(n) + " AND side = :p" +
                            std::to_string(n + 1),
                        params);
      for (const Row& r : rows) out.push_back(MatchKey{AsText(r[0]), AsText(r[1])});
    }
    return out;
  });
}

Status Store::DropMatchKeys(const std::string& job_id) {
  return impl_->With("drop match keys", [&](soci::session& sql) -> Status {
    Exec(sql, "DELETE FROM match_keys WHERE job_id = :j", {Text(job_id)});
    return Status::Ok();
  });
}

Result<std::vector<Link>> Store::ListLinks(const std::string& object,
                                           const std::string& after_crm_id, int limit) {
  return impl_->With("list links", [&](soci::session& sql) -> Result<std::vector<Link>> {
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

Status Store::DeleteLinks(const std::string& object, const std::vector<std::string>& crm_ids) {
  return impl_->With("delete links", [&](soci::session& sql) -> Status {
    Tx tr(sql, impl_->pg());
    for (const auto& id : crm_ids)
      Exec(sql, "DELETE FROM links WHERE object = :o AND crm_id = :c", {Text(object), Text(id)});
    tr.Commit();
    return Status::Ok();
  });
}

Result<int64_t> Store::CountLinks(const std::string& object) {
  return impl_->With("count links", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM links WHERE object = :o", {Text(object)})[0][0]));
  });
}

Status Store::AppendAudit(const std::vector<AuditEntry>& entries) {
  return RecordSync({}, entries);
}

Result<int64_t> Store::CountAudit(const std::string& object) {
  return impl_->With("count audit", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM audit WHERE object = :o", {Text(object)})[0][0]));
  });
}

Result<std::vector<AuditEntry>> Store::AuditFor(const std::string& object,
                                                const std::string& record_id) {
  return impl_->With("read audit", [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
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

Result<bool> Store::InsertInboxEvent(const InboxEvent& e) {
  return impl_->With("insert inbox event", [&](soci::session& sql) -> Result<bool> {
    const long long n =
        Exec(sql,
             "INSERT INTO inbox (event_id, source, type, payload, received_ms, state, attempts) "
             "VALUES (:i, :s, :t, :p, :r, :st, 0) ON CONFLICT (event_id) DO NOTHING",
             {Text(e.event_id), Text(e.source), Text(e.type), Text(e.payload), Int(e.received_ms),
              Text(e.state)});
    return n == 1;
  });
}

Result<std::vector<InboxEvent>> Store::PendingInboxEvents(int limit) {
  return impl_->With(
      "pending inbox events", [&](soci::session& sql) -> Result<std::vector<InboxEvent>> {
        std::vector<InboxEvent> out;
        for (const Row& r : Query(sql,
                                  "SELECT event_id, source, type, payload, received_ms, state, "
                                  "attempts, last_error FROM inbox WHERE state = 'pending' "
                                  "ORDER BY received_ms, event_id LIMIT :n",
                                  {Int(limit)})) {
          out.push_back(InboxEvent{AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]),
                                   AsInt(r[4]), AsText(r[5]), static_cast<int>(AsInt(r[6])),
                                   AsText(r[7])});
        }
        return out;
      });
}

Result<int64_t> Store::CountPendingInbox() {
  return impl_->With("count inbox", [&](soci::session& sql) -> Result<int64_t> {
    return static_cast<int64_t>(
        AsInt(Query(sql, "SELECT COUNT(*) FROM inbox WHERE state = 'pending'")[0][0]));
  });
}

Status Store::MarkInboxEvent(const std::string& event_id, const std::string& state,
                             const std::string& error, const std::vector<CursorUpdate>& cursors,
                             int64_t now_ms) {
  return impl_->With("mark inbox event", [&](soci::session& sql) -> Status {
    Tx tr(sql, impl_->pg());
    const long long n = Exec(sql,
                             "UPDATE inbox SET state = :s, attempts = attempts + 1, "
                             "last_error = :e WHERE event_id = :i",
                             {Text(state), OptText(error), Text(event_id)});
    if (n == 0) return Status::NotFound("inbox event " + event_id);
    WriteCursors(sql, cursors, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Result<bool> Store::EnqueueTask(const TaskSpec& t, int64_t now_ms) {
  return impl_->With("enqueue task", [&](soci::session& sql) -> Result<bool> {
    const long long n =
        Exec(sql,
             "INSERT INTO tasks (task_key, group_id, kind, payload, depends_on, state, attempts, "
             "max_attempts, next_run_ms, updated_ms) VALUES (:k, :g, :kind, :p, :d, 'pending', 0, "
             ":m, :r, :u) ON CONFLICT (task_key) DO NOTHING",
             {Text(t.key), Text(t.group_id), Text(t.kind), Text(t.payload), OptText(t.depends_on),
              Int(std::max(1, t.max_attempts)), Int(t.run_at_ms), Int(now_ms)});
    return n == 1;
  });
}

Result<std::vector<Task>> Store::ClaimTasks(const std::string& worker, int limit, int64_t now_ms,
                                            int64_t lease_ms) {
  return impl_->With("claim tasks", [&](soci::session& sql) -> Result<std::vector<Task>> {
    Tx tr(sql, impl_->pg());
    std::string q =
        "SELECT t.id FROM tasks t WHERE ((t.state = 'pending' AND t.next_run_ms <= :now) "
        "OR (t.state = 'running' AND t.lease_until_ms < :now2)) AND (t.depends_on IS NULL OR "
        "EXISTS (SELECT 1 FROM tasks d WHERE d.task_key = t.depends_on AND d.state = 'done')) "
        "ORDER BY t.next_run_ms, t.id LIMIT :n";
    if (impl_->pg()) q += " FOR UPDATE OF t SKIP LOCKED";
    auto ids = Query(sql, q, {Int(now_ms), Int(now_ms), Int(limit)});
    std::vector<Task> out;
    if (ids.empty()) {
      tr.Commit();
      return out;
    }
    std::string in;
    for (const Row& r : ids) in += (in.empty() ? "" : ", ") + std::to_string(AsInt(r[0]));
    Exec(sql,
         "UPDATE tasks SET state = 'running', claimed_by = :w, lease_until_ms = :l, "
         "attempts = attempts + 1, lease_token = lease_token + 1, updated_ms = :u "
         "WHERE id IN (" +
             in + ")",
         {Text(worker), Int(now_ms + lease_ms), Int(now_ms)});
    for (const Row& r :
         Query(sql, std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id IN (" + in +
                        ") ORDER BY next_run_ms, id"))
      out.push_back(TaskFromRow(r));
    tr.Commit();
    return out;
  });
}

namespace {
// In the transaction that finished the task: its group owes the CRM a report.
void OweReport(soci::session& sql, const Lease& lease, int64_t now_ms) {
  Exec(sql,
       "INSERT INTO order_reports (group_id, seq, due_ms) SELECT group_id, 1, :d FROM tasks "
       "WHERE id = :i ON CONFLICT (group_id) DO UPDATE SET seq = order_reports.seq + 1, "
       "due_ms = excluded.due_ms",
       {Int(now_ms), Int(lease.task_id)});
}

Status LeaseLost(const char* what, const Lease& lease) {
  return Status::Conflict(std::string(what) + " task " + std::to_string(lease.task_id) +
                          ": its lease " + std::to_string(lease.token) +
                          " ran out and another claim holds it now");
}
}  // namespace

Status Store::CompleteTask(const Lease& lease, const std::string& result, int64_t now_ms) {
  return impl_->With("complete task", [&](soci::session& sql) -> Status {
    Tx tr(sql, impl_->pg());
    const long long n = Exec(
        sql,
        "UPDATE tasks SET state = 'done', result = :r, claimed_by = NULL, lease_until_ms = NULL, "
        "updated_ms = :u WHERE id = :i AND state = 'running' AND lease_token = :t",
        {OptText(result), Int(now_ms), Int(lease.task_id), Int(lease.token)});
    if (n != 1) return LeaseLost("complete", lease);
    OweReport(sql, lease, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Result<std::string> Store::FailTask(const Lease& lease, const std::string& error,
                                    int64_t retry_at_ms, int64_t now_ms, bool permanent) {
  return impl_->With("fail task", [&](soci::session& sql) -> Result<std::string> {
    Tx tr(sql, impl_->pg());
    auto rows = Query(sql,
                      "SELECT attempts, max_attempts FROM tasks WHERE id = :i AND "
                      "state = 'running' AND lease_token = :t",
                      {Int(lease.task_id), Int(lease.token)});
    if (rows.empty()) return LeaseLost("fail", lease);
    const std::string state =
        permanent || AsInt(rows[0][0]) >= AsInt(rows[0][1]) ? "failed" : "pending";
    const long long n =
        Exec(sql,
             "UPDATE tasks SET state = :s, last_error = :e, next_run_ms = :n, claimed_by = NULL, "
             "lease_until_ms = NULL, updated_ms = :u WHERE id = :i AND lease_token = :t",
             {Text(state), OptText(error), Int(retry_at_ms), Int(now_ms), Int(lease.task_id),
              Int(lease.token)});
    if (n != 1) return LeaseLost("fail", lease);
    OweReport(sql, lease, now_ms);
    tr.Commit();
    return state;
  });
}

Status Store::RenewLease(const Lease& lease, int64_t until_ms, int64_t now_ms) {
  return impl_->With("renew lease", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql,
             "UPDATE tasks SET lease_until_ms = :l, updated_ms = :u WHERE id = :i AND "
             "state = 'running' AND lease_token = :t",
             {Int(until_ms), Int(now_ms), Int(lease.task_id), Int(lease.token)});
    return n == 1 ? Status::Ok() : LeaseLost("renew", lease);
  });
}

Status Store::ReleaseTasks(const std::string& worker, int64_t now_ms) {
  return impl_->With("release tasks", [&](soci::session& sql) -> Status {
    // The attempt did not run to an end; give it back so it is not counted against the task.
    Exec(sql,
         "UPDATE tasks SET state = 'pending', attempts = attempts - 1, claimed_by = NULL, "
         "lease_until_ms = NULL, next_run_ms = :n, updated_ms = :u "
         "WHERE state = 'running' AND claimed_by = :w",
         {Int(now_ms), Int(now_ms), Text(worker)});
    return Status::Ok();
  });
}

Result<std::vector<Task>> Store::TasksInGroup(const std::string& group_id) {
  return impl_->With("tasks in group", [&](soci::session& sql) -> Result<std::vector<Task>> {
    std::vector<Task> out;
    for (const Row& r : Query(
             sql,
             std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE group_id = :g ORDER BY id",
             {Text(group_id)}))
      out.push_back(TaskFromRow(r));
    return out;
  });
}

Result<std::optional<ReportDue>> Store::ReportOwed(const std::string& group_id) {
  return impl_->With("report owed", [&](soci::session& sql) -> Result<std::optional<ReportDue>> {
    auto rows = Query(sql, "SELECT seq FROM order_reports WHERE group_id = :g", {Text(group_id)});
    if (rows.empty()) return std::optional<ReportDue>();
    return std::optional<ReportDue>(ReportDue{group_id, AsInt(rows[0][0])});
  });
}

Result<std::vector<ReportDue>> Store::ReportsDue(int64_t due_before_ms, int limit) {
  return impl_->With("reports due", [&](soci::session& sql) -> Result<std::vector<ReportDue>> {
    std::vector<ReportDue> out;
    for (const Row& r : Query(sql,
                              "SELECT group_id, seq FROM order_reports WHERE due_ms < :d "
                              "ORDER BY due_ms, group_id LIMIT :n",
                              {Int(due_before_ms), Int(limit)}))
      out.push_back(ReportDue{AsText(r[0]), AsInt(r[1])});
    return out;
  });
}

Status Store::ClearReport(const ReportDue& due) {
  return impl_->With("clear report", [&](soci::session& sql) -> Status {
    Exec(sql, "DELETE FROM order_reports WHERE group_id = :g AND seq = :s",
         {Text(due.group_id), Int(due.seq)});
    return Status::Ok();
  });
}

Status Store::PutJob(const Job& j) {
  return impl_->With("put job", [&](soci::session& sql) -> Status {
    Exec(sql,
         "INSERT INTO jobs (id, kind, state, params, total, processed, failed, checkpoint, "
         "created_ms, updated_ms) VALUES (:i, :k, :s, :p, :t, :pr, :f, :c, :cr, :u) "
         "ON CONFLICT (id) DO UPDATE SET state = excluded.state, params = excluded.params, "
         "total = excluded.total, processed = excluded.processed, failed = excluded.failed, "
         "checkpoint = excluded.checkpoint, updated_ms = excluded.updated_ms",
         {Text(j.id), Text(j.kind), Text(j.state), Text(j.params), Int(j.total), Int(j.processed),
          Int(j.failed), OptText(j.checkpoint), Int(j.created_ms), Int(j.updated_ms)});
    return Status::Ok();
  });
}

Result<std::optional<Job>> Store::GetJob(const std::string& id) {
  return impl_->With("get job", [&](soci::session& sql) -> Result<std::optional<Job>> {
    auto rows = Query(sql,
                      "SELECT id, kind, state, params, total, processed, failed, checkpoint, "
                      "created_ms, updated_ms FROM jobs WHERE id = :i",
                      {Text(id)});
    if (rows.empty()) return std::optional<Job>();
    const Row& r = rows[0];
    Job j;
    j.id = AsText(r[0]);
    j.kind = AsText(r[1]);
    j.state = AsText(r[2]);
    j.params = AsText(r[3]);
    j.total = AsInt(r[4]);
    j.processed = AsInt(r[5]);
    j.failed = AsInt(r[6]);
    j.checkpoint = AsText(r[7]);
    j.created_ms = AsInt(r[8]);
    j.updated_ms = AsInt(r[9]);
    return std::optional<Job>(j);
  });
}

Result<std::optional<std::string>> Store::GetCursor(const std::string& name) {
  return impl_->With("get cursor", [&](soci::session& sql) -> Result<std::optional<std::string>> {
    auto rows = Query(sql, "SELECT value FROM cursors WHERE name = :n", {Text(name)});
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(AsText(rows[0][0]));
  });
}

Status Store::SetCursor(const std::string& name, const std::string& value, int64_t now_ms) {
  return impl_->With("set cursor", [&](soci::session& sql) -> Status {
    WriteCursors(sql, {{name, value}}, now_ms);
    return Status::Ok();
  });
}

Status Store::CreateApiToken(const std::string& name, const std::string& token_hash,
                             int64_t now_ms) {
  return impl_->With("create api token", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql,
             "INSERT INTO api_tokens (name, token_hash, created_ms) VALUES (:n, :h, :c) "
             "ON CONFLICT (name) DO NOTHING",
             {Text(name), Text(token_hash), Int(now_ms)});
    if (n == 0) return Status::AlreadyExists("an API token named '" + name + "' exists");
    return Status::Ok();
  });
}

Status Store::RevokeApiToken(const std::string& name, int64_t now_ms) {
  return impl_->With("revoke api token", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql, "UPDATE api_tokens SET revoked_ms = :r WHERE name = :n AND revoked_ms IS NULL",
             {Int(now_ms), Text(name)});
    if (n == 0) return Status::NotFound("no active API token named '" + name + "'");
    return Status::Ok();
  });
}

Result<bool> Store::IsActiveApiToken(const std::string& token_hash) {
  return impl_->With("check api token", [&](soci::session& sql) -> Result<bool> {
    return !Query(sql, "SELECT name FROM api_tokens WHERE token_hash = :h AND revoked_ms IS NULL",
                  {Text(token_hash)})
                .empty();
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> Store::ListApiTokens() {
  return impl_->With(
      "list api tokens",
      [&](soci::session& sql) -> Result<std::vector<std::pair<std::string, int64_t>>> {
        std::vector<std::pair<std::string, int64_t>> out;
        for (const Row& r : Query(sql,
                                  "SELECT name, created_ms FROM api_tokens WHERE "
                                  "revoked_ms IS NULL ORDER BY name"))
          out.emplace_back(AsText(r[0]), AsInt(r[1]));
        return out;
      });
}

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

Result<bool> Store::TryAcquireLeadership(int64_t lock_key) {
  if (!impl_->pg()) return true;
  lock_key = SchemaLockKey(lock_key, impl_->options.schema);
  std::lock_guard<std::mutex> lock(impl_->leader_mu);
  if (impl_->held_locks[lock_key]) return true;
  try {
    if (!impl_->leader_session) {
      impl_->leader_session = std::make_unique<soci::session>();
      impl_->OpenSession(*impl_->leader_session);
    }
    auto rows =
        Query(*impl_->leader_session, "SELECT CASE WHEN pg_try_advisory_lock(:k) THEN 1 ELSE 0 END",
              {Int(lock_key)});
    const bool got = AsInt(rows.at(0).at(0)) == 1;
    impl_->held_locks[lock_key] = got;
    return got;
  } catch (const soci::soci_error& e) {
    impl_->leader_session.reset();  // a broken connection loses its locks; start over
    impl_->held_locks.clear();
    return Status::IoError(std::string("store: advisory lock: ") + e.what());
  }
}

Status Store::ReleaseLeadership(int64_t lock_key) {
  if (!impl_->pg()) return Status::Ok();
  lock_key = SchemaLockKey(lock_key, impl_->options.schema);
  std::lock_guard<std::mutex> lock(impl_->leader_mu);
  if (!impl_->leader_session || !impl_->held_locks[lock_key]) return Status::Ok();
  try {
    Query(*impl_->leader_session, "SELECT CASE WHEN pg_advisory_unlock(:k) THEN 1 ELSE 0 END",
          {Int(lock_key)});
    impl_->held_locks[lock_key] = false;
    return Status::Ok();
  } catch (const soci::soci_error& e) {
    return Status::IoError(std::string("store: advisory unlock: ") + e.what());
  }
}

Status Store::DropSchemaForTests() {
  if (!impl_->pg() || impl_->options.schema.empty()) return Status::Ok();
  return impl_->With("drop schema", [&](soci::session& sql) -> Status {
    Exec(sql, "DROP SCHEMA IF EXISTS " + impl_->options.schema + " CASCADE");
    return Status::Ok();
  });
}

std::vector<std::string> MigrationStatements(const Migration& m, bool postgres) {
  const std::string id_type =
      postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  std::vector<std::string> out;
  std::string current;
  std::string text = m.sql;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line.compare(first, 2, "--") == 0) continue;
    for (size_t p; (p = line.find("{{ID}}")) != std::string::npos;) line.replace(p, 6, id_type);
    const auto last = line.find_last_not_of(" \t\r");
    if (line[last] == ';') {
      current += line.substr(0, last);
      out.push_back(current);
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
  return out;
}

}  // namespace tandem::store
