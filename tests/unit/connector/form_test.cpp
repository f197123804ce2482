#include "connector/http/form.h"

#include <gtest/gtest.h>

#include "connector/http/auth.h"

namespace tandem::connector::http {
namespace {

TEST(Form, EncodesNestedKeysSpacesAndReservedCharacters) {
  EXPECT_EQ(FormEncode({{"items[0][price]", "price_1"}, {"metadata[crm_id]", "001 A&B=C"}}),
            "items%5B0%5D%5Bprice%5D=price_1&metadata%5Bcrm_id%5D=001%20A%26B%3DC");
  EXPECT_EQ(FormEncode({}), "");
  EXPECT_EQ(FormEncode({{"e", "é"}}), "e=%C3%A9");
}

TEST(Form, PercentEncodeKeepsUnreservedOnly) {
  EXPECT_EQ(PercentEncode("a-b_c.d~e f/g"), "a-b_c.d~e%20f%2Fg");
}

TEST(Base64, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xfb\xff", /*url_safe=*/true, /*pad=*/false), "-_8");
}

}  // namespace
}  // namespace tandem::connector::http
