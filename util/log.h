// Logging: spdlog, one named logger per module ("connector.http", "store", ...), text or
// JSON lines on stderr. Every logger writes through one redacting sink, so a secret the
// Redactor knows cannot reach the output whichever module logs it.
// spdlog's registry is process-wide; app/ configures it once at startup (ADR 0001).
// Thread-safety: Setup() before starting threads; Get() and logging are thread-safe.
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include "util/redact.h"

namespace tandem::log {

enum class Format { kText, kJson };

struct Options {
  Format format = Format::kText;
  spdlog::level::level_enum level = spdlog::level::info;
};

// Parses "text"/"json"; returns false for anything else.
bool ParseFormat(const std::string& text, Format* out);
// Parses "trace|debug|info|warn|error|off"; returns false for anything else.
bool ParseLevel(const std::string& text, spdlog::level::level_enum* out);

// Routes all loggers (existing and future) to `sink` (stderr when null) through a
// redacting wrapper that scrubs `redactor`'s secrets.
void Setup(const Options& options, RedactorPtr redactor, spdlog::sink_ptr sink = nullptr);

// The named logger, created on first use with the configured sink and level.
std::shared_ptr<spdlog::logger> Get(const std::string& name);

// JSON string escaping (for the JSON line format and anything else emitting JSON by hand).
std::string JsonEscape(std::string_view s);

}  // namespace tandem::log
