#include "app/server.h"

#include <unistd.h>

#include <cpprest/http_listener.h>

#include "util/log.h"
#include "util/net.h"

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

std::string ErrorJson(const std::string& code, const std::string& message) {
  return "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + log::JsonEscape(message) + "\"}}";
}
}  // namespace

struct ApiServer::Impl {
  store::Store& store;
  connector::http::CallCounter& counter;
  const Clock& clock;
  SteadyTime started;
  std::map<std::string, ApiHandler> routes;            // "METHOD path"; read-only after Start()
  std::map<std::string, PublicHandler> public_routes;  // read-only after Start()
  std::unique_ptr<http_listener> listener;
  Metrics* metrics = nullptr;  // optional; set before Start()

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

ApiServer::ApiServer(ServerOptions options, store::Store& store,
                     connector::http::CallCounter& counter, const Clock& clock)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(store, counter, clock)) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Route(const std::string& method, const std::string& path, ApiHandler handler) {
  impl_->routes[method + " " + path] = std::move(handler);
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

void ApiServer::PublicRoute(const std::string& method, const std::string& path,
                            PublicHandler handler) {
  impl_->public_routes[method + " " + path] = std::move(handler);
}

std::string ApiServer::base_url() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

namespace {
constexpr uint64_t kMaxBody = 1 << 20;  // bodies are small JSON

// Reads the body, runs the handler and answers; a body over the limit (one sent chunked
// carries no Content-Length to refuse it early) gets 413.
void Answer(wh::http_request req, std::function<ApiReply(const std::string&)> handler,
            Metrics* metrics, std::string route) {
  const auto started = std::chrono::steady_clock::now();
  req.extract_string(true).then([req, handler, metrics, route,
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
    wh::http_response resp(static_cast<wh::status_code>(out.status));
    resp.set_body(out.body, out.content_type);
    req.reply(resp);
  });
}
}  // namespace

Status ApiServer::Start() {
  port_ = options_.port != 0 ? options_.port : FreeLoopbackPort();
  Impl* impl = impl_.get();
  const std::string token = options_.api_token;
  const auto token_check = options_.token_check;
  try {
    wh::experimental::listener::http_listener_config cfg;
    cfg.set_timeout(std::chrono::seconds(30));
    impl->listener = std::make_unique<http_listener>(base_url(), cfg);
    impl->listener->support([impl, token, token_check](wh::http_request req) {
      const std::string path = req.relative_uri().path();
      const std::string method = req.method();
      auto reply = [&req](int status, const std::string& body, const std::string& type) {
        wh::http_response resp(static_cast<wh::status_code>(status));
        resp.set_body(body, type);
        req.reply(resp);
      };
      if (method == "GET" && path == "/healthz") {
        auto version = impl->store.SchemaVersion();
        if (!version.ok()) {
          reply(503, ErrorJson("store_unavailable", version.status().ToString()),
                "application/json");
          return;
        }
        reply(200, "{\"status\":\"ok\",\"schema_version\":" + std::to_string(*version) + "}",
              "application/json");
        return;
      }
      if (method == "GET" && path == "/metrics") {
        reply(200, impl->RenderMetrics(), "text/plain; version=0.0.4");
        return;
      }
      // Refuse big bodies before reading them when their size is announced.
      if (req.headers().content_length() > kMaxBody) {
        reply(413, ErrorJson("payload_too_large", "request bodies are limited to 1 MiB"),
              "application/json");
        return;
      }
      if (auto pub = impl->public_routes.find(method + " " + path);
          pub != impl->public_routes.end()) {
        HeaderMap headers;
        for (const auto& [k, v] : req.headers()) {
          std::string name = k;
          for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          headers[name] = v;
        }
        PublicHandler handler = pub->second;
        Answer(
            req, [handler, headers](const std::string& body) { return handler(body, headers); },
            impl->metrics, method + " " + path);
        return;
      }
      auto route = impl->routes.find(method + " " + path);
      if (path.rfind("/api/", 0) == 0) {
        const auto auth = req.headers().find("Authorization");
        const std::string presented = auth == req.headers().end() ? "" : auth->second;
        const bool configured = !token.empty() && SafeEquals(presented, "Bearer " + token);
        const bool issued = !configured && token_check && presented.rfind("Bearer ", 0) == 0 &&
                            token_check(presented.substr(7));
        if (!configured && !issued) {
          reply(401, ErrorJson("unauthorized", "a valid bearer token is required"),
                "application/json");
          return;
        }
      }
      if (route == impl->routes.end()) {
        reply(404, ErrorJson("not_found", method + " " + path + " is not a Tandem endpoint"),
              "application/json");
        return;
      }
      Answer(req, route->second, impl->metrics, method + " " + path);
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
  impl_->listener.reset();
}

}  // namespace tandem::app
