#include "util/redact.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Redactor, ScrubsEveryRegisteredSecretLongestFirst) {
  Redactor r;
  r.AddSecret("sk_test_abcdef");
  r.AddSecret("sk_test_abcdef_longer");
  r.AddSecret("abc");  // too short to be a secret: ignored
  EXPECT_EQ(r.secret_count(), 2u);
  EXPECT_EQ(r.Scrub("key=sk_test_abcdef_longer and sk_test_abcdef; abc"), "key=*** and ***; abc");
}

TEST(Redactor, KnowsCredentialHeadersCaseInsensitively) {
  EXPECT_TRUE(Redactor::IsSensitiveHeader("Authorization"));
  EXPECT_TRUE(Redactor::IsSensitiveHeader("stripe-signature"));
  EXPECT_TRUE(Redactor::IsSensitiveHeader("COOKIE"));
  EXPECT_FALSE(Redactor::IsSensitiveHeader("Content-Type"));
}

TEST(Redactor, RedactsSensitiveFormParameters) {
  EXPECT_EQ(Redactor::RedactForm("grant_type=x&client_id=abc&client_secret=s3cr3t&assertion=eyJ"),
            "grant_type=x&client_id=abc&client_secret=***&assertion=***");
  EXPECT_EQ(Redactor::RedactForm("q=SELECT+Id"), "q=SELECT+Id");
}

TEST(Redactor, RedactsSensitiveJsonStringValues) {
  const std::string json =
      R"({"access_token" : "00Dxx!AQ.secret", "instance_url":"https://x", "nested":{"refresh_token":"r\"t"}})";
  const std::string out = Redactor::RedactJson(json);
  EXPECT_EQ(out.find("00Dxx"), std::string::npos);
  EXPECT_EQ(out.find("r\\\"t"), std::string::npos);
  EXPECT_NE(out.find("https://x"), std::string::npos);
  EXPECT_NE(out.find(R"("access_token" : "***")"), std::string::npos);
}

TEST(Redactor, LeavesMalformedJsonReadable) {
  EXPECT_EQ(Redactor::RedactJson(R"({"a":"unterminated)"), R"({"a":"unterminated)");
}

}  // namespace
}  // namespace tandem
