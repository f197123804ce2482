#include "util/json.h"

#include <limits>

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

namespace tandem {
namespace {

// Integers are kept exact: an id or an amount in minor units above 2^53 loses no digit on its
// way through Tandem (a double would round 9007199254740993 to ...992).
TEST(Json, IntegersAboveTwoToThe53RoundTripExactly) {
  auto j = Json::Parse(
      R"({"big":9007199254740993,"min":-9223372036854775808,"max":9223372036854775807})");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["big"].as_int(), int64_t{9007199254740993});
  EXPECT_EQ((*j)["min"].as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(j->Dump(),
            R"({"big":9007199254740993,"min":-9223372036854775808,"max":9223372036854775807})");
  EXPECT_EQ(Json(int64_t{9007199254740993}).Dump(), "9007199254740993");
  // Beyond int64 a number is still read (as a double), never refused or wrapped around.
  auto huge = Json::Parse("18446744073709551615");
  ASSERT_TRUE(huge.ok());
  EXPECT_GT(huge->as_number(), 1.8e19);
  // An integer and the same value as a double are equal; 1.5 stays a double.
  EXPECT_EQ(Json(int64_t{5}), Json(5.0));
  EXPECT_NE(Json(int64_t{5}), Json(5.5));
  EXPECT_EQ(Json::Parse("1.5")->as_number(), 1.5);
  EXPECT_EQ(Json::Parse("1.5")->as_int(), 2);
}

// Hostile text (a forged webhook, a broken API body) is refused with a position, whatever it
// is: invalid UTF-8, a lone surrogate, comments, a NUL, trailing garbage.
TEST(Json, HostileTextIsRefusedWithItsPosition) {
  for (const std::string& bad :
       {std::string("\"\xff\""), std::string("\"\\udc00\""), std::string("{} // c"),
        std::string("[1]\0", 4), std::string("{\"a\":1}}"), std::string("[\"\xc3\"]"),
        std::string("NaN"), std::string("[1e999999]x")}) {
    auto j = Json::Parse(bad);
    EXPECT_FALSE(j.ok()) << bad;
    if (!j.ok()) {
      EXPECT_NE(j.status().message().find("at byte"), std::string::npos) << bad;
    }
  }
}

// Repeated member names keep both, in order; lookup finds the first (as before).
TEST(Json, RepeatedMemberNamesKeepTheFirstForLookup) {
  auto j = Json::Parse(R"({"a":1,"a":2})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["a"].as_int(), 1);
  EXPECT_EQ(j->size(), 2u);
}

}  // namespace
}  // namespace tandem
