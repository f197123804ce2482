#include "store/options.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace tandem::store {
namespace {

// %XX → the byte; anything else as it is.
std::string PercentDecode(const std::string& s) {
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
}

// A libpq keyword value: single-quoted, with quotes and backslashes backslash-escaped.
std::string QuoteKeywordValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

// libpq URI → key=value. Values are quoted for libpq (backslash-escaped single quotes).
Result<std::string> PostgresUriToKeywords(const std::string& uri) {
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
      kv.emplace_back("user", PercentDecode(userinfo.substr(0, colon)));
      kv.emplace_back("password", PercentDecode(userinfo.substr(colon + 1)));
    } else {
      kv.emplace_back("user", PercentDecode(userinfo));
    }
  }
  if (!authority.empty()) {
    std::string host = authority, port;
    if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (!host.empty()) kv.emplace_back("host", PercentDecode(host));
    if (!port.empty()) {
      if (!std::all_of(port.begin(), port.end(), ::isdigit))
        return Status::InvalidArgument("store url: port '" + port + "' is not a number");
      kv.emplace_back("port", port);
    }
  }
  if (!dbname.empty()) kv.emplace_back("dbname", PercentDecode(dbname));
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(start, amp - start);
    if (auto eq = pair.find('='); eq != std::string::npos)
      kv.emplace_back(PercentDecode(pair.substr(0, eq)), PercentDecode(pair.substr(eq + 1)));
    start = amp + 1;
  }
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += " ";
    out += k + "=" + QuoteKeywordValue(v);
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

bool StoreUrlHasPassword(const std::string& url) {
  auto parsed = ParseStoreUrl(url);
  if (!parsed.ok() || parsed->backend != Backend::kPostgres) return false;
  // Walk "key = value" pairs; a value may be quoted with backslash escapes.
  const std::string& c = parsed->connect;
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < c.size() && std::isspace(static_cast<unsigned char>(c[i]))) ++i;
  };
  while (true) {
    skip_spaces();
    if (i >= c.size()) return false;
    const size_t key_start = i;
    while (i < c.size() && c[i] != '=' && !std::isspace(static_cast<unsigned char>(c[i]))) ++i;
    const std::string key = c.substr(key_start, i - key_start);
    skip_spaces();
    if (i >= c.size() || c[i] != '=') return false;  // not keywords libpq would take either
    ++i;
    skip_spaces();
    if (key == "password") return true;
    if (i < c.size() && c[i] == '\'') {
      for (++i; i < c.size() && c[i] != '\''; ++i)
        if (c[i] == '\\') ++i;
      ++i;
    } else {
      while (i < c.size() && !std::isspace(static_cast<unsigned char>(c[i]))) ++i;
    }
  }
}

Result<std::string> StoreUrlWithPassword(const std::string& url, const std::string& password) {
  auto parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return parsed.status();
  if (parsed->backend != Backend::kPostgres)
    return Status::InvalidArgument("a password is for a PostgreSQL store, not SQLite");
  return "postgresql:" + parsed->connect + " password=" + QuoteKeywordValue(password);
}

}  // namespace tandem::store
