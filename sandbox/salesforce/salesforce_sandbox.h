// A stateful emulator of the Salesforce REST API subset Tandem uses, served over HTTP on
// loopback: OAuth token endpoint (client credentials, JWT bearer with RS256 checked against a
// configured public key, refresh token), versions, describe, sObject CRUD and upsert by
// external id, SOQL with query locators, sObject Collections, Bulk API 2.0 ingest, /limits
// with Sforce-Limit-Info, and fault injection. It shares no code with Tandem's client
// (docs/adr/0003): JSON through cpprest, its own SOQL parser and CSV reader.
// Admin endpoints (no auth) under /__sandbox/: POST/DELETE faults, POST expire-tokens,
// POST reset, GET stats.
// Thread-safety: all methods are thread-safe; requests are served concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "sandbox/faults/faults.h"
#include "sandbox/http/latency.h"
#include "util/clock.h"
#include "util/result.h"

namespace tandem::sandbox::salesforce {

struct SalesforceSandboxOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free port
  std::string client_id = "tandem-sandbox";
  std::string client_secret = "sandbox-secret";
  std::string refresh_token = "sandbox-refresh-token";
  std::string jwt_public_key_pem;  // empty: the JWT bearer grant is refused
  std::string schema_json;         // empty: the built-in schema
  int64_t daily_api_max = 5'000'000;
  Latency latency;  // the modelled network: every API request waits this long
  // API requests in flight at once beyond which one is refused with REQUEST_LIMIT_EXCEEDED
  // (0: none). Stricter than Salesforce, which counts only those running 20 s or longer: a
  // client within it is within Salesforce's limit whatever the org's speed.
  int concurrent_request_limit = 0;
  int default_page_size = 2000;
};

// Faults: see sandbox/faults/faults.h (error codes here: SERVER_UNAVAILABLE,
// REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW — per record in Collections — DROP_CONNECTION,
// LOSE_RESPONSE).
using SalesforceFault = Fault;

class SalesforceSandbox {
 public:
  SalesforceSandbox(SalesforceSandboxOptions options, const Clock& clock);
  ~SalesforceSandbox();

  Status Start();
  void Stop();
  std::string base_url() const;
  int port() const;

  void AddFault(const SalesforceFault& fault);
  // Adds faults from JSON: one object or an array of {method, path, status, error_code,
  // count, latency_ms}. Failure: InvalidArgument naming the problem.
  Status AddFaultsFromJson(const std::string& json);
  void ClearFaults();
  // How often injected faults fired, by kind (sandbox/faults/faults.h FaultKind).
  std::map<std::string, int64_t> FaultHits() const;
  // Every request received whole (see LoopbackListener::received).
  int64_t requests_received() const;
  int64_t dropped_connections() const;
  void ExpireTokens();
  void SetApiUsage(int64_t used);
  int64_t api_calls() const;
  // The most API requests in flight at once (the network's delay included), and how many
  // were refused for concurrent_request_limit.
  int peak_concurrent_requests() const;
  void ResetPeak();
  int64_t concurrent_refused() const;
  std::map<std::string, int64_t> calls_by_endpoint() const;
  int64_t CountRecords(const std::string& object) const;
  // Sets a record's SystemModstamp to `at_ms` (tests: a transaction that committed after a
  // poll had read past the time it stamped, as a long one does). NotFound for no such record.
  Status SetSystemModstamp(const std::string& object, const std::string& id, int64_t at_ms);

  struct Impl;  // public only so the request handler in the .cpp can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::sandbox::salesforce
