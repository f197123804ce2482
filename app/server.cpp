#include "app/server.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include "app/tokens.h"
#include "util/in_flight.h"
#include "util/log.h"
#include "util/net.h"
#include "util/openssl_init.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tandem::app {

namespace wh = web::http;
using wh::experimental::listener::http_listener;

namespace {
// Constant-time comparison so the token cannot be guessed byte by byte from timings.
bool SafeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr uint64_t kMaxBody = 1 << 20;  // bodies are small JSON

// One request's reply, sent exactly once: copies share it, a second Send is ignored, and a
// request nobody answered (a handler that threw) gets a 500 when the last copy goes. The reply
// task is observed (cpprest ends the process on a failed task nobody observed, and the client
// may be gone) and the request leaves `in_flight` only when its reply is done, so Stop() never
// returns with a reply still pending in cpprest's task chain.
class Replier {
 public:
  Replier(wh::http_request req, std::shared_ptr<InFlight> in_flight)
      : state_(std::make_shared<State>(std::move(req), std::move(in_flight))) {}
  void Send(int status, const std::string& body, const std::string& type,
            const HeaderList& headers = {}) {
    state_->Send(status, body, type, headers);
  }
  wh::http_request& request() { return state_->req; }

 private:
  struct State {
    State(wh::http_request r, std::shared_ptr<InFlight> f)
        : req(std::move(r)), in_flight(std::move(f)) {
      in_flight->Enter();
    }
    ~State() {
      Send(500, ErrorJson("internal", "the request was not answered"), "application/json", {});
    }
    void Send(int status, const std::string& body, const std::string& type,
              const HeaderList& headers) {
      if (sent.exchange(true)) return;
      wh::http_response resp(static_cast<wh::status_code>(status));
      resp.set_body(body, type);
      // No answer of ours is to be sniffed as another type (a JSON error as HTML).
      resp.headers().add("X-Content-Type-Options", "nosniff");
      for (const auto& [name, value] : headers) resp.headers().add(name, value);
      auto done = in_flight;
      try {
        req.reply(resp).then([done](pplx::task<void> reply) {
          try {
            reply.get();
          } catch (const std::exception&) {
            // The client went away before the answer: nothing to do.
          }
          done->Exit();
        });
      } catch (const std::exception&) {
        done->Exit();
      }
    }
    wh::http_request req;
    std::shared_ptr<InFlight> in_flight;
    std::atomic<bool> sent{false};
  };
  std::shared_ptr<State> state_;
};

// Reads the body, runs the handler and answers; a body over the limit (one sent chunked
// carries no Content-Length to refuse it early) gets 413.
void Answer(Replier replier, std::function<ApiReply(const std::string&)> handler, Metrics* metrics,
            std::string route) {
  const auto started = std::chrono::steady_clock::now();
  replier.request().extract_string(true).then([replier, handler, metrics, route,
                                               started](pplx::task<std::string> body_task) mutable {
    ApiReply out;
    try {
      const std::string body = body_task.get();
      out =
          body.size() > kMaxBody
              ? ApiReply{413, ErrorJson("payload_too_large", "request bodies are limited to 1 MiB")}
              : handler(body);
    } catch (const std::exception& e) {
      out = ApiReply{500, ErrorJson("internal", e.what())};
    }
    if (metrics) {
      const std::string labels = "route=\"" + route + "\"";
      metrics->Count("tandem_api_requests_total",
                     labels + ",status=\"" + std::to_string(out.status) + "\"");
      metrics->Observe(
          "tandem_api_request_seconds", labels,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    replier.Send(out.status, out.body, out.content_type);
  });
}

}  // namespace

struct ApiServer::Impl {
  store::Store& store;
  connector::http::CallCounter& counter;
  const Clock& clock;
  SteadyTime started;
  struct ScopedHandler {
    std::string scope;
    ApiHandler handler;
  };
  std::map<std::string, ScopedHandler> routes;         // "METHOD path"; read-only after Start()
  std::map<std::string, PublicHandler> public_routes;  // read-only after Start()
  struct ParamRoute {
    std::string method, prefix, suffix, scope;
    ParamHandler handler;
  };
  std::vector<ParamRoute> param_routes;       // read-only after Start()
  std::map<std::string, StaticAsset> assets;  // by path; read-only after Start()
  std::unique_ptr<http_listener> listener;
  Metrics* metrics = nullptr;  // optional; set before Start()
  // Requests from arrival to the end of their reply; Stop() waits for them.
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();

  // The methods served at `path` ("GET, POST"), empty for a path Tandem does not serve.
  std::string AllowedMethods(const std::string& path) const {
    std::set<std::string> methods;
    if (path == "/healthz" || path == "/metrics" || assets.count(path)) methods.insert("GET");
    auto collect = [&](const auto& table) {
      for (const auto& entry : table) {
        const std::string& key = entry.first;  // "METHOD path"
        const auto space = key.find(' ');
        if (key.compare(space + 1, std::string::npos, path) == 0)
          methods.insert(key.substr(0, space));
      }
    };
    collect(routes);
    collect(public_routes);
    std::string out;
    for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
    return out;
  }

  bool IsPublicPath(const std::string& path) const {
    for (const auto& entry : public_routes)
      if (entry.first.compare(entry.first.find(' ') + 1, std::string::npos, path) == 0) return true;
    return false;
  }
  void Dispatch(const ServerOptions& options, Replier replier);
  void Health(const std::string& granted, Replier replier);

  Impl(store::Store& s, connector::http::CallCounter& c, const Clock& cl)
      : store(s), counter(c), clock(cl), started(cl.SteadyNow()) {}

  std::string RenderMetrics() {
    std::string out;
    out += "# HELP tandem_uptime_seconds Seconds since the server started.\n";
    out += "# TYPE tandem_uptime_seconds gauge\n";
    out +=
        "tandem_uptime_seconds " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(clock.SteadyNow() - started).count()) +
        "\n";
    out += "# HELP tandem_remote_calls_total Logical calls to remote APIs.\n";
    out += "# TYPE tandem_remote_calls_total counter\n";
    std::string attempts =
        "# HELP tandem_remote_attempts_total Requests sent to remote APIs, retries included.\n"
        "# TYPE tandem_remote_attempts_total counter\n";
    for (const auto& [key, c] : counter.Snapshot()) {
      const auto bar = key.find('|');
      const std::string labels = "{remote=\"" + key.substr(0, bar) + "\",endpoint=\"" +
                                 log::JsonEscape(key.substr(bar + 1)) + "\"}";
      out += "tandem_remote_calls_total" + labels + " " + std::to_string(c.calls) + "\n";
      attempts += "tandem_remote_attempts_total" + labels + " " + std::to_string(c.attempts) + "\n";
    }
    out += attempts;
    if (metrics) out += metrics->Render();
    return out;
  }
};

std::string ErrorJson(const std::string& code, const std::string& message) {
  return "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + log::JsonEscape(message) + "\"}}";
}

int64_t QueryNumber(const std::map<std::string, std::string>& query, const char* name,
                    int64_t fallback) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  return end && *end == '\0' && !it->second.empty() ? v : -1;
}

int HttpStatusOf(const Status& st) {
  if (st.IsNotFound()) return 404;
  if (st.IsInvalidArgument()) return 400;
  if (st.IsConflict()) return 409;
  if (st.IsRateLimited()) return 429;
  if (st.IsUnavailable() || st.IsTimeout()) return 503;
  return 500;
}

ApiServer::ApiServer(ServerOptions options, store::Store& store,
                     connector::http::CallCounter& counter, const Clock& clock)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(store, counter, clock)) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Route(const std::string& method, const std::string& path, const std::string& scope,
                      ApiHandler handler) {
  // Under /api/ or the bearer check would not cover it (a wiring mistake, found at start-up).
  if (path.rfind("/api/", 0) != 0) throw std::logic_error("Route: " + path + " is not under /api/");
  impl_->routes[method + " " + path] = {scope, std::move(handler)};
}

void ApiServer::RouteWithId(const std::string& method, const std::string& prefix,
                            const std::string& suffix, const std::string& scope,
                            ParamHandler handler) {
  // Under /api/ or the bearer check would not cover it (a wiring mistake, found at start-up).
  if (prefix.rfind("/api/", 0) != 0)
    throw std::logic_error("RouteWithId: " + prefix + " is not under /api/");
  impl_->param_routes.push_back({method, prefix, suffix, scope, std::move(handler)});
}

void ApiServer::SetMetrics(Metrics* metrics) {
  impl_->metrics = metrics;
  if (!metrics) return;
  metrics->Describe("tandem_api_requests_total", "counter", "API requests by route and status.");
  metrics->Describe("tandem_api_request_seconds", "histogram", "API request latency by route.");
  store::Store* store = &impl_->store;
  metrics->Describe("tandem_inbox_pending", "gauge",
                    "Billing events received and not yet applied.");
  metrics->Gauge("tandem_inbox_pending", [store] {
    auto n = store->CountPendingInbox();
    return n.ok() ? static_cast<double>(*n) : -1.0;
  });
}

void ApiServer::Asset(const std::string& path, StaticAsset asset) {
  if (path.rfind("/api/", 0) == 0) throw std::logic_error("Asset: " + path + " is under /api/");
  impl_->assets[path] = std::move(asset);
}

void ApiServer::PublicRoute(const std::string& method, const std::string& path,
                            PublicHandler handler) {
  impl_->public_routes[method + " " + path] = std::move(handler);
}

std::string ApiServer::base_url() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

// The scopes the request's bearer token grants: every scope for the configured token, an issued
// token's own, "" for none or an unknown one.
namespace {
// Failure: the issued tokens cannot be read (the store is down).
Result<std::string> GrantedScopes(const ServerOptions& options, const wh::http_request& req) {
  const auto auth = req.headers().find("Authorization");
  if (auth == req.headers().end() || auth->second.rfind("Bearer ", 0) != 0) return std::string();
  const std::string presented = auth->second;
  if (!options.api_token.empty() && SafeEquals(presented, "Bearer " + options.api_token))
    return std::string(kAllScopes);
  if (!options.token_scopes) return std::string();
  auto scopes = options.token_scopes(presented.substr(7));
  if (!scopes.ok()) return scopes.status();
  return scopes->value_or("");
}
}  // namespace

// /healthz: a load balancer or an anonymous prober learns only ok / not ok; the store's error
// (which may name hosts and users) goes only to an operator.
void ApiServer::Impl::Health(const std::string& granted, Replier replier) {
  const bool detailed = HasScope(granted, kScopeOperator);
  auto version = store.SchemaVersion();
  if (!version.ok()) {
    replier.Send(503,
                 detailed ? "{\"status\":\"not ok\",\"error\":\"" +
                                log::JsonEscape(version.status().ToString()) + "\"}"
                          : "{\"status\":\"not ok\"}",
                 "application/json");
    return;
  }
  replier.Send(200,
               detailed ? "{\"status\":\"ok\",\"schema_version\":" + std::to_string(*version) + "}"
                        : "{\"status\":\"ok\"}",
               "application/json");
}

// Routes one request: health and metrics, signed public routes, then the bearer-protected API.
void ApiServer::Impl::Dispatch(const ServerOptions& options, Replier replier) {
  wh::http_request& req = replier.request();
  std::string path;
  try {
    path = req.relative_uri().path();
  } catch (const std::exception& e) {
    replier.Send(400, ErrorJson("bad_request", std::string("bad request target: ") + e.what()),
                 "application/json");
    return;
  }
  const std::string method = req.method();
  if (method == "GET" && path == "/healthz") {
    Health(GrantedScopes(options, req).value_or(""), std::move(replier));
    return;
  }
  if (method == "GET" && path == "/metrics") {
    replier.Send(200, RenderMetrics(), "text/plain; version=0.0.4");
    return;
  }
  if (auto asset = assets.find(path); asset != assets.end() && method == "GET") {
    // The page holds no data (it asks the API, with the operator's token, for that): served
    // to anyone, with a policy that lets it load nothing and talk to no one but this server.
    replier.Send(200, asset->second.body, asset->second.content_type,
                 {{"Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                   "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                   "base-uri 'none'"},
                  {"Referrer-Policy", "no-referrer"},
                  {"X-Frame-Options", "DENY"},
                  {"Cache-Control", "no-cache"}});
    return;
  }
  // Refuse big bodies before reading them when their size is announced.
  if (req.headers().content_length() > kMaxBody) {
    replier.Send(413, ErrorJson("payload_too_large", "request bodies are limited to 1 MiB"),
                 "application/json");
    return;
  }
  const std::string key = method + " " + path;
  if (auto pub = public_routes.find(key); pub != public_routes.end()) {
    HeaderMap headers;
    for (const auto& [k, v] : req.headers()) {
      std::string name = k;
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = v;
    }
    PublicHandler handler = pub->second;
    Answer(
        std::move(replier),
        [handler, headers](const std::string& body) { return handler(body, headers); }, metrics,
        key);
    return;
  }
  ApiHandler handler;
  std::string scope;
  std::string metric_key = key;
  if (auto route = routes.find(key); route != routes.end()) {
    handler = route->second.handler;
    scope = route->second.scope;
  }
  for (const auto& p : param_routes) {
    if (handler || p.method != method || path.size() <= p.prefix.size() + p.suffix.size() ||
        path.compare(0, p.prefix.size(), p.prefix) != 0 ||
        path.compare(path.size() - p.suffix.size(), p.suffix.size(), p.suffix) != 0)
      continue;
    const std::string raw =
        path.substr(p.prefix.size(), path.size() - p.prefix.size() - p.suffix.size());
    if (raw.find('/') != std::string::npos) continue;
    std::string param = raw;
    try {
      param = web::uri::decode(raw);
    } catch (const std::exception&) {
      // Not percent-encoded correctly: the handler sees it as sent and refuses it.
    }
    std::map<std::string, std::string> query;
    try {
      for (const auto& [k, v] : web::uri::split_query(req.relative_uri().query()))
        query[web::uri::decode(k)] = web::uri::decode(v);
    } catch (const std::exception&) {
      // A malformed query is the handler's to refuse: it sees none.
    }
    ParamHandler h = p.handler;
    handler = [h, param, query](const std::string& body) { return h(param, query, body); };
    scope = p.scope;
    metric_key = method + " " + p.prefix + "{id}" + p.suffix;  // one series per route
  }
  // A path served under another method: 405 with Allow (RFC 9110 15.5.6). Behind the bearer
  // check for the protected API, so an anonymous caller learns nothing of its routes.
  const std::string allow = handler ? "" : AllowedMethods(path);
  const bool public_path = !allow.empty() && (path == "/healthz" || path == "/metrics" ||
                                              assets.count(path) || IsPublicPath(path));
  if (path.rfind("/api/", 0) == 0 && !public_path) {
    const auto granted_or = GrantedScopes(options, req);
    if (!granted_or.ok()) {
      // Not 401: the caller's token may be fine; Tandem cannot tell now.
      replier.Send(503, ErrorJson("store_unavailable", "cannot check the token now; try again"),
                   "application/json");
      return;
    }
    const std::string& granted = *granted_or;
    if (granted.empty()) {
      replier.Send(401, ErrorJson("unauthorized", "a valid bearer token is required"),
                   "application/json");
      return;
    }
    if (handler && !HasAnyScope(granted, scope)) {
      replier.Send(403,
                   ErrorJson("forbidden", "this token lacks the '" + scope + "' scope (it has " +
                                              granted + "); see tandem token create --scopes"),
                   "application/json");
      return;
    }
  }
  if (!handler) {
    if (!allow.empty()) {
      replier.Send(405,
                   ErrorJson("method_not_allowed",
                             method + " is not served at " + path + " (allowed: " + allow + ")"),
                   "application/json", {{"Allow", allow}});
      return;
    }
    replier.Send(404, ErrorJson("not_found", key + " is not a Tandem endpoint"),
                 "application/json");
    return;
  }
  Answer(std::move(replier), handler, metrics, metric_key);
}
Status ApiServer::Start() {
  InitOpenSsl();
  port_ = options_.port != 0 ? options_.port : FreeLoopbackPort();
  Impl* impl = impl_.get();
  const ServerOptions options = options_;
  try {
    wh::experimental::listener::http_listener_config cfg;
    cfg.set_timeout(std::chrono::seconds(30));
    impl->listener = std::make_unique<http_listener>(base_url(), cfg);
    std::shared_ptr<InFlight> in_flight = impl->in_flight;
    impl->listener->support([impl, options, in_flight](wh::http_request req) {
      try {
        impl->Dispatch(options, Replier(std::move(req), in_flight));
      } catch (const std::exception& e) {
        // The Replier, gone with the stack, answered 500.
        log::Get("app.server")->error("request handler: {}", e.what());
      }
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    impl->listener.reset();
    return Status::Unavailable("cannot listen on " + base_url() + ": " + e.what());
  }
  log::Get("app.server")->info("listening on {}", base_url());
  return Status::Ok();
}

void ApiServer::Stop() {
  if (!impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception& e) {
    log::Get("app.server")->warn("closing the listener: {}", e.what());
  }
  // Handlers still running finish and their replies complete (or fail to a closed connection)
  // before the listener and the state they use go away; the aborted accept frees its socket.
  impl_->in_flight->WaitIdle();
  // cpprest's aborted accept frees its socket when a pool thread runs it: run what is ready
  // now, so a process exiting right after does not lose it.
  crossplat::threadpool::shared_instance().service().poll();
  impl_->listener.reset();
}

}  // namespace tandem::app
