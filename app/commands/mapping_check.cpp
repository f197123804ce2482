// `tandem mapping check`: the mapping file against the CRM's describe and the billing objects.
#include <iostream>
#include <map>

#include "app/cli.h"
#include "app/commands/command.h"
#include "sandbox/salesforce/salesforce_sandbox.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

int MappingCheck(const Globals& g, const Args& args) {
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
  std::unique_ptr<sandbox::salesforce::SalesforceSandbox> local;
  if (config.crm.remote.base_url.empty()) {
    local = std::make_unique<sandbox::salesforce::SalesforceSandbox>(
        sandbox::salesforce::SalesforceSandboxOptions{}, clock);
    if (Status st = local->Start(); !st.ok()) {
      std::cerr << "tandem mapping check: " << st.ToString() << "\n";
      return kExitFailures;
    }
  }
  const auto crm = ConnectCrmForDescribe(config, local ? local->base_url() : "", *g.redactor);
  std::map<std::string, Json> describe;
  for (const auto& o : mapping->objects) {
    auto d = crm->crm->client().Describe(o.crm);
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
            << " object maps, checked against "
            << (local ? "the sandbox schema" : crm->instance_url) << ")\n";
  return kExitOk;
}

}  // namespace

int MappingCommand(const Globals& g, const Args& args) {
  return CheckOnly(g, args, MappingCheck,
                   "Usage: tandem [--config FILE] mapping check [FILE | --mapping FILE]\n");
}

}  // namespace tandem::app::commands
