// Shared by the benchmarks: CPU seconds, the sandbox process, the clients to it.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "connector/billing/stripe/connection.h"
#include "connector/crm/salesforce/connection.h"
#include "util/clock.h"
#include "util/random.h"
#include "util/redact.h"

#include <sys/resource.h>
#include <sys/wait.h>

namespace tandem::bench {

// The `billing:` limits a bench configures against a remote that allows `rate` calls a second,
// as docs/operations.md advises: rate + burst within the remote's limit. From 34/s up, 1 % is
// left for calls the network's jitter moves across the edge of the remote's one-second window
// (the burst is at least 1, so below that the margin shrinks): no 429 in the work-order bench's
// runs at 3,000 orders (the margin was 4 % until December; 3 % of throughput for nothing).
inline std::string BillingRateYaml(double rate) {
  std::ostringstream out;
  out << "  rate_per_second: " << rate * 0.96 << "\n  burst: " << std::max(1.0, rate * 0.03)
      << "\n";  // a burst of at least 1: the config's least
  return out.str();
}

inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// This process's peak resident set so far, MiB.
inline double PeakRssMiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// How a child process ended: its exit code (-1: killed or not waited for), peak resident set
// (MiB) and CPU seconds.
struct ChildEnd {
  int exit_code = -1;
  double rss_mib = 0, cpu = 0;
};

// Waits for child `pid` to end.
inline ChildEnd WaitChild(pid_t pid) {
  ChildEnd end;
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) return end;
  end.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  end.rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  end.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return end;
}

// Starts `tandem sandbox` (both emulators, free ports) as its own process, so the figures are
// the client's alone; `extra` are more of its options (--crm-latency 300 ...). Returns its pid
// (-1 on failure) and the URLs it printed; `billing` may be null when only the CRM is wanted.
inline pid_t StartSandbox(const char* binary, std::string* crm, std::string* billing,
                          std::vector<std::string> extra = {}) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    std::vector<std::string> args = {binary, "--log-level", "warn", "sandbox"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary, argv.data());
    _exit(127);
  }
  close(fds[1]);
  for (int i = 0; i < 2; ++i) {
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("crm ", 0) == 0) *crm = line.substr(4);
    if (billing && line.rfind("billing ", 0) == 0) *billing = line.substr(8);
  }
  close(fds[0]);
  return crm->empty() || (billing && billing->empty()) ? -1 : pid;
}

// An emulator's /__sandbox/stats (requests, rate_limited, objects, ...); null when unreadable.
inline Json SandboxStats(const std::string& url, const connector::http::RestClientDeps& deps) {
  connector::http::RestClientOptions o;
  o.base_url = url;
  connector::http::RestClient client(o, deps, nullptr);
  auto r = client.Get("/__sandbox/stats");
  if (!r.ok()) return Json();
  return Json::Parse(r->body).value_or(Json());
}

// The CRM sandbox's /__sandbox/tally through `admin` (a client of the sandbox's URL): how many
// records of `object` hold each value of `field` (not an API call: no latency, not counted);
// null when unreadable.
inline Json SandboxTally(connector::http::RestClient& admin, const std::string& object,
                         const std::string& field) {
  Json ask = Json::MakeObject();
  ask.Set("object", object);
  ask.Set("field", field);
  auto r = admin.PostJson("/__sandbox/tally", ask.Dump());
  if (!r.ok() || r->status != 200) return Json();
  return Json::Parse(r->body).value_or(Json());
}

// The clients a bench drives the sandboxes with, as the app builds them: real time and real
// sleeps, one call counter for both remotes, no client-side billing rate limit (a bench measures
// the remote's). `billing` is null when `billing_url` is empty.
struct SandboxClients {
  SandboxClients(const std::string& crm_url, const std::string& billing_url,
                 Millis bulk_poll_initial = Millis(500))
      : crm(CrmOptions(crm_url, bulk_poll_initial), {clock, sleeper, random, counter}, redactor,
            sleeper) {
    if (billing_url.empty()) return;
    connector::billing::stripe::StripeConnectionOptions o;
    o.base_url = billing_url;
    o.api_key = "sk_test_sandbox";
    o.rate_per_second = 0;
    billing = std::make_unique<connector::billing::stripe::StripeConnection>(
        o, connector::http::RestClientDeps{clock, sleeper, random, counter}, redactor);
  }

  static connector::crm::salesforce::ConnectionOptions CrmOptions(const std::string& url,
                                                                  Millis bulk_poll_initial) {
    connector::crm::salesforce::ConnectionOptions o;
    o.instance_url = url;
    o.oauth.client_id = "tandem-sandbox";
    o.oauth.client_secret = "sandbox-secret";
    o.api.bulk_poll_initial = bulk_poll_initial;
    return o;
  }

  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random{1};
  connector::http::CallCounter counter;
  Redactor redactor;
  connector::crm::salesforce::SalesforceConnection crm;
  std::unique_ptr<connector::billing::stripe::StripeConnection> billing;
};

}  // namespace tandem::bench
