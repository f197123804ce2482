#include "util/log.h"

#include <gtest/gtest.h>

#include "tests/support/capture_log.h"

namespace tandem {
namespace {

TEST(Log, JsonFormatWritesOneEscapedObjectPerLine) {
  auto redactor = std::make_shared<Redactor>();
  testing::CaptureLog capture(redactor, spdlog::level::info, log::Format::kJson);
  log::Get("test.json")->info("quote \" and newline \n done");
  const std::string text = capture.text();
  EXPECT_NE(text.find(R"("logger":"test.json")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(quote \" and newline \n done)"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(Log, SinkScrubsRegisteredSecretsFromEveryLogger) {
  auto redactor = std::make_shared<Redactor>();
  redactor->AddSecret("hunter2-very-secret");
  testing::CaptureLog capture(redactor);
  log::Get("a.module")->info("password is hunter2-very-secret");
  log::Get("b.module")->error("again: {}", std::string("hunter2-very-secret"));
  const std::string text = capture.text();
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("password is ***"), std::string::npos) << text;
}

TEST(Log, LevelFiltersLowerLines) {
  testing::CaptureLog capture(std::make_shared<Redactor>(), spdlog::level::warn);
  log::Get("lvl")->info("hidden");
  log::Get("lvl")->warn("shown");
  EXPECT_EQ(capture.text().find("hidden"), std::string::npos);
  EXPECT_NE(capture.text().find("shown"), std::string::npos);
}

TEST(Log, ParsesFormatAndLevel) {
  log::Format f;
  EXPECT_TRUE(log::ParseFormat("json", &f));
  EXPECT_EQ(f, log::Format::kJson);
  EXPECT_FALSE(log::ParseFormat("xml", &f));
  spdlog::level::level_enum l;
  EXPECT_TRUE(log::ParseLevel("debug", &l));
  EXPECT_EQ(l, spdlog::level::debug);
  EXPECT_TRUE(log::ParseLevel("off", &l));
  EXPECT_FALSE(log::ParseLevel("loud", &l));
}

}  // namespace
}  // namespace tandem
