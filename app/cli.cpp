#include "app/cli.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>

#include "app/config.h"
#include "app/demo.h"
#include "app/runtime.h"
#include "app/server.h"
#include "app/tokens.h"
#include "app/workorder_service.h"
#include "catalog-sync/apply.h"
#include "migration/migrator.h"
#include "migration/progress.h"
#include "reconcile/reconciler.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "store/store.h"
#include "util/log.h"
#include "util/openssl_init.h"
#include "util/thread.h"
#include "workorders/engine.h"

namespace tandem::app {
namespace po = boost::program_options;

namespace {

constexpr const char* kVersion = "0.1.0";

struct Globals {
  std::string config_path;
  std::string log_format = "text";
  std::string log_level = "info";
  RedactorPtr redactor = std::make_shared<Redactor>();
};

const char* kUsage =
    "Usage: tandem [global options] <command> [command options]\n"
    "\n"
    "Tandem keeps a Salesforce org and a billing system in step along quote-to-cash.\n"
    "\n"
    "Commands:\n"
    "  serve            run the HTTP API, the scheduler and the workers\n"
    "  config check     validate the config file (and resolve its secret references)\n"
    "  db migrate       apply pending schema migrations\n"
    "  db status        show the schema version and tables\n"
    "  mapping check    validate the mapping file against the CRM's describe\n"
    "  sync OBJECT ID…  sync CRM records to billing (also: open, query)\n"
    "  token create|revoke|list   API tokens for the CRM's quick actions\n"
    "  catalog sync     pull the product catalog from billing into the CRM\n"
    "  migrate          bulk initial load from CSV (step 7); migrate status JOB\n"
    "  workorder plan|run ORDER_ID  work-order automation of one order (steps 4-5)\n"
    "  reconcile        compare the CRM and billing record by record; --fix repairs\n"
    "  demo             run the end-to-end demo on SQLite and the sandbox\n"
    "  sandbox          serve the Salesforce (and billing) emulators for tests and demos\n"
    "\n"
    "Run 'tandem <command> --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 failures in the work, 2 bad usage or config.\n";

po::options_description GlobalOptions() {
  po::options_description d("Global options");
  d.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value<std::string>(), "appliance config file (YAML)")(
      "log-format", po::value<std::string>()->default_value("text"), "text | json")(
      "log-level", po::value<std::string>()->default_value("info"),
      "trace | debug | info | warn | error | off");
  return d;
}

// The first word in `args` that is neither an option nor an option's value (for the message).
std::string UnexpectedArgument(const std::vector<std::string>& args,
                               const po::options_description& desc,
                               const po::positional_options_description& positional) {
  unsigned taken = 0;  // words the command takes as positional arguments
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("-", 0) != 0) {
      if (taken++ < positional.max_total_count()) continue;
      return a;
    }
    if (a.find('=') != std::string::npos) continue;
    const std::string name = a.rfind("--", 0) == 0 ? a.substr(2) : a.substr(1);
    const auto* option = desc.find_nothrow(name, false, false, false);
    if (option && option->semantic()->max_tokens() > 0) ++i;  // its value
  }
  return args.empty() ? "" : args.back();
}

// Parses a subcommand's options; prints help and returns false when asked or on error.
// An argument the command does not take is a usage error, never silently ignored: without
// `positional`, any word that is not an option is refused.
bool ParseSub(const std::string& name, const std::vector<std::string>& args,
              po::options_description& desc, po::variables_map* vm, int* exit_code,
              const char* summary, const po::positional_options_description& positional = {}) {
  desc.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), *vm);
    po::notify(*vm);
  } catch (const po::too_many_positional_options_error&) {
    std::cerr << "tandem " << name << ": unexpected argument '"
              << UnexpectedArgument(args, desc, positional) << "'\n\n"
              << "Usage: tandem " << name << " [options]\n"
              << desc;
    *exit_code = kExitUsage;
    return false;
  } catch (const po::error& e) {
    std::cerr << "tandem " << name << ": " << e.what() << "\n\n"
              << "Usage: tandem " << name << " [options]\n"
              << desc;
    *exit_code = kExitUsage;
    return false;
  }
  if (vm->count("help")) {
    std::cout << "Usage: tandem [global options] " << name << " [options]\n\n"
              << summary << "\n\n"
              << desc;
    *exit_code = kExitOk;
    return false;
  }
  return true;
}

// Loads the config named by --config (or defaults when none was given).
bool LoadOrDefault(const Globals& g, Config* out) {
  if (g.config_path.empty()) return true;
  auto config = LoadConfig(g.config_path, ProcessEnv(), *g.redactor);
  if (!config.ok()) {
    std::cerr << "tandem: invalid configuration:\n" << config.status().message() << "\n";
    return false;
  }
  *out = *config;
  return true;
}

int ConfigCheck(const Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("config check options");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("config check", args, desc, &vm, &code,
                "Validates the config file given with --config: every key, type and secret\n"
                "reference (env:NAME, file:PATH). Starts nothing. Exit 0 valid, 2 invalid."))
    return code;
  if (g.config_path.empty()) {
    std::cerr << "tandem config check: give the file with --config FILE\n";
    return kExitUsage;
  }
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  auto url = store::ParseStoreUrl(config.store.url);
  if (!url.ok()) {
    std::cerr << g.config_path << ": store.url: " << url.status().message() << "\n";
    return kExitUsage;
  }
  std::cout << g.config_path << ": OK\n"
            << "  store:   "
            << (url->backend == store::Backend::kPostgres ? "postgresql" : "sqlite")
            << "\n  server:  " << config.server.host << ":" << config.server.port << "\n  crm:     "
            << (config.crm.remote.base_url.empty() ? "(not set)" : config.crm.remote.base_url)
            << " (" << config.crm.auth_flow << ")"
            << "\n  billing: " << config.billing.system << " "
            << (config.billing.remote.base_url.empty() ? "(not set)"
                                                       : config.billing.remote.base_url)
            << "\n";
  return kExitOk;
}

Result<std::unique_ptr<store::Store>> OpenStore(const Config& config, bool migrate,
                                                CrashPoints* crash) {
  store::StoreOptions so;
  so.url = config.store.url;
  so.pool_size = config.store.pool_size;
  so.schema = config.store.schema;
  so.migrate = migrate;
  so.crash_points = crash;
  return store::Store::Open(so);
}

int Db(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "Usage: tandem [global options] db <migrate|status> [options]\n\n"
                 "  migrate   apply pending schema migrations (each in its own transaction)\n"
                 "  status    print the schema version and the tables\n";
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string sub = args[0];
  if (sub != "migrate" && sub != "status") {
    std::cerr << "tandem db: unknown subcommand '" << sub << "' (migrate, status)\n";
    return kExitUsage;
  }
  po::options_description desc("db " + sub + " options");
  desc.add_options()("store", po::value<std::string>(),
                     "store URL (overrides store.url): sqlite:PATH or postgresql://...");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("db " + sub, {args.begin() + 1, args.end()}, desc, &vm, &code,
                sub == "migrate" ? "Applies pending schema migrations and prints the version."
                                 : "Prints the schema version and the tables."))
    return code;
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  if (vm.count("store")) config.store.url = vm["store"].as<std::string>();

  const char* crash_spec = std::getenv("TANDEM_CRASH_AT");
  CrashPoints crash(crash_spec ? crash_spec : "");
  auto store = OpenStore(config, /*migrate=*/false, &crash);
  if (!store.ok()) {
    std::cerr << "tandem db " << sub << ": " << store.status().ToString() << "\n";
    return store.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  auto before = (*store)->SchemaVersion();
  if (!before.ok()) {
    std::cerr << "tandem db " << sub << ": " << before.status().ToString() << "\n";
    return kExitFailures;
  }
  if (sub == "migrate") {
    Status st = (*store)->Migrate();
    if (!st.ok()) {
      std::cerr << "tandem db migrate: " << st.ToString() << "\n";
      return kExitFailures;
    }
    auto after = (*store)->SchemaVersion();
    std::cout << "schema version " << *before << " -> " << (after.ok() ? *after : -1) << " (latest "
              << store::Store::LatestSchemaVersion() << ")\n";
    return kExitOk;
  }
  std::cout << "schema version " << *before << " (latest " << store::Store::LatestSchemaVersion()
            << ")\n";
  auto tables = (*store)->TableNames();
  if (tables.ok())
    for (const auto& t : *tables) std::cout << "  " << t << "\n";
  return *before == store::Store::LatestSchemaVersion() ? kExitOk : kExitFailures;
}

// Blocks SIGTERM and SIGINT in every thread started after it, so that WaitForStopSignal
// alone receives them.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

// Loads the config this command requires and builds the runtime. On failure prints why, sets
// *exit_code (2 bad usage or config, 1 a store or remote failure) and returns null.
std::unique_ptr<Runtime> CommandRuntime(const Globals& g, const std::string& command,
                                        Config* config, int* exit_code) {
  if (g.config_path.empty() || !LoadOrDefault(g, config)) {
    if (g.config_path.empty()) std::cerr << "tandem " << command << ": give --config FILE\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto rt = BuildRuntime(*config, g.redactor);
  if (!rt.ok()) {
    std::cerr << "tandem " << command << ": " << rt.status().ToString() << "\n";
    *exit_code = rt.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
    return nullptr;
  }
  return std::move(rt).value();
}

int WaitForStopSignal(const sigset_t& stop_signals) {
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::Get("app")->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  return sig;
}

std::string ReadFileOr(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return "";
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Serve(const Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("serve options");
  desc.add_options()("listen", po::value<std::string>(), "HOST:PORT (overrides server.listen)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("serve", args, desc, &vm, &code,
                "Runs the HTTP API (/healthz, /metrics, /api/v1/...), the scheduler and the\n"
                "workers until SIGTERM or SIGINT, then stops gracefully."))
    return code;
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  if (vm.count("listen")) {
    const std::string listen = vm["listen"].as<std::string>();
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "tandem serve: --listen expects HOST:PORT\n";
      return kExitUsage;
    }
    config.server.host = listen.substr(0, colon);
    config.server.port = std::atoi(listen.c_str() + colon + 1);
  }
  const sigset_t stop_signals = BlockStopSignals();
  // Tests kill the process at a named point (workorders.before_task#N, ...).
  const char* crash_spec = std::getenv("TANDEM_CRASH_AT");
  CrashPoints crash(crash_spec ? crash_spec : "");

  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<store::Store> plain_store;
  store::Store* store = nullptr;
  if (!config.crm.remote.base_url.empty() && !config.billing.remote.base_url.empty()) {
    auto rt = BuildRuntime(config, g.redactor);
    if (!rt.ok()) {
      std::cerr << "tandem serve: " << rt.status().ToString() << "\n";
      return rt.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
    }
    runtime = std::move(rt).value();
    store = runtime->store.get();
  } else {
    log::Get("app")->warn("crm/billing not configured: serving /healthz and /metrics only");
    auto opened = OpenStore(config, /*migrate=*/true, nullptr);
    if (!opened.ok()) {
      std::cerr << "tandem serve: " << opened.status().ToString() << "\n";
      return opened.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
    }
    plain_store = std::move(opened).value();
    store = plain_store.get();
  }
  SystemClock clock;
  connector::http::CallCounter counter;
  ServerOptions server_options{config.server.host, config.server.port, config.server.api_token,
                               nullptr};
  server_options.token_check = [store](const std::string& presented) {
    auto active = store->IsActiveApiToken(TokenHash(presented));
    return active.ok() && *active;
  };
  ApiServer server(server_options, *store, runtime ? runtime->counter : counter, clock);
  if (runtime) RegisterActionRoutes(server, *runtime);
  Status st = server.Start();
  if (!st.ok()) {
    std::cerr << "tandem serve: " << st.ToString() << "\n";
    return kExitFailures;
  }
  // The callback worker: applies stored webhook events to the CRM.
  std::atomic<bool> stopping{false};
  std::thread worker;
  if (runtime) {
    worker = StartThread("callbacks", [&] {
      while (!stopping) {
        auto applied = runtime->callbacks->ApplyPending(100);
        if (!applied.ok())
          log::Get("app")->warn("callback worker: {}", applied.status().ToString());
        if (!applied.ok() || applied->applied + applied->failed + applied->ignored_own +
                                     applied->ignored_other + applied->skipped_stale ==
                                 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    });
  }
  std::unique_ptr<WorkOrderService> work_orders;
  if (runtime) {
    runtime->scheduler->Start();
    work_orders = std::make_unique<WorkOrderService>(
        *runtime, config.workers, Millis(config.schedules.order_poll_ms),
        Millis(config.schedules.renewal_scan_ms), &crash);
    work_orders->Start();
  }
  std::cout << "tandem serving on " << server.base_url() << std::endl;
  WaitForStopSignal(stop_signals);
  if (runtime) runtime->scheduler->Stop();
  server.Stop();
  if (work_orders) work_orders->Stop();  // running tasks finish; claimed ones are given back
  stopping = true;
  if (worker.joinable()) worker.join();
  return kExitOk;
}

int Sandbox(const std::vector<std::string>& args) {
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
      "billing-port", po::value<int>()->default_value(0), "Stripe emulator port (0: a free one)")(
      "billing-rate-limit", po::value<double>()->default_value(0),
      "Stripe emulator: requests per second before it answers 429 (0: no limit)")(
      "billing-faults", po::value<std::string>(), "JSON file of faults for the Stripe emulator");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("sandbox", args, desc, &vm, &code,
                "Serves the Salesforce emulator (OAuth: client id tandem-sandbox, client secret\n"
                "sandbox-secret) and the Stripe emulator (API key sk_test_sandbox) on loopback\n"
                "until SIGTERM or SIGINT. Prints one line per emulator: 'crm http://HOST:PORT'\n"
                "and 'billing http://HOST:PORT'."))
    return code;
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.host = vm["host"].as<std::string>();
  so.port = vm["crm-port"].as<int>();
  so.daily_api_max = vm["api-limit"].as<int64_t>();
  std::string error;
  if (vm.count("jwt-public-key"))
    so.jwt_public_key_pem = ReadFileOr(vm["jwt-public-key"].as<std::string>(), &error);
  if (vm.count("crm-schema"))
    so.schema_json = ReadFileOr(vm["crm-schema"].as<std::string>(), &error);
  if (!error.empty()) {
    std::cerr << "tandem sandbox: " << error << "\n";
    return kExitUsage;
  }
  const sigset_t stop_signals = BlockStopSignals();
  SystemClock clock;
  std::unique_ptr<sandbox::salesforce::SalesforceSandbox> crm;
  try {
    crm = std::make_unique<sandbox::salesforce::SalesforceSandbox>(so, clock);
  } catch (const std::exception& e) {
    std::cerr << "tandem sandbox: bad schema: " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("crm-faults")) {
    const std::string faults = ReadFileOr(vm["crm-faults"].as<std::string>(), &error);
    Status st = error.empty() ? crm->AddFaultsFromJson(faults) : Status::InvalidArgument(error);
    if (!st.ok()) {
      std::cerr << "tandem sandbox: --crm-faults: " << st.message() << "\n";
      return kExitUsage;
    }
  }
  if (Status st = crm->Start(); !st.ok()) {
    std::cerr << "tandem sandbox: " << st.ToString() << "\n";
    return kExitFailures;
  }
  sandbox::stripe::StripeSandboxOptions bo;
  bo.host = so.host;
  bo.port = vm["billing-port"].as<int>();
  bo.rate_limit_per_second = vm["billing-rate-limit"].as<double>();
  sandbox::stripe::StripeSandbox billing(bo, clock);
  if (vm.count("billing-faults")) {
    std::vector<sandbox::Fault> faults;
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
  std::cout << "crm " << crm->base_url() << "\n"
            << "billing " << billing.base_url() << std::endl;
  WaitForStopSignal(stop_signals);
  billing.Stop();
  crm->Stop();
  return kExitOk;
}

int Actions(const Globals& g, const std::string& verb, const std::vector<std::string>& args) {
  po::options_description desc(verb + " options");
  desc.add_options()("object", po::value<std::string>(), "object map name (account, contact)")(
      "ids", po::value<std::vector<std::string>>()->multitoken(), "CRM record ids");
  po::positional_options_description pos;
  pos.add("object", 1).add("ids", -1);
  po::variables_map vm;
  desc.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "tandem " << verb << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("help") || !vm.count("object")) {
    (vm.count("help") ? std::cout : std::cerr)
        << "Usage: tandem --config FILE " << verb << " OBJECT ID...\n\n"
        << (verb == "sync" ? "Syncs CRM records to billing; prints one JSON outcome per record.\n"
            : verb == "open"
                ? "Prints the billing system's URL of each record.\n"
                : "Prints each record's billing state and its differences from the CRM.\n")
        << "Exit 0 when every record succeeded, 1 when some failed, 2 for bad usage.\n\n"
        << desc;
    return vm.count("help") ? kExitOk : kExitUsage;
  }
  Config config;
  int exit_code = kExitOk;
  std::unique_ptr<Runtime> rt = CommandRuntime(g, verb, &config, &exit_code);
  if (!rt) return exit_code;
  const std::string object = vm["object"].as<std::string>();
  const auto ids =
      vm.count("ids") ? vm["ids"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (verb == "sync") {
    auto report = rt->actions->Sync(object, ids);
    if (!report.ok()) {
      std::cerr << "tandem sync: " << report.status().ToString() << "\n";
      return report.status().IsInvalidArgument() || report.status().IsNotFound() ? kExitUsage
                                                                                 : kExitFailures;
    }
    std::cout << SyncReportJson(object, *report) << "\n";
    return report->failed == 0 ? kExitOk : kExitFailures;
  }
  if (verb == "open") {
    auto open = rt->actions->Open(object, ids);
    if (!open.ok()) {
      std::cerr << "tandem open: " << open.status().ToString() << "\n";
      return kExitUsage;
    }
    int failed = 0;
    for (const auto& r : *open) {
      std::cout << r.crm_id << "\t" << (r.url.empty() ? r.error : r.url) << "\n";
      failed += !r.error.empty();
    }
    return failed == 0 ? kExitOk : kExitFailures;
  }
  auto query = rt->actions->Query(object, ids);
  if (!query.ok()) {
    std::cerr << "tandem query: " << query.status().ToString() << "\n";
    return kExitUsage;
  }
  int failed = 0;
  for (const auto& q : *query) {
    std::cout << q.crm_id << " → " << (q.billing_id.empty() ? "-" : q.billing_id)
              << (q.error.empty() ? "" : "  " + q.error) << "\n";
    for (const auto& d : q.diffs)
      std::cout << "  " << d.field << ": CRM '" << d.crm_value << "' / billing '" << d.billing_value
                << "'\n";
    failed += !q.error.empty();
  }
  return failed == 0 ? kExitOk : kExitFailures;
}

int MappingCheck(const Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("mapping check options");
  desc.add_options()("mapping", po::value<std::string>(),
                     "mapping file, also given as FILE (default: paths.mapping)");
  po::positional_options_description file;
  file.add("mapping", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("mapping check", args, desc, &vm, &code,
                "Validates the mapping file (FILE, --mapping FILE or paths.mapping) against the\n"
                "CRM's describe of each mapped object (the configured org, or the built-in\n"
                "sandbox schema when no CRM is configured) and the billing objects' fields.\n"
                "Exit 0 valid, 2 invalid.",
                file))
    return code;
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  const std::string path =
      vm.count("mapping") ? vm["mapping"].as<std::string>() : ResolveDataPath(config.mapping_path);
  auto mapping = LoadMappingFile(path, vm.count("mapping") ? "" : config.source);
  if (!mapping.ok()) {
    std::cerr << mapping.status().message() << "\n";
    return kExitUsage;
  }
  // Describe through the real client: the configured org, or an in-process sandbox.
  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random(1);
  connector::http::CallCounter counter;
  std::unique_ptr<sandbox::salesforce::SalesforceSandbox> local;
  connector::crm::salesforce::ConnectionOptions co;
  if (config.crm.remote.base_url.empty()) {
    local = std::make_unique<sandbox::salesforce::SalesforceSandbox>(
        sandbox::salesforce::SalesforceSandboxOptions{}, clock);
    if (Status st = local->Start(); !st.ok()) {
      std::cerr << "tandem mapping check: " << st.ToString() << "\n";
      return kExitFailures;
    }
    co.instance_url = local->base_url();
    co.oauth.client_id = "tandem-sandbox";
    co.oauth.client_secret = "sandbox-secret";
  } else {
    co.instance_url = config.crm.remote.base_url;
    co.login_url = config.crm.login_url;
    co.oauth = {config.crm.auth_flow,
                config.crm.client_id,
                config.crm.client_secret,
                config.crm.username,
                config.crm.private_key,
                config.crm.refresh_token,
                ""};
    co.api.api_version = config.crm.api_version;
  }
  connector::crm::salesforce::SalesforceConnection crm(co, {clock, sleeper, random, counter},
                                                       *g.redactor, sleeper);
  std::map<std::string, Json> describe;
  for (const auto& o : mapping->objects) {
    auto d = crm.client().Describe(o.crm);
    if (d.ok())
      describe[o.crm] = *d;
    else if (!d.status().IsNotFound()) {
      std::cerr << "tandem mapping check: describe " << o.crm << ": " << d.status().ToString()
                << "\n";
      return kExitFailures;
    }
  }
  const auto errors = mapping::Validate(*mapping, describe);
  for (const auto& e : errors) std::cerr << e << "\n";
  if (!errors.empty()) return kExitUsage;
  std::cout << mapping->source << ": OK (" << mapping->objects.size()
            << " object maps, checked against " << (local ? "the sandbox schema" : co.instance_url)
            << ")\n";
  return kExitOk;
}

int Token(const Globals& g, const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb != "create" && verb != "revoke" && verb != "list") {
    const bool help = verb == "--help" || verb == "-h";
    (help ? std::cout : std::cerr)
        << "Usage: tandem --config FILE token create NAME | revoke NAME | list\n\n"
           "API tokens for the CRM's quick actions (Authorization: Bearer TOKEN). A new token\n"
           "is printed once; the store keeps only its SHA-256.\n";
    return help ? kExitOk : kExitUsage;
  }
  if ((verb != "list" && args.size() != 2) || (verb == "list" && args.size() != 1)) {
    const size_t wanted = verb == "list" ? 1 : 2;
    std::cerr << "tandem token " << verb << ": "
              << (args.size() > wanted ? "unexpected argument '" + args[wanted] + "'"
                                       : std::string("give the token's NAME"))
              << "\n";
    return kExitUsage;
  }
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  auto store = OpenStore(config, /*migrate=*/true, nullptr);
  if (!store.ok()) {
    std::cerr << "tandem token: " << store.status().ToString() << "\n";
    return kExitFailures;
  }
  const int64_t now = ToEpochMillis(std::chrono::system_clock::now());
  if (verb == "list") {
    auto tokens = (*store)->ListApiTokens();
    if (!tokens.ok()) return kExitFailures;
    for (const auto& [name, created] : *tokens)
      std::cout << name << "\t" << FormatRfc3339(FromEpochMillis(created)) << "\n";
    return kExitOk;
  }
  if (verb == "revoke") {
    Status st = (*store)->RevokeApiToken(args[1], now);
    if (!st.ok()) {
      std::cerr << "tandem token revoke: " << st.message() << "\n";
      return st.IsNotFound() ? kExitUsage : kExitFailures;
    }
    std::cout << "revoked " << args[1] << "\n";
    return kExitOk;
  }
  auto token = NewApiToken();
  if (!token.ok()) return kExitFailures;
  Status st = (*store)->CreateApiToken(args[1], TokenHash(*token), now);
  if (!st.ok()) {
    std::cerr << "tandem token create: " << st.message() << "\n";
    return st.IsAlreadyExists() ? kExitUsage : kExitFailures;
  }
  std::cout << *token << "\n";
  return kExitOk;
}

int Catalog(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "sync") {
    const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    (help ? std::cout : std::cerr)
        << "Usage: tandem --config FILE catalog sync [--dry-run] [--full]\n";
    return help ? kExitOk : kExitUsage;
  }
  po::options_description desc("catalog sync options");
  desc.add_options()(
      "dry-run",
      "print the plan (create / update with the field diff / deactivate); write nothing")(
      "full", "compare the whole catalog, not only what changed since the last run");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub(
          "catalog sync", {args.begin() + 1, args.end()}, desc, &vm, &code,
          "Pulls products and prices changed in billing since the last run into Product2 and\n"
          "the standard price book (upsert by external id, 200 per call). Fields the mapping\n"
          "does not send to the CRM are never written; retired products are deactivated.\n"
          "Exit 0 when every write succeeded, 1 when some failed."))
    return code;
  Config config;
  int exit_code = kExitOk;
  std::unique_ptr<Runtime> rt = CommandRuntime(g, "catalog sync", &config, &exit_code);
  if (!rt) return exit_code;
  catalog_sync::CatalogSync sync(
      {rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping, rt->clock});
  auto summary = sync.Run({vm.count("dry-run") > 0, vm.count("full") > 0});
  if (!summary.ok()) {
    std::cerr << "tandem catalog sync: " << summary.status().ToString() << "\n";
    return kExitFailures;
  }
  std::cout << catalog_sync::DescribePlan(summary->plan);
  if (vm.count("dry-run")) {
    std::cout << "dry run: nothing written\n";
    return kExitOk;
  }
  for (const auto& e : summary->errors) std::cerr << e << "\n";
  std::cout << summary->written << " records written, " << summary->failed << " failed\n";
  return summary->failed == 0 ? kExitOk : kExitFailures;
}

int MigrateStatus(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout)
        << "Usage: tandem --config FILE migrate status JOB\n\n"
           "Prints a migration job's state, counts, checkpoint and result files.\n";
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args.size() > 1) {
    std::cerr << "tandem migrate status: unexpected argument '" << args[1] << "' (one JOB)\n";
    return kExitUsage;
  }
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  auto store = OpenStore(config, /*migrate=*/true, nullptr);
  if (!store.ok()) {
    std::cerr << "tandem migrate status: " << store.status().ToString() << "\n";
    return kExitFailures;
  }
  auto job = migration::MigrationStatus(**store, args[0]);
  if (!job.ok()) {
    std::cerr << "tandem migrate status: " << job.status().message() << "\n";
    return job.status().IsNotFound() ? kExitUsage : kExitFailures;
  }
  const Json params = Json::Parse(job->params).value_or(Json());
  const Json cp = Json::Parse(job->checkpoint).value_or(Json());
  std::cout << "job " << job->id << ": " << job->state << "\n"
            << "  " << params["object"].as_string() << " from " << params["file"].as_string()
            << " (" << params["direction"].as_string()
            << (params["dry_run"].as_bool() ? ", dry run" : "") << ")\n"
            << "  rows " << job->processed << " of " << job->total << " done, " << job->failed
            << " failed\n"
            << "  files " << params["output"].as_string() << "/success.csv, error.csv\n"
            << "  counts " << cp["counts"].Dump() << "\n";
  if (job->state != "done")
    std::cout << "  resume: tandem migrate --object " << params["object"].as_string() << " --file "
              << params["file"].as_string() << " --direction " << params["direction"].as_string()
              << " --resume " << job->id << "\n";
  return kExitOk;
}

int Migrate(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "status") return MigrateStatus(g, {args.begin() + 1, args.end()});
  po::options_description desc("migrate options");
  desc.add_options()("object", po::value<std::string>(), "object map: account | contact")(
      "file", po::value<std::string>(), "the input CSV (RFC 4180; UTF-8, a BOM is fine)")(
      "mapping", po::value<std::string>(),
      "a Data Loader .sdl column map (CsvColumn=Field); default: columns named as CRM fields")(
      "direction", po::value<std::string>()->default_value("crm-to-billing"),
      "crm-to-billing | billing-to-crm | link-only")(
      "dry-run", "validate, match and write the result files; change nothing")(
      "resume", po::value<std::string>(), "continue job JOB after a crash or Ctrl-C")(
      "batch-size", po::value<int>()->default_value(5000), "rows per chunk and checkpoint")(
      "concurrency", po::value<int>()->default_value(4), "billing writes in flight")(
      "output", po::value<std::string>(),
      "folder for success.csv and error.csv "
      "(default migrations/JOB)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("migrate", args, desc, &vm, &code,
                "Step 7, the initial load: every row validated and mapped, matched against both\n"
                "systems (CRM id / billing id, then e-mail, domain, name) so that nothing is\n"
                "created twice, then written (billing creates keyed per job and row, CRM creates\n"
                "and link fields through Bulk API 2.0). A checkpoint after every chunk: --resume\n"
                "continues a killed or interrupted job. success.csv and error.csv hold every row,\n"
                "in input order.\n"
                "Also: tandem migrate status JOB.\n"
                "Exit 0 when every row succeeded, 1 when some failed (or the job stopped), 2 for\n"
                "bad usage."))
    return code;
  if (!vm.count("object") || !vm.count("file")) {
    std::cerr << "tandem migrate: give --object and --file (see --help)\n";
    return kExitUsage;
  }
  auto direction = migration::ParseDirection(vm["direction"].as<std::string>());
  if (!direction.ok()) {
    std::cerr << "tandem migrate: " << direction.status().message() << "\n";
    return kExitUsage;
  }
  Config config;
  int exit_code = kExitOk;
  std::unique_ptr<Runtime> rt = CommandRuntime(g, "migrate", &config, &exit_code);
  if (!rt) return exit_code;
  migration::MigrationOptions options;
  options.object = vm["object"].as<std::string>();
  options.file = vm["file"].as<std::string>();
  if (vm.count("mapping")) options.column_map = vm["mapping"].as<std::string>();
  options.direction = *direction;
  options.dry_run = vm.count("dry-run") > 0;
  if (vm.count("resume")) options.resume_job = vm["resume"].as<std::string>();
  if (vm.count("output")) options.output_dir = vm["output"].as<std::string>();
  options.batch_size = static_cast<size_t>(std::max(0, vm["batch-size"].as<int>()));
  options.concurrency = vm["concurrency"].as<int>();

  // Ctrl-C or SIGTERM: the chunk in hand is finished and checkpointed, then the job stops.
  std::atomic<bool> stop{false}, finished{false};
  options.stop = &stop;
  const sigset_t signals = BlockStopSignals();
  std::thread watcher = StartThread("migrate-signals", [&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!finished.load()) {
      if (sigtimedwait(&signals, nullptr, &tick) > 0) {
        std::cerr << "\nstopping after the current chunk (the job can be resumed)\n";
        stop = true;
      }
    }
  });
  const char* crash_spec = std::getenv("TANDEM_CRASH_AT");
  CrashPoints crash(crash_spec ? crash_spec : "");
  SeededRandom random(static_cast<uint64_t>(ToEpochMillis(rt->clock.Now())) ^
                      static_cast<uint64_t>(::getpid()));
  migration::Migrator migrator({rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping,
                                rt->clock, random, &crash});
  migration::ProgressReporter reporter(std::cerr, ::isatty(STDERR_FILENO) == 1, rt->clock);
  auto summary = migrator.Run(options, [&](const migration::MigrationProgress& p) {
    reporter.Update(p.rows_done, p.total, p.failed, p.done_before);
  });
  reporter.Finish();
  finished = true;
  watcher.join();
  if (!summary.ok()) {
    std::cerr << "tandem migrate: " << summary.status().ToString() << "\n";
    return summary.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  const auto& s = *summary;
  std::cout << "job " << s.job_id << " " << s.state << (options.dry_run ? " (dry run)" : "") << ": "
            << s.rows << " rows, " << s.succeeded << " succeeded, " << s.failed << " failed\n"
            << "  created in billing " << s.created_billing << ", created in the CRM "
            << s.created_crm << ", matched " << s.matched << ", already linked " << s.already_linked
            << "\n"
            << "  invalid " << s.invalid << ", duplicates in the file " << s.duplicates
            << ", ambiguous " << s.ambiguous << ", unmatched " << s.unmatched << ", write failures "
            << s.write_failed << "\n"
            << "  Bulk API 2.0 jobs " << s.bulk_jobs << "\n"
            << "  " << s.output_dir << "/success.csv\n"
            << "  " << s.output_dir << "/error.csv\n";
  if (s.state != "done")
    std::cout << "  resume with: tandem migrate --object " << options.object << " --file "
              << options.file << " --direction " << migration::DirectionName(options.direction)
              << " --resume " << s.job_id << "\n";
  return s.failed == 0 && s.state == "done" ? kExitOk : kExitFailures;
}

int WorkOrder(const Globals& g, const std::vector<std::string>& args) {
  const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
  if (args.size() < 2 || (args[0] != "plan" && args[0] != "run") || args[1] == "--help") {
    (help || (args.size() == 2 && args[1] == "--help") ? std::cout : std::cerr)
        << "Usage: tandem --config FILE workorder <plan|run> ORDER_ID\n\n"
           "  plan   print the tasks the order's templates give, without running them\n"
           "  run    plan, enqueue and run the order's tasks now (as `serve` would), then\n"
           "         print each task's result; exit 0 when the order completed, 1 when it\n"
           "         failed (the reason is also on the Order in the CRM)\n";
    return help || (args.size() == 2 && args[1] == "--help") ? kExitOk : kExitUsage;
  }
  if (args.size() > 2) {
    std::cerr << "tandem workorder " << args[0] << ": unexpected argument '" << args[2]
              << "' (one ORDER_ID)\n";
    return kExitUsage;
  }
  Config config;
  int exit_code = kExitOk;
  std::unique_ptr<Runtime> rt = CommandRuntime(g, "workorder", &config, &exit_code);
  if (!rt) return exit_code;
  Runtime& r = *rt;
  const std::string order_id = args[1];
  if (args[0] == "plan") {
    auto order = workorders::ReadOrder(r.crm->client(), order_id);
    if (!order.ok()) {
      std::cerr << "tandem workorder plan: " << order.status().ToString() << "\n";
      return order.status().IsInvalidArgument() || order.status().IsNotFound() ? kExitUsage
                                                                               : kExitFailures;
    }
    auto plan = workorders::PlanOrder(*order, r.templates);
    if (!plan.ok()) {
      std::cerr << "tandem workorder plan: " << plan.status().message() << "\n";
      return kExitFailures;
    }
    std::cout << "order " << order->number << " (" << order->id << "), " << plan->size()
              << " tasks:\n"
              << workorders::DescribePlan(*plan);
    return kExitOk;
  }
  workorders::EngineOptions eo;
  eo.worker_id = "cli:" + std::to_string(::getpid());
  eo.lease = Millis(config.workers.lease_ms);
  workorders::Engine engine(
      {r.crm->client(), r.billing->billing(), *r.store, r.mapping, r.clock, *r.actions},
      r.templates, eo);
  auto enq = engine.Enqueue(order_id);
  if (!enq.ok()) {
    std::cerr << "tandem workorder run: " << enq.status().ToString() << "\n";
    return enq.status().IsInvalidArgument() || enq.status().IsNotFound() ? kExitUsage
                                                                         : kExitFailures;
  }
  workorders::OrderState state;
  for (;;) {
    auto ran = engine.RunOnce();
    if (!ran.ok()) {
      std::cerr << "tandem workorder run: " << ran.status().ToString() << "\n";
      return kExitFailures;
    }
    state = engine.State(order_id).value_or(workorders::OrderState{});
    if (state.status == "Completed" || state.status == "Failed") break;
    // Waiting on a retry (or on another process holding a task): look again shortly.
    if (ran->ran == 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto tasks = r.store->TasksInGroup(order_id);
  if (tasks.ok())
    for (const auto& t : *tasks)
      std::cout << "  " << t.kind << ": " << t.state << " (" << t.attempts << " attempt"
                << (t.attempts == 1 ? "" : "s") << ") "
                << (t.state == "done" ? t.result : t.last_error) << "\n";
  std::cout << "order " << order_id << ": " << state.status << ", " << state.done << " of "
            << state.total << " tasks done" << (state.error.empty() ? "" : "; " + state.error)
            << "\n";
  return state.status == "Completed" ? kExitOk : kExitFailures;
}

int Reconcile(const Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("reconcile options");
  desc.add_options()("object", po::value<std::vector<std::string>>()->composing(),
                     "what to compare (repeatable): a customer or subscription object map "
                     "(account, contact, subscription) or invoice (with payments); default: all")(
      "fix",
      "repair what each object map's `repair:` list allows, through the same actions as a "
      "sync; invoices and payments are always repaired")(
      "report", po::value<std::string>()->default_value("reconcile.csv"),
      "CSV report, a row per difference (and per repair); \"\" for none")(
      "examples", po::value<int>()->default_value(5), "examples per kind in the summary");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("reconcile", args, desc, &vm, &code,
                "Compares the CRM and billing record by record over every link, and finds the\n"
                "records on either side that no link knows: missing_in_billing, missing_in_crm,\n"
                "unlinked, field_drift (per the mapping), orphaned_link; and invoices and\n"
                "payments billing has that the CRM lacks. Streams: constant memory, API calls\n"
                "in batches. Exit 0 when nothing differs (or all was fixed), 1 when differences\n"
                "remain or the run could not finish, 2 for bad usage or config."))
    return code;
  Config config;
  int exit_code = kExitOk;
  std::unique_ptr<Runtime> rt = CommandRuntime(g, "reconcile", &config, &exit_code);
  if (!rt) return exit_code;
  Runtime& r = *rt;
  auto report = reconcile::Report::Open(vm["report"].as<std::string>(), vm["examples"].as<int>());
  if (!report.ok()) {
    std::cerr << "tandem reconcile: " << report.status().message() << "\n";
    return kExitUsage;
  }
  reconcile::ReconcileOptions options;
  if (vm.count("object")) options.objects = vm["object"].as<std::vector<std::string>>();
  options.fix = vm.count("fix") > 0;
  reconcile::Reconciler reconciler(
      {r.crm->client(), r.billing->billing(), *r.store, r.mapping, r.clock}, *r.actions, **report);
  const Status st = reconciler.Run(options);
  const Status closed = (*report)->Close();
  std::cout << (*report)->Summary(options.fix);
  if (!vm["report"].as<std::string>().empty())
    std::cout << "report: " << vm["report"].as<std::string>() << "\n";
  if (!st.ok() || !closed.ok()) {
    std::cerr << "tandem reconcile: " << (st.ok() ? closed : st).ToString() << "\n";
    return st.IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  return (*report)->remaining() == 0 ? kExitOk : kExitFailures;
}

int Demo(const Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("demo options");
  desc.add_options()("workdir", po::value<std::string>()->default_value("demo-output"),
                     "folder for the demo's database and output files");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("demo", args, desc, &vm, &code,
                "Runs the end-to-end demo on the embedded default: SQLite and the sandbox."))
    return code;
  DemoOptions options{vm["workdir"].as<std::string>(), {}, g.redactor};
  log::ParseFormat(g.log_format, &options.log.format);
  log::ParseLevel(g.log_level, &options.log.level);
  return RunDemo(options);
}

}  // namespace

int RunCli(const std::vector<std::string>& args) {
  InitOpenSsl();
  Globals g;
  // Global options come before the command; everything from the command on is its own.
  size_t i = 0;
  std::vector<std::string> global_args;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') break;
    global_args.push_back(a);
    if ((a == "--config" || a == "-c" || a == "--log-format" || a == "--log-level") &&
        i + 1 < args.size())
      global_args.push_back(args[++i]);
  }
  po::options_description globals = GlobalOptions();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(global_args).options(globals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "tandem: " << e.what() << "\n\n" << kUsage << "\n" << globals;
    return kExitUsage;
  }
  if (vm.count("version")) {
    std::cout << "tandem " << kVersion << "\n";
    return kExitOk;
  }
  if (vm.count("help") || i >= args.size()) {
    (i >= args.size() && !vm.count("help") ? std::cerr : std::cout) << kUsage << "\n" << globals;
    return vm.count("help") ? kExitOk : kExitUsage;
  }
  if (vm.count("config")) g.config_path = vm["config"].as<std::string>();
  g.log_format = vm["log-format"].as<std::string>();
  g.log_level = vm["log-level"].as<std::string>();

  log::Options lo;
  if (!log::ParseFormat(g.log_format, &lo.format)) {
    std::cerr << "tandem: --log-format must be text or json, got '" << g.log_format << "'\n";
    return kExitUsage;
  }
  if (!log::ParseLevel(g.log_level, &lo.level)) {
    std::cerr << "tandem: --log-level must be trace, debug, info, warn, error or off\n";
    return kExitUsage;
  }
  log::Setup(lo, g.redactor);

  const std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if (command == "serve") return Serve(g, rest);
  if (command == "db") return Db(g, rest);
  if (command == "demo") return Demo(g, rest);
  if (command == "sandbox") return Sandbox(rest);
  if (command == "token") return Token(g, rest);
  if (command == "catalog") return Catalog(g, rest);
  if (command == "migrate") return Migrate(g, rest);
  if (command == "workorder") return WorkOrder(g, rest);
  if (command == "reconcile") return Reconcile(g, rest);
  if (command == "sync" || command == "open" || command == "query")
    return Actions(g, command, rest);
  if (command == "mapping") {
    if (!rest.empty() && rest[0] == "check") return MappingCheck(g, {rest.begin() + 1, rest.end()});
    std::cerr << "Usage: tandem [--config FILE] mapping check [FILE | --mapping FILE]\n";
    return (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) ? kExitOk : kExitUsage;
  }
  if (command == "config") {
    if (!rest.empty() && rest[0] == "check") return ConfigCheck(g, {rest.begin() + 1, rest.end()});
    std::cerr << "Usage: tandem [--config FILE] config check\n";
    return (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) ? kExitOk : kExitUsage;
  }
  std::cerr << "tandem: unknown command '" << command << "'\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace tandem::app
