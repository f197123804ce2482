// `tandem sandbox`: the Salesforce and Stripe emulators on loopback, for tests and demos.
#include <iostream>
#include <memory>

#include <pplx/threadpool.h>

#include "app/cli.h"
#include "app/commands/command.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

po::options_description SandboxOptions() {
  po::options_description desc("sandbox options");
  desc.add_options()("host", po::value<std::string>()->default_value("127.0.0.1"),
                     "address to bind")("crm-port", po::value<int>()->default_value(0),
                                        "Salesforce emulator port (0: a free one)")(
      "jwt-public-key", po::value<std::string>(),
      "PEM public key that JWT bearer assertions must be signed for")(
      "crm-schema", po::value<std::string>(), "schema JSON replacing the built-in objects")(
      "crm-faults", po::value<std::string>(),
      "JSON file of faults to inject (also POST /__sandbox/faults at run time)")(
      "api-limit", po::value<int64_t>()->default_value(5'000'000), "daily API calls allowed")(
      "crm-concurrent-limit", po::value<int>()->default_value(0),
      "Salesforce requests in flight at once before one is refused with REQUEST_LIMIT_EXCEEDED "
      "(0: no limit; Salesforce's own: 25, counting those running 20 s or longer)")(
      "billing", po::value<std::string>()->default_value("stripe"),
      "billing emulator: stripe | gotransverse")("billing-port", po::value<int>()->default_value(0),
                                                 "billing emulator port (0: a free one)")(
      "billing-rate-limit", po::value<double>()->default_value(0),
      "billing emulator: requests per second before it answers 429 (0: no limit)")(
      "billing-faults", po::value<std::string>(), "JSON file of faults for the billing emulator")(
      "billing-retain", po::value<size_t>()->default_value(0),
      "Stripe emulator: keep only the newest N events, subscriptions, invoices, charges and "
      "Idempotency-Keys, so a million-row benchmark fits in memory (0: keep everything)")(
      "crm-latency", po::value<int>()->default_value(0),
      "ms every Salesforce API request waits, modelling the network (real: ~300)")(
      "crm-jitter", po::value<int>()->default_value(0), "± ms around --crm-latency, uniformly")(
      "billing-latency", po::value<int>()->default_value(0),
      "ms every billing API request waits (real Stripe: 100-300)")(
      "billing-jitter", po::value<int>()->default_value(0),
      "± ms around --billing-latency, uniformly");
  return desc;
}

constexpr size_t kLatencyServerThreads = 400;

sandbox::Latency BillingLatency(const po::variables_map& vm) {
  return {vm["billing-latency"].as<int>(), vm["billing-jitter"].as<int>()};
}

// The Salesforce emulator's options; false (after saying why) when a file named cannot be read.
bool CrmSandboxOptions(const po::variables_map& vm,
                       sandbox::salesforce::SalesforceSandboxOptions* so) {
  so->host = vm["host"].as<std::string>();
  so->port = vm["crm-port"].as<int>();
  so->daily_api_max = vm["api-limit"].as<int64_t>();
  so->concurrent_request_limit = vm["crm-concurrent-limit"].as<int>();
  so->latency = {vm["crm-latency"].as<int>(), vm["crm-jitter"].as<int>()};
  std::string error;
  if (vm.count("jwt-public-key"))
    so->jwt_public_key_pem = ReadFileOr(vm["jwt-public-key"].as<std::string>(), &error);
  if (vm.count("crm-schema"))
    so->schema_json = ReadFileOr(vm["crm-schema"].as<std::string>(), &error);
  if (!error.empty()) {
    std::cerr << "tandem sandbox: " << error << "\n";
    return false;
  }
  return true;
}

// Builds the Salesforce emulator with --crm-faults and starts it. On failure says why and
// returns the exit code.
int StartCrmSandbox(const po::variables_map& vm,
                    const sandbox::salesforce::SalesforceSandboxOptions& so, const Clock& clock,
                    std::unique_ptr<sandbox::salesforce::SalesforceSandbox>* crm) {
  try {
    *crm = std::make_unique<sandbox::salesforce::SalesforceSandbox>(so, clock);
  } catch (const std::exception& e) {
    std::cerr << "tandem sandbox: bad schema: " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("crm-faults")) {
    std::string error;
    const std::string faults = ReadFileOr(vm["crm-faults"].as<std::string>(), &error);
    Status st = error.empty() ? (*crm)->AddFaultsFromJson(faults) : Status::InvalidArgument(error);
    if (!st.ok()) {
      std::cerr << "tandem sandbox: --crm-faults: " << st.message() << "\n";
      return kExitUsage;
    }
  }
  if (Status st = (*crm)->Start(); !st.ok()) {
    std::cerr << "tandem sandbox: " << st.ToString() << "\n";
    return kExitFailures;
  }
  return kExitOk;
}

// Adds --billing-faults to the billing emulator (Stripe's or Gotransverse's) and starts it. On
// failure says why and returns the exit code.
template <typename Emulator>
int StartBillingSandbox(const po::variables_map& vm, Emulator& billing) {
  if (vm.count("billing-faults")) {
    std::vector<sandbox::Fault> faults;
    std::string error;
    const std::string text = ReadFileOr(vm["billing-faults"].as<std::string>(), &error);
    Status st =
        error.empty() ? sandbox::ParseFaults(text, &faults) : Status::InvalidArgument(error);
    if (!st.ok()) {
      std::cerr << "tandem sandbox: --billing-faults: " << st.message() << "\n";
      return kExitUsage;
    }
    for (const auto& f : faults) billing.AddFault(f);
  }
  if (Status st = billing.Start(); !st.ok()) {
    std::cerr << "tandem sandbox: " << st.ToString() << "\n";
    return kExitFailures;
  }
  return kExitOk;
}

}  // namespace

int Sandbox(const Globals&, const Args& args) {
  po::options_description desc = SandboxOptions();
  po::variables_map vm;
  int code = 0;
  if (!ParseSub(
          "sandbox", args, desc, &vm, &code,
          "Serves the Salesforce emulator (OAuth: client id tandem-sandbox, client secret\n"
          "sandbox-secret) and a billing emulator — Stripe's (API key sk_test_sandbox) or,\n"
          "with --billing gotransverse, Gotransverse's (X-Api-Key gtv-sandbox-key) — on loopback\n"
          "until SIGTERM or SIGINT. Prints one line per emulator: 'crm http://HOST:PORT'\n"
          "and 'billing http://HOST:PORT'."))
    return code;
  sandbox::salesforce::SalesforceSandboxOptions so;
  if (!CrmSandboxOptions(vm, &so)) return kExitUsage;
  // A modelled latency holds a server thread per request while it waits (the emulators share
  // cpprestsdk's pool, 40 threads by default): 40 would cap the requests in flight at both
  // remotes together, well under what a client keeps in flight at 100/s and 300 ms. Sized
  // before the first listener starts the pool.
  const sigset_t stop_signals = BlockStopSignals();  // first: the pool's threads inherit it
  if (so.latency.fixed_ms > 0 || BillingLatency(vm).fixed_ms > 0)
    crossplat::threadpool::initialize_with_threads(kLatencyServerThreads);
  SystemClock clock;
  std::unique_ptr<sandbox::salesforce::SalesforceSandbox> crm;
  if (int failed = StartCrmSandbox(vm, so, clock, &crm); failed != kExitOk) return failed;
  const std::string system = vm["billing"].as<std::string>();
  if (system != "stripe" && system != "gotransverse") {
    std::cerr << "tandem sandbox: --billing: expected stripe or gotransverse, got '" << system
              << "'\n";
    return kExitUsage;
  }
  std::unique_ptr<sandbox::stripe::StripeSandbox> stripe;
  std::unique_ptr<sandbox::gtv::GtvSandbox> gtv;
  std::string billing_url;
  if (system == "stripe") {
    sandbox::stripe::StripeSandboxOptions bo;
    bo.host = so.host;
    bo.port = vm["billing-port"].as<int>();
    bo.rate_limit_per_second = vm["billing-rate-limit"].as<double>();
    bo.latency = BillingLatency(vm);
    bo.retain = vm["billing-retain"].as<size_t>();
    stripe = std::make_unique<sandbox::stripe::StripeSandbox>(bo, clock);
    if (int failed = StartBillingSandbox(vm, *stripe); failed != kExitOk) return failed;
    billing_url = stripe->base_url();
  } else {
    if (vm["billing-retain"].as<size_t>() != 0) {
      std::cerr << "tandem sandbox: --billing-retain: only the Stripe emulator has it\n";
      return kExitUsage;
    }
    sandbox::gtv::GtvSandboxOptions go;
    go.host = so.host;
    go.port = vm["billing-port"].as<int>();
    go.rate_limit_per_second = vm["billing-rate-limit"].as<double>();
    go.latency = BillingLatency(vm);
    gtv = std::make_unique<sandbox::gtv::GtvSandbox>(go, clock);
    if (int failed = StartBillingSandbox(vm, *gtv); failed != kExitOk) return failed;
    billing_url = gtv->base_url();
  }
  std::cout << "crm " << crm->base_url() << "\n"
            << "billing " << billing_url << std::endl;
  WaitForStopSignal(stop_signals);
  if (stripe) stripe->Stop();
  if (gtv) gtv->Stop();
  crm->Stop();
  return kExitOk;
}

}  // namespace tandem::app::commands
