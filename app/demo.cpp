#include "app/demo.h"

#include <filesystem>
#include <iostream>

#include "app/cli.h"
#include "app/server.h"
#include "connector/http/rest_client.h"
#include "store/store.h"
#include "util/log.h"

namespace tandem::app {
namespace {

void Step(int n, const std::string& title) {
  std::cout << "\n== " << n << ". " << title << " ==\n";
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.workdir, ec);
  const std::string db = (fs::path(options.workdir) / "tandem-demo.db").string();
  fs::remove(db, ec);
  fs::remove(db + "-wal", ec);
  fs::remove(db + "-shm", ec);

  std::cout << "Tandem demo — embedded default (SQLite) in " << options.workdir << "\n";

  Step(1, "Store: SQLite through SOCI, schema migrations");
  store::StoreOptions so;
  so.url = "sqlite:" + db;
  auto store = store::Store::Open(so);
  if (!store.ok()) {
    std::cerr << "demo: " << store.status().ToString() << "\n";
    return kExitFailures;
  }
  auto version = (*store)->SchemaVersion();
  auto tables = (*store)->TableNames();
  std::cout << "schema version " << (version.ok() ? *version : -1) << "; tables:";
  if (tables.ok())
    for (const auto& t : *tables) std::cout << " " << t;
  std::cout << "\n";

  Step(2, "HTTP API server (tandem serve) on a loopback port");
  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random(42);
  connector::http::CallCounter counter;
  const std::string token = "demo-token-" + std::to_string(random.Uniform(1'000'000'000));
  ApiServer server(ServerOptions{"127.0.0.1", 0, token}, **store, counter, clock);
  server.Route("GET", "/api/v1/status", [](const std::string&) {
    return ApiReply{200, "{\"tandem\":\"ok\"}"};
  });
  if (Status st = server.Start(); !st.ok()) {
    std::cerr << "demo: " << st.ToString() << "\n";
    return kExitFailures;
  }
  std::cout << "listening on " << server.base_url() << "\n";

  Step(3, "REST client core: pipeline with auth, retry, rate limit, call counting");
  connector::http::RestClientOptions ro;
  ro.remote = "tandem-api";
  ro.base_url = server.base_url();
  ro.rate_per_second = 50;
  auto redactor = std::make_shared<Redactor>();
  connector::http::RestClient anonymous(ro, {clock, sleeper, random, counter}, nullptr);
  connector::http::RestClient authed(
      ro, {clock, sleeper, random, counter},
      std::make_shared<connector::http::BearerTokenAuth>(token, *redactor));
  int failures = 0;
  auto show = [&](const char* what, const Result<connector::http::HttpResponse>& r, int want) {
    const int got = r.ok() ? r->status : -1;
    std::cout << "  " << what << " -> " << (r.ok() ? std::to_string(got) : r.status().ToString())
              << (r.ok() ? " " + r->body.substr(0, 80) : "") << (got == want ? "" : "  UNEXPECTED")
              << "\n";
    if (got != want) ++failures;
  };
  show("GET /healthz", anonymous.Get("/healthz"), 200);
  show("GET /api/v1/status without token", anonymous.Get("/api/v1/status"), 401);
  show("GET /api/v1/status with token", authed.Get("/api/v1/status"), 200);
  const auto totals = counter.Total("tandem-api");
  std::cout << "calls: " << totals.calls << ", attempts on the wire: " << totals.attempts << "\n";
  server.Stop();

  std::cout << "\nDemo " << (failures == 0 ? "finished: every step passed" : "FAILED") << ".\n";
  return failures == 0 ? kExitOk : kExitFailures;
}

}  // namespace tandem::app
