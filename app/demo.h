// `tandem demo`: the end-to-end walk-through on the embedded default (SQLite + sandbox).
// Thread-safety: runs once on the calling thread.
#pragma once

#include <string>

#include "util/log.h"
#include "util/redact.h"

namespace tandem::app {

struct DemoOptions {
  std::string workdir;             // where the demo's SQLite file and outputs go
  std::string billing = "stripe";  // the billing emulator: stripe | gotransverse
  // The demo's standard output is its report; the log goes to WORKDIR/tandem.log in this
  // format and level, and the report ends with its warning and error counts.
  log::Options log;
  RedactorPtr redactor;
};

// Returns an exit code (0 when every step passed).
int RunDemo(const DemoOptions& options);

}  // namespace tandem::app
