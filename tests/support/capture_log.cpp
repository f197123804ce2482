#include "tests/support/capture_log.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace tandem::testing {

CaptureLog::CaptureLog(RedactorPtr redactor, spdlog::level::level_enum level, log::Format format)
    : stream_(std::make_shared<std::ostringstream>()) {
  sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(*stream_, /*force_flush=*/true);
  log::Setup(log::Options{format, level}, std::move(redactor), sink_);
}

CaptureLog::~CaptureLog() {
  // Back to stderr so nothing writes into the stream after it is gone.
  log::Setup(log::Options{}, nullptr, nullptr);
}

std::string CaptureLog::text() const {
  sink_->flush();
  return stream_->str();
}

}  // namespace tandem::testing
