// `tandem demo`: the end-to-end walk-through (app/demo.h) from the command line.
#include "app/demo.h"

#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"
#include "util/log.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int Demo(const Globals& g, const Args& args) {
  po::options_description desc("demo options");
  desc.add_options()("workdir", po::value<std::string>()->default_value("demo-output"),
                     "folder for the demo's database and output files")(
      "billing", po::value<std::string>()->default_value("stripe"),
      "the billing system's emulator: stripe | gotransverse");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("demo", args, desc, &vm, &code,
                "Runs the end-to-end demo on the embedded default: SQLite and the sandbox."))
    return code;
  DemoOptions options{
      vm["workdir"].as<std::string>(), vm["billing"].as<std::string>(), {}, g.redactor};
  if (options.billing != "stripe" && options.billing != "gotransverse") {
    std::cerr << "tandem demo: --billing: expected stripe or gotransverse, got '" << options.billing
              << "'\n";
    return kExitUsage;
  }
  log::ParseFormat(g.log_format, &options.log.format);
  log::ParseLevel(g.log_level, &options.log.level);
  return RunDemo(options);
}

}  // namespace tandem::app::commands
