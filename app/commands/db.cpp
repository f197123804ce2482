// `tandem db migrate | status`: the store's schema version, and applying pending migrations.
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"
#include "store/options.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int Db(const Globals& g, const Args& args) {
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
  if (vm.count("store")) {
    config.store.url = vm["store"].as<std::string>();
    // Every user of the machine can read a command line (ps, /proc).
    if (store::StoreUrlHasPassword(config.store.url)) {
      std::cerr << "tandem db " << sub
                << ": --store: a password on the command line is visible to every user of the "
                   "machine; use store.password (env:NAME) in the config or PGPASSWORD\n";
      return kExitUsage;
    }
  }

  CrashPoints crash(CrashSpecFromEnv());
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

}  // namespace tandem::app::commands
