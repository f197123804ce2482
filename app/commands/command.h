// What every `tandem` command shares: the global options it runs under, its option parsing
// (help and usage errors alike for all), loading the config and asking the wiring
// (app/runtime.h) for the store or the runtime, and waiting for SIGTERM or SIGINT. One file
// per command under app/commands/ implements the functions declared at the end; app/cli.cpp
// dispatches to them.
// Thread-safety: called from the main thread.
#pragma once

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "app/config.h"
#include "app/runtime.h"
#include "store/store.h"
#include "util/crash_point.h"
#include "util/redact.h"

namespace tandem::app::commands {

struct Globals {
  std::string config_path;
  std::string log_format = "text";
  std::string log_level = "info";
  RedactorPtr redactor = std::make_shared<Redactor>();
};

using Args = std::vector<std::string>;

// Parses a subcommand's options; prints help and returns false when asked or on error.
// An argument the command does not take is a usage error, never silently ignored: without
// `positional`, any word that is not an option is refused.
bool ParseSub(const std::string& name, const Args& args,
              boost::program_options::options_description& desc,
              boost::program_options::variables_map* vm, int* exit_code, const char* summary,
              const boost::program_options::positional_options_description& positional = {});

// Loads the config named by --config (or defaults when none was given).
bool LoadOrDefault(const Globals& g, Config* out);

// Loads the config this command requires (into *config when given) and builds the runtime.
// On failure prints why, sets *exit_code (2 bad usage or config, 1 a store or remote failure)
// and returns null.
std::unique_ptr<Runtime> CommandRuntime(const Globals& g, const std::string& command,
                                        int* exit_code, Config* config = nullptr);

// Loads the config (or defaults) and opens its store, migrated. On failure prints why, sets
// *exit_code (2 bad config, 1 the store failed) and returns null.
std::unique_ptr<store::Store> CommandStore(const Globals& g, const std::string& command,
                                           int* exit_code);

// The exit code of a refused call: 2 when the caller's request was wrong (bad input, unknown
// id, a conflict with the record's state), 1 when the store or a remote failed.
int ExitCodeOf(const Status& refused);

// The crash point tests arm with TANDEM_CRASH_AT (workorders.before_task#N, ...); none
// when it is not set.
std::string CrashSpecFromEnv();

// Blocks SIGTERM and SIGINT in every thread started after it, so that WaitForStopSignal
// alone receives them.
sigset_t BlockStopSignals();

int WaitForStopSignal(const sigset_t& stop_signals);

std::string ReadFileOr(const std::string& path, std::string* error);

// A command whose one subcommand is `check` (config check, mapping check): runs `check` on
// the words after it; otherwise prints `usage` to stderr (exit 0 for --help, else 2).
int CheckOnly(const Globals& g, const Args& args, int (*check)(const Globals&, const Args&),
              const char* usage);

// The commands: each returns the exit code (app/cli.h).
int ConfigCommand(const Globals& g, const Args& args);  // config check
int Db(const Globals& g, const Args& args);             // db migrate | status
int Serve(const Globals& g, const Args& args);          // serve
int Sandbox(const Globals& g, const Args& args);        // sandbox
int Actions(const Globals& g, const std::string& verb,  // sync | open | query
            const Args& args);
int MappingCommand(const Globals& g, const Args& args);  // mapping check
int Token(const Globals& g, const Args& args);           // token create | revoke | list
int Catalog(const Globals& g, const Args& args);         // catalog sync
int Migrate(const Globals& g, const Args& args);         // migrate, migrate status
int WorkOrder(const Globals& g, const Args& args);       // workorder plan | run | list | ...
int Events(const Globals& g, const Args& args);
int History(const Globals& g,
            const Args& args);  // history ID          // events list | replay | dismiss
int Reconcile(const Globals& g, const Args& args);  // reconcile
int Demo(const Globals& g, const Args& args);       // demo

}  // namespace tandem::app::commands
