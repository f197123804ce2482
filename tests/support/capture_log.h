// CaptureLog: routes Tandem's logging (through the real redacting sink) into a string, so a
// test can check what reached the log — used only to prove that secrets do not.
// Thread-safety: text() may be called while other threads log.
#pragma once

#include <memory>
#include <sstream>
#include <string>

#include "util/log.h"

namespace tandem::testing {

class CaptureLog {
 public:
  // Installs the capture at `level` with `format`; secrets known to `redactor` are scrubbed.
  CaptureLog(RedactorPtr redactor, spdlog::level::level_enum level = spdlog::level::trace,
             log::Format format = log::Format::kText);
  ~CaptureLog();
  std::string text() const;

 private:
  std::shared_ptr<std::ostringstream> stream_;
  spdlog::sink_ptr sink_;
};

}  // namespace tandem::testing
