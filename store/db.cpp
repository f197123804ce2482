#include "store/db.h"

#include <algorithm>
#include <cctype>
#include <deque>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

namespace tandem::store {

namespace {

constexpr int64_t kSchemaLock = 7143220005;  // creating the store's schema (advisory lock id)

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

bool ValidSchemaName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_';
  });
}

}  // namespace

long long Exec(soci::session& sql, const std::string& q, const std::vector<Value>& params) {
  soci::statement st(sql);
  Params p;
  p.BindTo(st, params);
  st.alloc();
  st.prepare(q);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

std::vector<Row> Query(soci::session& sql, const std::string& q, const std::vector<Value>& params) {
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

std::vector<Row> QueryInChunks(soci::session& sql, const std::vector<std::string>& values,
                               const std::vector<Value>& extra,
                               const std::function<std::string(size_t n)>& query) {
  std::vector<Row> out;
  for (size_t start = 0; start < values.size(); start += kParamsPerStatement) {
    const size_t n = std::min(kParamsPerStatement, values.size() - start);
    std::vector<Value> params;
    for (size_t i = start; i < start + n; ++i) params.push_back(Text(values[i]));
    params.insert(params.end(), extra.begin(), extra.end());
    for (Row& r : Query(sql, query(n), params)) out.push_back(std::move(r));
  }
  return out;
}

Result<std::unique_ptr<Pool>> Pool::Open(const StoreOptions& options) {
  auto url = ParseStoreUrl(options.url);
  if (!url.ok()) return url.status();
  if (!options.schema.empty() && !ValidSchemaName(options.schema))
    return Status::InvalidArgument("store schema '" + options.schema +
                                   "' may hold only lower-case letters, digits and '_'");
  std::unique_ptr<Pool> pool(new Pool(options, *url));
  // SQLite allows one writer; one connection also keeps :memory: a single database.
  const size_t size = pool->pg() ? static_cast<size_t>(std::max(1, options.pool_size)) : 1;
  try {
    if (pool->pg() && !options.schema.empty()) {
      soci::session admin;
      admin.open(*soci::factory_postgresql(), pool->url_.connect);
      admin << "SET client_min_messages TO warning";
      // Two processes starting at once both find the schema missing and the second CREATE
      // fails (IF NOT EXISTS does not cover the race): one at a time, under a lock.
      soci::transaction tr(admin);
      int held = 0;
      admin << "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLock) +
                   ")) AS l",
          soci::into(held);
      admin << ("CREATE SCHEMA IF NOT EXISTS " + options.schema);
      tr.commit();
    }
    pool->sessions_ = std::make_unique<soci::connection_pool>(size);
    for (size_t i = 0; i < size; ++i) pool->OpenSession(pool->sessions_->at(i));
  } catch (const soci::soci_error& e) {
    return Status::IoError(std::string("cannot open store (") +
                           (pool->pg() ? "postgresql" : "sqlite " + pool->url_.connect) +
                           "): " + e.what());
  }
  return pool;
}

void Pool::OpenSession(soci::session& s) const {
  if (pg()) {
    s.open(*soci::factory_postgresql(), url_.connect);
    s << "SET client_min_messages TO warning";
    if (!options_.schema.empty()) s << ("SET search_path TO " + options_.schema);
  } else {
    s.open(*soci::factory_sqlite3(), "db=" + url_.connect + " timeout=10");
    s << "PRAGMA foreign_keys = ON";
    if (url_.connect != ":memory:") {
      // WAL lets readers (tandem migrate status) run beside the writer.
      s << "PRAGMA journal_mode = WAL";
      s << "PRAGMA synchronous = NORMAL";
    }
  }
}

}  // namespace tandem::store
