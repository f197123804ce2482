#include "app/commands/command.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/cli.h"
#include "util/log.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

// The first word in `args` that is neither an option nor an option's value (for the message).
std::string UnexpectedArgument(const Args& args, const po::options_description& desc,
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

}  // namespace

bool ParseSub(const std::string& name, const Args& args, po::options_description& desc,
              po::variables_map* vm, int* exit_code, const char* summary,
              const po::positional_options_description& positional) {
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

int ExitCodeOf(const Status& s) {
  return s.IsInvalidArgument() || s.IsNotFound() || s.IsConflict() ? kExitUsage : kExitFailures;
}

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

std::unique_ptr<Runtime> CommandRuntime(const Globals& g, const std::string& command,
                                        int* exit_code, Config* config) {
  Config loaded;
  if (!config) config = &loaded;
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

std::unique_ptr<store::Store> CommandStore(const Globals& g, const std::string& command,
                                           int* exit_code) {
  Config config;
  if (!LoadOrDefault(g, &config)) {
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto store = OpenStore(config, /*migrate=*/true, nullptr);
  if (!store.ok()) {
    std::cerr << "tandem " << command << ": " << store.status().ToString() << "\n";
    *exit_code = kExitFailures;
    return nullptr;
  }
  return std::move(store).value();
}

std::string CrashSpecFromEnv() {
  const char* crash_spec = std::getenv("TANDEM_CRASH_AT");
  return crash_spec ? crash_spec : "";
}

sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
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

int CheckOnly(const Globals& g, const Args& args, int (*check)(const Globals&, const Args&),
              const char* usage) {
  if (!args.empty() && args[0] == "check") return check(g, {args.begin() + 1, args.end()});
  std::cerr << usage;
  return (!args.empty() && (args[0] == "--help" || args[0] == "-h")) ? kExitOk : kExitUsage;
}

}  // namespace tandem::app::commands
