#include "util/log.h"

#include <cstdio>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tandem::log {
namespace {

// %* -> the message JSON-escaped (spdlog's %v is written raw).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string esc = JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(esc.data(), esc.data() + esc.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// Scrubs registered secrets from the payload, then hands the message to the inner sink.
class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RedactingSink(spdlog::sink_ptr inner, RedactorPtr redactor)
      : inner_(std::move(inner)), redactor_(std::move(redactor)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string scrubbed =
        redactor_ ? redactor_->Scrub(std::string_view(msg.payload.data(), msg.payload.size()))
                  : std::string(msg.payload.data(), msg.payload.size());
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(scrubbed.data(), scrubbed.size());
    inner_->log(copy);
  }
  void flush_() override { inner_->flush(); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  spdlog::sink_ptr inner_;
  RedactorPtr redactor_;
};

struct State {
  std::mutex mu;
  spdlog::sink_ptr sink;  // GUARDED_BY(mu)
  spdlog::level::level_enum level = spdlog::level::info;
};

State& GetState() {
  static State state;  // the logging configuration is process-wide, like spdlog's registry
  return state;
}

spdlog::sink_ptr DefaultSink() {
  auto sink =
      std::make_shared<RedactingSink>(std::make_shared<spdlog::sinks::stderr_sink_mt>(), nullptr);
  sink->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v");
  return sink;
}

}  // namespace

bool ParseFormat(const std::string& text, Format* out) {
  if (text == "text")
    *out = Format::kText;
  else if (text == "json")
    *out = Format::kJson;
  else
    return false;
  return true;
}

bool ParseLevel(const std::string& text, spdlog::level::level_enum* out) {
  auto level = spdlog::level::from_str(text);
  if (level == spdlog::level::off && text != "off") return false;
  *out = level;
  return true;
}

void Setup(const Options& options, RedactorPtr redactor, spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto redacting = std::make_shared<RedactingSink>(std::move(sink), std::move(redactor));
  std::unique_ptr<spdlog::formatter> formatter;
  if (options.format == Format::kJson) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
    formatter = std::move(f);
  } else {
    formatter = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v",
                                                            spdlog::pattern_time_type::utc);
  }
  redacting->set_formatter(std::move(formatter));

  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  state.sink = redacting;
  state.level = options.level;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks().assign(1, redacting);
    logger->set_level(options.level);
  });
}

std::shared_ptr<spdlog::logger> Get(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (auto existing = spdlog::get(name)) return existing;  // lost a race to another thread
  if (!state.sink) state.sink = DefaultSink();
  auto logger = std::make_shared<spdlog::logger>(name, state.sink);
  logger->set_level(state.level);
  logger->flush_on(spdlog::level::warn);
  spdlog::register_logger(logger);
  return logger;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

}  // namespace tandem::log
