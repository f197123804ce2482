// Runs the `tandem` binary as an operator would (through sh), capturing its output and how
// it ended — exit code, or the signal that killed it.
#pragma once

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace tandem::testing {

struct ProcessRun {
  int exit_code = -1;
  int signal = 0;
  std::string out;  // stdout and stderr together
};

// `env` is prefixed to the command line ("TANDEM_CRASH_AT=x").
inline ProcessRun RunTandem(const std::string& binary, const std::string& args,
                            const std::string& env = "") {
  const std::string cmd = env + " " + binary + " " + args + " 2>&1";
  ProcessRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  // sh reports a killed child as 128 + signal.
  if (r.exit_code > 128) r.signal = r.exit_code - 128;
  return r;
}

}  // namespace tandem::testing
