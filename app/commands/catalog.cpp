// `tandem catalog sync`: the product catalog from billing into the CRM.
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int Catalog(const Globals& g, const Args& args) {
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
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "catalog sync", &exit_code);
  if (!rt) return exit_code;
  // The runtime's catalog sync: the price books the config names get their entries too.
  auto summary = rt->catalog->Run({vm.count("dry-run") > 0, vm.count("full") > 0});
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

}  // namespace tandem::app::commands
