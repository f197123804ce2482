// `tandem config check`: validates the config file and its secret references; starts nothing.
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

int ConfigCheck(const Globals& g, const Args& args) {
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

}  // namespace

int ConfigCommand(const Globals& g, const Args& args) {
  return CheckOnly(g, args, ConfigCheck, "Usage: tandem [--config FILE] config check\n");
}

}  // namespace tandem::app::commands
