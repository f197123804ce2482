// `tandem demo`: the end-to-end walk-through on the embedded default (SQLite + sandbox).
// Thread-safety: runs once on the calling thread.
#pragma once

#include <string>

namespace tandem::app {

struct DemoOptions {
  std::string workdir;  // where the demo's SQLite file and outputs go
};

// Returns an exit code (0 when every step passed).
int RunDemo(const DemoOptions& options);

}  // namespace tandem::app
