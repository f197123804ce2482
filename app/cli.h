// The `tandem` command line: global options, subcommands, exit codes.
//   0  success
//   1  the work ran and something in it failed (a record, a task, a check)
//   2  bad usage or bad configuration: nothing was done
// Thread-safety: called once from main.
#pragma once

#include <string>
#include <vector>

namespace tandem::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailures = 1;
inline constexpr int kExitUsage = 2;

int RunCli(const std::vector<std::string>& args);

}  // namespace tandem::app
