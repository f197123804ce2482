// The `tandem` binary: the only composition root (see app/cli.cpp).
#include <exception>
#include <iostream>

#include "app/cli.h"

int main(int argc, char** argv) {
  try {
    return tandem::app::RunCli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    // Only broken invariants get here; expected failures are Status values.
    std::cerr << "tandem: internal error: " << e.what() << "\n";
    return tandem::app::kExitFailures;
  }
}
