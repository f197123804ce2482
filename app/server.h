// The HTTP API server of `tandem serve`: health, metrics, and the bearer-protected API that
// CRM quick actions and operators call, each route needing a token scope; billing callbacks
// authenticate by their signature (routes are added by later steps). /healthz tells an
// anonymous caller only ok / not ok; an operator token also gets the schema version or the
// store's error.
// Thread-safety: Start/Stop from one thread; handlers run on cpprest's pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connector/http/call_counter.h"
#include "store/store.h"
#include "util/metrics.h"

namespace tandem::app {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;        // 0: pick a free port (see ApiServer::port())
  std::string api_token;  // the configured token for /api/v1/* (may be empty): every scope
  // Also accepts a token this knows: its scopes ("actions,operator"), nullopt for an unknown or
  // revoked token (tokens made with `tandem token create`; app/tokens.h); an error when it
  // cannot tell (the store is down: 503, not 401).
  std::function<Result<std::optional<std::string>>(const std::string& token)> token_scopes;
};

// A route handler: request body in, (status, JSON body) out.
struct ApiReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};
using ApiHandler = std::function<ApiReply(const std::string& body)>;
// A file served as is to GET (the console's page, script and style sheet).
struct StaticAsset {
  std::string content_type;
  std::string body;
};
using HeaderList = std::vector<std::pair<std::string, std::string>>;
// A handler that authenticates the request itself (webhooks carry a signature, not our
// bearer token); it sees the headers, names lower-cased.
using HeaderMap = std::map<std::string, std::string>;
using PublicHandler = std::function<ApiReply(const std::string& body, const HeaderMap& headers)>;
// A handler for a path with an id in it ("/api/v1/records/{id}/history"): the id, the query
// string's parameters (decoded) and the body.
using ParamHandler =
    std::function<ApiReply(const std::string& id, const std::map<std::string, std::string>& query,
                           const std::string& body)>;

// A whole-number query parameter: `fallback` when absent, -1 when it is not a number.
int64_t QueryNumber(const std::map<std::string, std::string>& query, const char* name,
                    int64_t fallback);

// {"error":{"code":…,"message":…}}: every error the API answers.
std::string ErrorJson(const std::string& code, const std::string& message);
// The HTTP status for a failed Status: 400 bad input, 404, 409 conflict, 429, 503 a remote
// unavailable, else 500.
int HttpStatusOf(const Status& st);

class ApiServer {
 public:
  ApiServer(ServerOptions options, store::Store& store, connector::http::CallCounter& counter,
            const Clock& clock);
  ~ApiServer();

  // Registers "METHOD /api/v1/..." before Start(): callers need a bearer token with `scope`
  // (app/tokens.h; "a|b": either); a valid token without it gets 403.
  void Route(const std::string& method, const std::string& path, const std::string& scope,
             ApiHandler handler);
  // Registers "METHOD PREFIX{id}SUFFIX" (bearer-protected, as Route) before Start(); the id is
  // one path segment, never empty.
  void RouteWithId(const std::string& method, const std::string& prefix, const std::string& suffix,
                   const std::string& scope, ParamHandler handler);
  // Registers a file served at `path` (not under /api/) to anyone, before Start(): it must hold
  // no data, only the code that asks the API for it.
  void Asset(const std::string& path, StaticAsset asset);
  // Registers a route that skips the bearer-token check (its handler must authenticate).
  void PublicRoute(const std::string& method, const std::string& path, PublicHandler handler);
  // Binds and starts serving. Failure: Unavailable when the address cannot be bound.
  Status Start();
  // Stops accepting; waits for handlers in flight.
  void Stop();
  int port() const { return port_; }
  // Request counts and latencies per route go here, and /metrics renders it. Before Start().
  void SetMetrics(Metrics* metrics);
  std::string base_url() const;

 private:
  struct Impl;
  ServerOptions options_;
  int port_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::app
