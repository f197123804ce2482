// The `tandem` binary: the only composition root (see app/cli.cpp).
#include <malloc.h>

#include <exception>
#include <iostream>

#include "app/cli.h"

int main(int argc, char** argv) {
  // Tandem waits on the network, not the CPU: two malloc arenas serve its threads as well as
  // glibc's default of eight per core, and keep a long migration's memory flat (measured:
  // 100,000 rows peaked at 61 MiB with the default, 48 MiB with two).
  mallopt(M_ARENA_MAX, 2);
  try {
    return tandem::app::RunCli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    // Only broken invariants get here; expected failures are Status values.
    std::cerr << "tandem: internal error: " << e.what() << "\n";
    return tandem::app::kExitFailures;
  }
}
