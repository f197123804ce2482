// Requests per second and CPU per request of the REST client core (the full pipeline:
// counting, auth, retry, rate limiter off, redacting logger, cpprest transport) against a
// trivial cpprest listener on loopback, with keep-alive.
//   bench_rest_client [--threads N] [--seconds S] [--pool N]
// Prints one line of figures, and "bench: N passed, 0 failed" when every request got a 200.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include "bench/bench_util.h"
#include "connector/http/rest_client.h"
#include "util/log.h"

#include <sys/resource.h>

int main(int argc, char** argv) {
  int threads = 4, seconds = 3, pool = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--pool"))
      pool = std::atoi(argv[i + 1]);
  }
  crossplat::threadpool::initialize_with_threads(static_cast<size_t>(pool));
  tandem::log::Setup({tandem::log::Format::kText, spdlog::level::warn},
                     std::make_shared<tandem::Redactor>());

  using web::http::experimental::listener::http_listener;
  const std::string url = "http://127.0.0.1:" + std::to_string(18000 + (::getpid() % 2000));
  http_listener listener(url);
  listener.support(web::http::methods::GET, [](web::http::http_request req) {
    req.reply(web::http::status_codes::OK, "{\"ok\":true}", "application/json");
  });
  listener.open().wait();

  tandem::SystemClock clock;
  tandem::RealSleeper sleeper;
  tandem::SeededRandom random(1);
  tandem::connector::http::CallCounter counter;
  tandem::Redactor redactor;
  tandem::connector::http::RestClientOptions options;
  options.remote = "bench";
  options.base_url = url;
  tandem::connector::http::RestClient client(
      options, {clock, sleeper, random, counter},
      std::make_shared<tandem::connector::http::BearerTokenAuth>("bench-token-123", redactor));

  std::atomic<long> ok{0}, bad{0};
  std::atomic<bool> stop{false};
  const double cpu0 = tandem::bench::CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        auto r = client.Get("/ping");
        (r.ok() && r->status == 200 ? ok : bad)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = tandem::bench::CpuSeconds() - cpu0;
  listener.close().wait();

  const long n = ok.load();
  std::printf(
      "rest_client: %d client threads, pool %d, %.2f s: %ld requests, %.0f req/s, "
      "CPU %.1f us/request (client and server in one process), attempts %lld\n",
      threads, pool, wall, n, n / wall, n ? cpu / static_cast<double>(n) * 1e6 : 0.0,
      static_cast<long long>(counter.Total("bench").attempts));
  std::printf("peak RSS %.0f MiB (client and server in one process)\n",
              tandem::bench::PeakRssMiB());
  std::printf("bench: %ld passed, %ld failed\n", n, bad.load());
  return bad.load() == 0 && n > 0 ? 0 : 1;
}
