// The appliance configuration: one YAML file (config/tandem.example.yaml documents every key).
// Strict: an unknown key, a wrong type or a secret written in clear is an error naming the
// file, line, column and key. Secrets are references — env:NAME or file:PATH — resolved at
// load time and registered with the Redactor so that no log line can show them.
// Thread-safety: Config is an immutable value once loaded.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/redact.h"
#include "util/result.h"

namespace tandem::app {

struct StoreConfig {
  std::string url = "sqlite:tandem.db";  // default: embedded SQLite in the working directory
  int pool_size = 4;
  std::string schema;  // PostgreSQL schema; default: server's search_path
};

struct ServerConfig {
  std::string host = "127.0.0.1";  // default: loopback only
  int port = 8080;
  std::string api_token;  // secret: bearer token CRM quick actions present
  // A sync of more ids than this answers 202 with a job to poll (Salesforce waits at most
  // 120 s for a callout); 2000 (the most a call takes): never by size.
  int async_after = 200;
};

struct RemoteConfig {
  std::string base_url;
  int64_t timeout_ms = 30'000;
  double rate_per_second = 0;  // 0 = no client-side limit
  double burst = 10;
  int max_attempts = 4;
};

struct CrmConfig {
  RemoteConfig remote;
  std::string api_version = "61.0";
  std::string auth_flow = "client_credentials";  // client_credentials | jwt_bearer | refresh_token
  std::string login_url;                         // token endpoint host; default: base_url
  std::string client_id;
  std::string client_secret;       // secret
  std::string username;            // jwt_bearer: the user to act as
  std::string private_key;         // secret (PEM): jwt_bearer signing key
  std::string refresh_token;       // secret
  int64_t daily_api_floor = 1000;  // stop calling when fewer daily API calls remain
  // Requests in flight at once: Salesforce's concurrent-request limit (25 production; 5
  // developer and trial orgs).
  int max_concurrent_requests = 25;
};

struct BillingConfig {
  RemoteConfig remote;
  std::string system = "stripe";
  std::string api_key;         // secret
  std::string webhook_secret;  // secret
  std::string api_version = "2023-08-16";
  int64_t webhook_tolerance_s = 300;
  // Gotransverse (system: gotransverse): api_key is the X-Api-Key, webhook_secret the token
  // its HTTP notifications carry; new accounts get this category and bill cycle (docs/
  // gotransverse.md); ui_url makes record links.
  std::string account_category = "DEFAULT";
  std::string bill_cycle;  // id; "" = the one in the account's currency
  std::string ui_url;
  // At most this many billing calls in flight in a sync; 0: as many as fill rate_per_second at
  // the latency measured (Little's law: in flight = rate x latency), up to 64, cutting the rate by
  // a quarter on a 429 (connector/http/flow_control.h); 4 when no rate is set. The token bucket
  // keeps the rate; keep rate_per_second + burst under billing's own limit.
  int in_flight = 0;
};

// The cap on billing calls in flight in a sync (billing.in_flight; 0 resolved as above).
int BillingInFlight(const BillingConfig& billing);

struct Schedules {
  int64_t catalog_sync_ms = 15 * 60'000;
  int64_t order_poll_ms = 60'000;
  int64_t renewal_scan_ms = 24 * 3'600'000LL;
  // A billing system without webhooks (Gotransverse) is asked for changes this often: about
  // 3 list calls a round when nothing changed.
  int64_t billing_poll_ms = 60'000;
  // How often `serve`'s leader looks for failed syncs whose retry is due.
  int64_t sync_retry_ms = 60'000;
  // How often, at most, `serve`'s leader asks the CRM for changes to `sync: on_change` maps
  // (less often when workers.poll_api_share of the daily API allowance calls for it).
  int64_t change_poll_ms = 60'000;
};

// When a record a sync could not bring to billing is tried again: first after `first`, the
// delay doubling up to `max_interval`, until `give_up_after` since it first failed (then it
// stays listed by `tandem sync failures`, not retried). The default is about twice a day for
// a week after the first day's quicker tries.
struct SyncRetryConfig {
  int64_t first_ms = 30 * 60'000LL;
  int64_t max_interval_ms = 12 * 3'600'000LL;
  int64_t give_up_after_ms = 7 * 86'400'000LL;
};

// Work-order workers of `tandem serve`.
struct WorkersConfig {
  int count = 4;  // batches of tasks run at once (0: an API-only process)
  // Tasks each thread claims and runs at once; 0 (the default): follow billing, four per call
  // its rate limit and latency call for, 8 to 64 (app/workorder_service.h: TaskBatch).
  int batch = 0;
  int64_t lease_ms = 60'000;     // a claimed task goes to another worker when its lease ends
  double poll_api_share = 0.05;  // of the daily API allowance the order poll may spend
};

// `serve`'s scheduled reconciliation (leader only): every `every` (0: never), the objects named
// (empty: all but revenue), repairing when `fix`; each run's CSV in `report_dir` ("" none).
struct ReconcileSchedule {
  int64_t every_ms = 0;
  std::vector<std::string> objects;
  bool fix = false;
  std::string report_dir;
};

// How long personal data is kept.
struct RetentionConfig {
  // A handled billing event's payload (names, e-mails, addresses) is emptied this long after it
  // arrived; the event's id, type and outcome stay.
  int64_t event_payloads_ms = 30 * 24 * 3'600'000LL;
  // A finished sync job (a 202 answer's progress and per-record outcomes) is deleted this long
  // after it last moved.
  int64_t sync_jobs_ms = 7 * 24 * 3'600'000LL;
};

struct LoggingConfig {
  std::string format = "text";  // text | json
  std::string level = "info";
};

struct Config {
  std::string source;  // the file it was loaded from
  StoreConfig store;
  ServerConfig server;
  CrmConfig crm;
  BillingConfig billing;
  std::string mapping_path = "config/mapping.yaml";
  std::string workorders_path = "config/workorders.yaml";
  bool workorders_path_set = false;  // named in the file: then it must exist
  Schedules schedules;
  WorkersConfig workers;
  RetentionConfig retention;
  SyncRetryConfig sync_retry;
  ReconcileSchedule reconcile;
  // catalog.pricebooks: price books besides the standard one that get an entry per price.
  std::vector<std::string> catalog_pricebooks;
  LoggingConfig logging;
};

// The file a relative data path (the default "config/mapping.yaml", say) names: relative to the
// working directory when it is there (a source checkout, an admin's folder), else the copy
// installed with the binary (PREFIX/share/tandem/ beside PREFIX/bin/tandem) or the checkout
// a build folder stands in (CHECKOUT/build/tandem), so `tandem demo` or `mapping check` works
// from any folder. Otherwise `path` unchanged (the error that follows names it).
std::string ResolveDataPath(const std::string& path);

// Reads an environment variable; a seam so tests need not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// Loads and validates `path`. Failure: InvalidArgument whose message lists every problem,
// one per line, as "FILE:LINE:COL: KEY: what was expected".
Result<Config> LoadConfig(const std::string& path, const EnvLookup& env, Redactor& redactor);

// Parses "500ms", "30s", "15m", "24h", "1d". Returns nullopt for anything else.
std::optional<int64_t> ParseDurationMs(const std::string& text);

}  // namespace tandem::app
