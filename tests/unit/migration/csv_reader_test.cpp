#include "migration/csv_reader.h"

#include <sstream>

#include <gtest/gtest.h>

namespace tandem::migration {
namespace {

std::vector<CsvRecord> ReadAll(const std::string& text, std::vector<std::string>* errors) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<CsvRecord> out;
  CsvRecord r;
  Status st;
  while (reader.Next(&r, &st)) {
    if (st.ok())
      out.push_back(r);
    else
      errors->push_back(st.message());
  }
  return out;
}

TEST(CsvReader, ReadsRfc4180QuotingEmbeddedNewlinesCrlfAndABom) {
  std::vector<std::string> errors;
  const auto rows = ReadAll(
      "\xEF\xBB\xBFName,Note\r\n\"Acme, Inc.\",\"said "
      "\"\"hi\"\"\"\r\n\"multi\nline\",x\r\nplain,\r\n",
      &errors);
  ASSERT_TRUE(errors.empty());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"Name", "Note"}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"Acme, Inc.", "said \"hi\""}));
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"multi\nline", "x"}));
  EXPECT_EQ(rows[2].line, 3);
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"plain", ""}));
  EXPECT_EQ(rows[3].line, 5);  // the embedded newline counted
}

TEST(CsvReader, AMalformedRecordIsReportedWithLineAndColumnAndTheRestGoesOn) {
  std::vector<std::string> errors;
  const auto rows = ReadAll("a,b\n\"x\"y,z\nok,1\nbad\"quote,2\nlast,3\n\"open", &errors);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "line 2, column 3: text after a closing quote");
  EXPECT_EQ(errors[1], "line 4, column 3: a quote inside an unquoted field");
  EXPECT_EQ(errors[2], "line 6, column 5: a quoted field is not closed");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"ok", "1"}));
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"last", "3"}));
}

TEST(CsvReader, HeaderRulesAndLimits) {
  std::istringstream dup("Name,Name\n");
  std::vector<std::string> columns;
  EXPECT_NE(CsvReader(dup).ReadHeader(&columns).message().find("appears twice"), std::string::npos);
  std::istringstream empty("");
  EXPECT_FALSE(CsvReader(empty).ReadHeader(&columns).ok());
  std::istringstream ok("Name,Email\nA,a@x\n");
  CsvReader reader(ok);
  ASSERT_TRUE(reader.ReadHeader(&columns).ok());
  CsvRecord r;
  Status st;
  ASSERT_TRUE(reader.Next(&r, &st));
  EXPECT_EQ(r.number, 1);
  std::istringstream big("x\n" + std::string(100, 'a') + "\nnext\n");
  CsvReader limited(big, CsvLimits{50, 10});
  ASSERT_TRUE(limited.Next(&r, &st));
  ASSERT_TRUE(limited.Next(&r, &st));
  EXPECT_NE(st.message().find("longer than 50 bytes"), std::string::npos);
  ASSERT_TRUE(limited.Next(&r, &st));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(r.fields[0], "next");
}

TEST(CsvReader, BlankLinesAreNotRecordsAndABadRecordStillHasItsRowNumber) {
  std::istringstream in("A,B\n1,2\n\n\r\n3,\"x\"y\n5,6\n");
  CsvReader reader(in);
  std::vector<std::string> header;
  ASSERT_TRUE(reader.ReadHeader(&header).ok());
  CsvRecord r;
  Status st;
  ASSERT_TRUE(reader.Next(&r, &st));
  EXPECT_EQ(r.number, 1);
  ASSERT_TRUE(reader.Next(&r, &st));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(r.number, 2);  // the bad record is row 2, on line 5
  EXPECT_NE(st.message().find("line 5"), std::string::npos) << st.message();
  ASSERT_TRUE(reader.Next(&r, &st));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(r.number, 3);
  EXPECT_EQ(r.fields, (std::vector<std::string>{"5", "6"}));
  EXPECT_FALSE(reader.Next(&r, &st));
}

}  // namespace
}  // namespace tandem::migration
