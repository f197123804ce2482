// The `tandem` binary: the only composition root (the wiring is app/runtime.cpp; app/cli.cpp
// dispatches the commands in app/commands/).
#include <malloc.h>

#include <exception>
#include <iostream>

#include "app/cli.h"
#include "connector/http/pplx_drain.h"

int main(int argc, char** argv) {
  // Tandem waits on the network, not the CPU: two malloc arenas serve its threads as well as
  // glibc's default of eight per core, and keep a long migration's memory flat (measured:
  // 100,000 rows peaked at 61 MiB with the default, 48 MiB with two).
  mallopt(M_ARENA_MAX, 2);
  tandem::connector::http::InstallPplxTracking();
  try {
    const int code = tandem::app::RunCli(std::vector<std::string>(argv + 1, argv + argc));
    // cpprest's last continuations (a reply's completion, a closed connection) run before
    // the process ends, not never.
    (void)tandem::connector::http::WaitForPplxIdle(tandem::Millis(5'000));
    return code;
  } catch (const std::exception& e) {
    // Only broken invariants get here; expected failures are Status values.
    std::cerr << "tandem: internal error: " << e.what() << "\n";
    return tandem::app::kExitFailures;
  }
}
