#include "app/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <limits>

#include <yaml-cpp/yaml.h>

#include "app/secrets.h"
#include "store/options.h"

namespace tandem::app {

int BillingInFlight(const BillingConfig& billing) {
  // No cap set: what the flow control asks for (rate x latency), up to 64.
  return billing.in_flight > 0 ? billing.in_flight : 64;
}
namespace {

// Walks the YAML tree against the schema, collecting every problem with its position.
class Reader {
 public:
  Reader(std::string file, std::string base_dir, const EnvLookup& env, Redactor& redactor)
      : file_(std::move(file)), base_dir_(std::move(base_dir)), env_(env), redactor_(redactor) {}

  // `path` as the config file means it: relative to the file's folder.
  std::string Relative(const std::string& path) const {
    if (path.empty() || path[0] == '/' || base_dir_.empty()) return path;
    return (std::filesystem::path(base_dir_) / path).string();
  }

  const std::vector<std::string>& errors() const { return errors_; }

  void Error(const YAML::Mark& mark, const std::string& key, const std::string& msg) {
    std::string where = file_;
    if (!mark.is_null())
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    errors_.push_back(where + ": " + (key.empty() ? "" : key + ": ") + msg);
  }

  // True when `node` is a map whose keys are all in `allowed`; reports the others.
  bool Map(const YAML::Node& node, const std::string& path,
           std::initializer_list<const char*> allowed) {
    if (!node.IsMap()) {
      Error(node.Mark(), path, "expected a mapping of keys to values");
      return false;
    }
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      bool known = false;
      for (const char* a : allowed) known = known || key == a;
      if (!known) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        Error(kv.first.Mark(), Join(path, key), "unknown key (expected one of: " + list + ")");
      }
    }
    return true;
  }

  bool Scalar(const YAML::Node& parent, const std::string& path, const char* key, YAML::Node* out) {
    YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    if (!n.IsScalar()) {
      Error(n.Mark(), Join(path, key), "expected a single value");
      return false;
    }
    *out = n;
    return true;
  }

  void Str(const YAML::Node& p, const std::string& path, const char* key, std::string* out) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    if (LooksLikeSecretRef(n.Scalar())) {
      // Harmless, but almost certainly a mistake: this key is not a secret.
      Error(n.Mark(), Join(path, key), "expected a plain value, not a secret reference");
      return;
    }
    *out = n.Scalar();
  }

  void Bool(const YAML::Node& p, const std::string& path, const char* key, bool* out) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    if (n.Scalar() == "true" || n.Scalar() == "false")
      *out = n.Scalar() == "true";
    else
      Error(n.Mark(), Join(path, key), "expected true or false, got '" + n.Scalar() + "'");
  }

  // A list of plain values (`what` names them in the error).
  void StrList(const YAML::Node& p, const std::string& path, const char* key, const char* what,
               std::vector<std::string>* out) {
    YAML::Node n = p[key];
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsSequence()) {
      Error(n.Mark(), Join(path, key), std::string("expected a list of ") + what);
      return;
    }
    for (const auto& item : n) {
      if (!item.IsScalar()) {
        Error(item.Mark(), Join(path, key), std::string("expected a list of ") + what);
        return;
      }
      out->push_back(item.Scalar());
    }
  }

  void Enum(const YAML::Node& p, const std::string& path, const char* key, std::string* out,
            std::initializer_list<const char*> choices) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    std::string list;
    for (const char* c : choices) {
      if (n.Scalar() == c) {
        *out = n.Scalar();
        return;
      }
      list += (list.empty() ? "" : ", ") + std::string(c);
    }
    Error(n.Mark(), Join(path, key), "expected one of " + list + ", got '" + n.Scalar() + "'");
  }

  template <typename T>
  void Number(const YAML::Node& p, const std::string& path, const char* key, T* out, T min, T max) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    const std::string& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    const bool integral = std::is_integral_v<T>;
    if (s.empty() || *end != '\0' || errno != 0 ||
        (integral && s.find_first_of(".eE") != std::string::npos)) {
      Error(
          n.Mark(), Join(path, key),
          std::string("expected ") + (integral ? "an integer" : "a number") + ", got '" + s + "'");
      return;
    }
    if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
      Error(n.Mark(), Join(path, key),
            "expected a value from " + Fmt(min) + " to " + Fmt(max) + ", got " + s);
      return;
    }
    *out = static_cast<T>(v);
  }

  void Duration(const YAML::Node& p, const std::string& path, const char* key, int64_t* out) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    auto ms = ParseDurationMs(n.Scalar());
    if (!ms || *ms <= 0) {
      Error(n.Mark(), Join(path, key),
            "expected a duration such as 500ms, 30s, 15m, 24h, got '" + n.Scalar() + "'");
      return;
    }
    *out = *ms;
  }

  void Secret(const YAML::Node& p, const std::string& path, const char* key, std::string* out) {
    YAML::Node n;
    if (!Scalar(p, path, key, &n)) return;
    auto value = ResolveSecret(n.Scalar(), base_dir_, env_);
    if (!value.ok()) {
      // Never echo the value: it may be a secret written in clear by mistake.
      Error(n.Mark(), Join(path, key), value.status().message());
      return;
    }
    redactor_.AddSecret(*value);
    *out = *value;
  }

  void Remote(const YAML::Node& n, const std::string& path, RemoteConfig* r) {
    Str(n, path, "base_url", &r->base_url);
    Number<int64_t>(n, path, "timeout_ms", &r->timeout_ms, 1, 600'000);
    Number<double>(n, path, "rate_per_second", &r->rate_per_second, 0, 100'000);
    Number<double>(n, path, "burst", &r->burst, 1, 100'000);
    Number<int>(n, path, "max_attempts", &r->max_attempts, 1, 20);
    if (n[std::string("base_url")].IsDefined() && r->base_url.rfind("http://", 0) != 0 &&
        r->base_url.rfind("https://", 0) != 0) {
      Error(n["base_url"].Mark(), Join(path, "base_url"),
            "expected an http:// or https:// URL, got '" + r->base_url + "'");
    }
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  template <typename T>
  static std::string Fmt(T v) {
    if constexpr (std::is_integral_v<T>) return std::to_string(v);
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }

  std::string file_;
  std::string base_dir_;
  const EnvLookup& env_;
  Redactor& redactor_;
  std::vector<std::string> errors_;
};

// store.url and store.password. A PostgreSQL password is accepted only through a secret
// reference: the whole URL as one (env:TANDEM_STORE_URL) or the password in store.password.
void ReadStoreUrl(const YAML::Node& n, Reader& r, std::string* url) {
  YAML::Node given;
  if (r.Scalar(n, "store", "url", &given)) {
    const bool ref = LooksLikeSecretRef(given.Scalar());
    if (ref)
      r.Secret(n, "store", "url", url);
    else
      *url = given.Scalar();
    if (url->rfind("sqlite:", 0) != 0 && url->rfind("postgres", 0) != 0) {
      // Only the scheme (the rest may hold credentials), and nothing of a resolved secret.
      const auto colon = url->find(':');
      const std::string shown = ref || colon == std::string::npos || colon > 16
                                    ? std::string("(not shown)")
                                    : "'" + url->substr(0, colon) + ":...'";
      r.Error(given.Mark(), "store.url", "expected sqlite:PATH or postgresql://..., got " + shown);
    } else if (!ref && store::StoreUrlHasPassword(*url)) {
      r.Error(
          given.Mark(), "store.url",
          "a password written in clear; put the password in store.password as env:NAME or "
          "file:PATH, or the whole URL in a secret reference (store.url: env:TANDEM_STORE_URL)");
    }
  }
  YAML::Node password_node;
  if (!r.Scalar(n, "store", "password", &password_node)) return;
  std::string password;
  r.Secret(n, "store", "password", &password);
  if (password.empty()) return;
  auto with = store::StoreUrlWithPassword(*url, password);
  if (!with.ok())
    r.Error(password_node.Mark(), "store.password", with.status().message());
  else
    *url = *with;
}

void ReadConfig(const YAML::Node& root, Reader& r, Config* c) {
  if (!r.Map(root, "",
             {"store", "server", "crm", "billing", "paths", "schedules", "workers", "logging",
              "catalog", "retention", "sync_retry", "reconcile"}))
    return;
  if (auto n = root["store"];
      n.IsDefined() && r.Map(n, "store", {"url", "password", "pool_size", "schema"})) {
    r.Number<int>(n, "store", "pool_size", &c->store.pool_size, 1, 64);
    r.Str(n, "store", "schema", &c->store.schema);
    ReadStoreUrl(n, r, &c->store.url);
  }
  if (auto n = root["server"];
      n.IsDefined() && r.Map(n, "server", {"listen", "api_token", "async_after"})) {
    r.Number<int>(n, "server", "async_after", &c->server.async_after, 0, 2000);
    std::string listen;
    r.Str(n, "server", "listen", &listen);
    if (!listen.empty()) {
      const auto colon = listen.rfind(':');
      int port = -1;
      if (colon != std::string::npos) port = std::atoi(listen.c_str() + colon + 1);
      if (colon == std::string::npos || port < 0 || port > 65535 ||
          listen.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
        r.Error(n["listen"].Mark(), "server.listen", "expected HOST:PORT, got '" + listen + "'");
      } else {
        c->server.host = listen.substr(0, colon);
        c->server.port = port;
      }
    }
    r.Secret(n, "server", "api_token", &c->server.api_token);
  }
  if (auto n = root["crm"]; n.IsDefined()) {
    if (r.Map(n, "crm",
              {"base_url", "timeout_ms", "rate_per_second", "burst", "max_attempts", "api_version",
               "auth", "daily_api_floor", "max_concurrent_requests"})) {
      r.Remote(n, "crm", &c->crm.remote);
      r.Str(n, "crm", "api_version", &c->crm.api_version);
      r.Number<int64_t>(n, "crm", "daily_api_floor", &c->crm.daily_api_floor, 0, 100'000'000);
      r.Number<int>(n, "crm", "max_concurrent_requests", &c->crm.max_concurrent_requests, 1, 1000);
      if (auto a = n["auth"];
          a.IsDefined() && r.Map(a, "crm.auth",
                                 {"flow", "login_url", "client_id", "client_secret", "username",
                                  "private_key", "refresh_token"})) {
        r.Enum(a, "crm.auth", "flow", &c->crm.auth_flow,
               {"client_credentials", "jwt_bearer", "refresh_token"});
        r.Str(a, "crm.auth", "login_url", &c->crm.login_url);
        r.Str(a, "crm.auth", "client_id", &c->crm.client_id);
        r.Secret(a, "crm.auth", "client_secret", &c->crm.client_secret);
        r.Str(a, "crm.auth", "username", &c->crm.username);
        r.Secret(a, "crm.auth", "private_key", &c->crm.private_key);
        r.Secret(a, "crm.auth", "refresh_token", &c->crm.refresh_token);
      }
    }
  }
  if (auto n = root["billing"];
      n.IsDefined() &&
      r.Map(n, "billing",
            {"system", "base_url", "timeout_ms", "rate_per_second", "burst", "max_attempts",
             "api_key", "webhook_secret", "api_version", "webhook_tolerance", "account_category",
             "bill_cycle", "ui_url", "in_flight"})) {
    r.Number<int>(n, "billing", "in_flight", &c->billing.in_flight, 0, 64);
    r.Enum(n, "billing", "system", &c->billing.system, {"stripe", "gotransverse"});
    r.Str(n, "billing", "account_category", &c->billing.account_category);
    r.Str(n, "billing", "bill_cycle", &c->billing.bill_cycle);
    r.Str(n, "billing", "ui_url", &c->billing.ui_url);
    r.Remote(n, "billing", &c->billing.remote);
    r.Secret(n, "billing", "api_key", &c->billing.api_key);
    r.Secret(n, "billing", "webhook_secret", &c->billing.webhook_secret);
    r.Str(n, "billing", "api_version", &c->billing.api_version);
    int64_t tolerance_ms = c->billing.webhook_tolerance_s * 1000;
    r.Duration(n, "billing", "webhook_tolerance", &tolerance_ms);
    c->billing.webhook_tolerance_s = tolerance_ms / 1000;
  }
  if (auto n = root["paths"]; n.IsDefined() && r.Map(n, "paths", {"mapping", "workorders"})) {
    r.Str(n, "paths", "mapping", &c->mapping_path);
    r.Str(n, "paths", "workorders", &c->workorders_path);
    c->workorders_path_set = n["workorders"].IsDefined();
    // A path the file names is relative to the file's folder, as its secrets' file: paths
    // are: under systemd the working directory is /, and /etc/tandem/tandem.yaml means
    // /etc/tandem/mapping.yaml.
    for (auto [key, path] : {std::pair<const char*, std::string*>{"mapping", &c->mapping_path},
                             {"workorders", &c->workorders_path}})
      if (n[key].IsDefined()) *path = r.Relative(*path);
  }
  if (auto n = root["schedules"];
      n.IsDefined() && r.Map(n, "schedules",
                             {"catalog_sync", "order_poll", "renewal_scan", "billing_poll",
                              "sync_retry", "change_poll"})) {
    r.Duration(n, "schedules", "change_poll", &c->schedules.change_poll_ms);
    r.Duration(n, "schedules", "sync_retry", &c->schedules.sync_retry_ms);
    r.Duration(n, "schedules", "billing_poll", &c->schedules.billing_poll_ms);
    r.Duration(n, "schedules", "catalog_sync", &c->schedules.catalog_sync_ms);
    r.Duration(n, "schedules", "order_poll", &c->schedules.order_poll_ms);
    r.Duration(n, "schedules", "renewal_scan", &c->schedules.renewal_scan_ms);
  }
  if (auto n = root["sync_retry"];
      n.IsDefined() && r.Map(n, "sync_retry", {"first", "max_interval", "give_up_after"})) {
    r.Duration(n, "sync_retry", "first", &c->sync_retry.first_ms);
    r.Duration(n, "sync_retry", "max_interval", &c->sync_retry.max_interval_ms);
    r.Duration(n, "sync_retry", "give_up_after", &c->sync_retry.give_up_after_ms);
    if (c->sync_retry.max_interval_ms < c->sync_retry.first_ms)
      r.Error(n.Mark(), "sync_retry.max_interval", "must not be shorter than sync_retry.first");
  }
  if (auto n = root["retention"];
      n.IsDefined() && r.Map(n, "retention", {"event_payloads", "sync_jobs"})) {
    r.Duration(n, "retention", "event_payloads", &c->retention.event_payloads_ms);
    r.Duration(n, "retention", "sync_jobs", &c->retention.sync_jobs_ms);
  }
  if (auto n = root["workers"];
      n.IsDefined() && r.Map(n, "workers", {"count", "batch", "lease", "poll_api_share"})) {
    r.Number<int>(n, "workers", "count", &c->workers.count, 0, 64);
    r.Number<int>(n, "workers", "batch", &c->workers.batch, 0, 256);
    r.Duration(n, "workers", "lease", &c->workers.lease_ms);
    r.Number<double>(n, "workers", "poll_api_share", &c->workers.poll_api_share, 0.0, 1.0);
  }
  if (auto n = root["catalog"]; n.IsDefined() && r.Map(n, "catalog", {"pricebooks"}))
    r.StrList(n, "catalog", "pricebooks", "price book names", &c->catalog_pricebooks);
  if (auto n = root["reconcile"];
      n.IsDefined() && r.Map(n, "reconcile", {"every", "objects", "fix", "report_dir"})) {
    r.Duration(n, "reconcile", "every", &c->reconcile.every_ms);
    r.StrList(n, "reconcile", "objects", "object names (account, invoice, revenue, ...)",
              &c->reconcile.objects);
    r.Bool(n, "reconcile", "fix", &c->reconcile.fix);
    r.Str(n, "reconcile", "report_dir", &c->reconcile.report_dir);
    if (!c->reconcile.report_dir.empty() && c->reconcile.report_dir[0] != '/')
      c->reconcile.report_dir = r.Relative(c->reconcile.report_dir);
  }
  if (auto n = root["logging"]; n.IsDefined() && r.Map(n, "logging", {"format", "level"})) {
    r.Enum(n, "logging", "format", &c->logging.format, {"text", "json"});
    r.Enum(n, "logging", "level", &c->logging.level,
           {"trace", "debug", "info", "warn", "error", "off"});
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::optional<int64_t> ParseDurationMs(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return std::nullopt;
  const int64_t n = std::stoll(text.substr(0, i));
  const std::string unit = text.substr(i);
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  return std::nullopt;
}

Result<Config> LoadConfig(const std::string& path, const EnvLookup& env, Redactor& redactor) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Status::InvalidArgument(path + ": cannot read the config file");
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": YAML syntax: " + e.msg);
  }
  const auto slash = path.rfind('/');
  Reader reader(path, slash == std::string::npos ? "." : path.substr(0, slash), env, redactor);
  Config config;
  config.source = path;
  if (root.IsNull()) return config;  // an empty file means all defaults
  try {
    ReadConfig(root, reader, &config);
  } catch (const YAML::Exception& e) {
    reader.Error(e.mark, "", e.msg);
  }
  if (!reader.errors().empty()) {
    std::string msg;
    for (const auto& e : reader.errors()) msg += (msg.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(msg);
  }
  return config;
}

std::string ResolveDataPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path, ec)) return path;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return path;
  const fs::path prefix = exe.parent_path().parent_path();
  // Installed: PREFIX/share/tandem/PATH. A build folder in a checkout: CHECKOUT/PATH.
  for (const fs::path& candidate : {prefix / "share" / "tandem" / path, prefix / path})
    if (fs::exists(candidate, ec)) return candidate.string();
  return path;
}

}  // namespace tandem::app
