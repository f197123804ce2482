#include "app/cli.h"

#include <iostream>

#include <boost/program_options.hpp>

#include "app/commands/command.h"
#include "util/log.h"
#include "util/openssl_init.h"

namespace tandem::app {
namespace po = boost::program_options;

namespace {

using commands::Args;
using commands::Globals;

constexpr const char* kVersion = "0.1.0";

struct Command {
  const char* name;
  const char* help;  // its lines in the usage's command list ("" for none)
  int (*run)(const Globals& g, const Args& args);
};

// Every command, in the order the usage lists them.
constexpr Command kCommands[] = {
    {"serve", "  serve            run the HTTP API, the scheduler and the workers\n",
     commands::Serve},
    {"config", "  config check     validate the config file (and resolve its secret references)\n",
     commands::ConfigCommand},
    {"db",
     "  db migrate       apply pending schema migrations\n"
     "  db status        show the schema version and tables\n",
     commands::Db},
    {"mapping", "  mapping check    validate the mapping file against the CRM's describe\n",
     commands::MappingCommand},
    {"sync", "  sync OBJECT ID…  sync CRM records to billing (also: open, query)\n",
     [](const Globals& g, const Args& args) { return commands::Actions(g, "sync", args); }},
    {"open", "",
     [](const Globals& g, const Args& args) { return commands::Actions(g, "open", args); }},
    {"query", "",
     [](const Globals& g, const Args& args) { return commands::Actions(g, "query", args); }},
    {"token", "  token create|revoke|list   API tokens for the CRM's quick actions\n",
     commands::Token},
    {"catalog", "  catalog sync     pull the product catalog from billing into the CRM\n",
     commands::Catalog},
    {"migrate", "  migrate          bulk initial load from CSV (step 7); migrate status JOB\n",
     commands::Migrate},
    {"workorder",
     "  workorder VERB  one order's automation (plan, run) and recovery (list, show,\n             "
     "     retry, restart, dismiss, complete) (steps 4-5)\n",
     commands::WorkOrder},
    {"events", "  events list|replay|dismiss  billing events that failed to apply\n",
     commands::Events},
    {"history", "  history ID       what Tandem did to a record (CRM or billing id)\n",
     commands::History},
    {"reconcile",
     "  reconcile        compare the CRM and billing record by record; --fix repairs\n",
     commands::Reconcile},
    {"demo", "  demo             run the end-to-end demo on SQLite and the sandbox\n",
     commands::Demo},
    {"sandbox",
     "  sandbox          serve the Salesforce (and billing) emulators for tests and demos\n",
     commands::Sandbox},
};

std::string Usage() {
  std::string usage =
      "Usage: tandem [global options] <command> [command options]\n"
      "(--config/-c, --log-format and --log-level may also follow the command)\n"
      "\n"
      "Tandem keeps a Salesforce org and a billing system in step along quote-to-cash.\n"
      "\n"
      "Commands:\n";
  for (const Command& c : kCommands) usage += c.help;
  return usage +
         "\n"
         "Run 'tandem <command> --help' for a command's options.\n"
         "Exit codes: 0 ok, 1 failures in the work, 2 bad usage or config.\n";
}

po::options_description GlobalOptions() {
  po::options_description d("Global options");
  d.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value<std::string>(), "appliance config file (YAML)")(
      "log-format", po::value<std::string>()->default_value("text"), "text | json")(
      "log-level", po::value<std::string>()->default_value("info"),
      "trace | debug | info | warn | error | off");
  return d;
}

bool TakesValue(const std::string& a) {
  return a == "--config" || a == "-c" || a == "--log-format" || a == "--log-level";
}

bool IsGlobalWithValue(const std::string& a) {
  for (const char* name : {"--config=", "--log-format=", "--log-level="})
    if (a.rfind(name, 0) == 0) return true;
  return false;
}

// Global options come before the command, and --config / --log-format / --log-level are also
// taken after it (`tandem migrate list --config tandem.yaml`, as people type them); the rest
// is the command's own. After a `--` nothing is taken.
void SplitArgs(const std::vector<std::string>& args, std::vector<std::string>* global_args,
               size_t* command_at, Args* rest) {
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') break;
    global_args->push_back(a);
    if (TakesValue(a) && i + 1 < args.size()) global_args->push_back(args[++i]);
  }
  *command_at = i;
  bool verbatim = false;
  for (size_t j = i + 1; j < args.size(); ++j) {
    const std::string& a = args[j];
    if (a == "--") verbatim = true;
    if (!verbatim && TakesValue(a) && j + 1 < args.size()) {
      global_args->push_back(a);
      global_args->push_back(args[++j]);
    } else if (!verbatim && IsGlobalWithValue(a)) {
      global_args->push_back(a);
    } else {
      rest->push_back(a);
    }
  }
}

}  // namespace

int RunCli(const std::vector<std::string>& args) {
  InitOpenSsl();
  Globals g;
  std::vector<std::string> global_args;
  size_t i = 0;
  Args rest;
  SplitArgs(args, &global_args, &i, &rest);
  po::options_description globals = GlobalOptions();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(global_args).options(globals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "tandem: " << e.what() << "\n\n" << Usage() << "\n" << globals;
    return kExitUsage;
  }
  if (vm.count("version")) {
    std::cout << "tandem " << kVersion << "\n";
    return kExitOk;
  }
  if (vm.count("help") || i >= args.size()) {
    (i >= args.size() && !vm.count("help") ? std::cerr : std::cout) << Usage() << "\n" << globals;
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
  for (const Command& c : kCommands)
    if (command == c.name) return c.run(g, rest);
  std::cerr << "tandem: unknown command '" << command << "'\n\n" << Usage();
  return kExitUsage;
}

}  // namespace tandem::app
