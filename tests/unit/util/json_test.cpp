#include "util/json.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Json, ParsesAndDumpsRoundTrip) {
  const std::string text =
      R"({"a":1,"b":[true,false,null],"c":"x\"y\\z\n","d":{"e":-1.5,"f":1e3},"g":[]})";
  auto j = Json::Parse(text);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->Dump(),
            R"({"a":1,"b":[true,false,null],"c":"x\"y\\z\n","d":{"e":-1.5,"f":1000},"g":[]})");
  EXPECT_EQ((*j)["d"]["e"].as_number(), -1.5);
  EXPECT_EQ((*j)["a"].as_int(), 1);
  EXPECT_TRUE((*j)["missing"].is_null());
}

TEST(Json, KeepsInsertionOrderAndReplacesOnSet) {
  Json o = Json::MakeObject();
  o.Set("z", 1);
  o.Set("a", "x");
  o.Set("z", 2);
  EXPECT_EQ(o.Dump(), R"({"z":2,"a":"x"})");
  EXPECT_TRUE(o.Erase("z"));
  EXPECT_EQ(o.Dump(), R"({"a":"x"})");
}

TEST(Json, DecodesUnicodeEscapesIncludingSurrogatePairs) {
  auto j = Json::Parse(R"(["\u00e9","\ud83d\ude00","\u0041"])");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->array()[0].as_string(), "\xc3\xa9");
  EXPECT_EQ(j->array()[1].as_string(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(j->array()[2].as_string(), "A");
}

TEST(Json, NumbersPrintShortestExactForm) {
  EXPECT_EQ(Json(0.1).Dump(), "0.1");
  EXPECT_EQ(Json(10.5).Dump(), "10.5");
  EXPECT_EQ(Json(int64_t{1767225600000}).Dump(), "1767225600000");
  EXPECT_EQ(Json(-0.000123).Dump(), "-0.000123");
}

TEST(Json, RejectsMalformedInputWithPosition) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\x01\"", "tru",
                          "[1] 2", "\"\\ud800\"", "{\"a\":1,}", "-", "1e"}) {
    auto j = Json::Parse(bad);
    EXPECT_FALSE(j.ok()) << bad;
    if (!j.ok()) {
      EXPECT_NE(j.status().message().find("at byte"), std::string::npos);
    }
  }
}

TEST(Json, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  EXPECT_FALSE(Json::Parse(deep).ok());
  std::string ok = std::string(100, '[') + std::string(100, ']');
  EXPECT_TRUE(Json::Parse(ok).ok());
}

}  // namespace
}  // namespace tandem
