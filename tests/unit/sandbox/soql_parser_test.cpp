#include "sandbox/salesforce/soql_parser.h"

#include <map>

#include <gtest/gtest.h>

namespace tandem::sandbox::salesforce {
namespace {

SoqlValue Str(const std::string& s) {
  SoqlValue v;
  v.kind = SoqlLiteral::Kind::kString;
  v.text = s;
  return v;
}
SoqlValue Num(double d) {
  SoqlValue v;
  v.kind = SoqlLiteral::Kind::kNumber;
  v.number = d;
  return v;
}

bool Matches(const std::string& where, const std::map<std::string, SoqlValue>& record) {
  auto parsed = ParseSoql("SELECT Id FROM Account WHERE " + where);
  EXPECT_TRUE(parsed.query) << where << ": " << parsed.error;
  if (!parsed.query) return false;
  return EvaluateSoql(*parsed.query->where, [&](const std::string& f) -> std::optional<SoqlValue> {
    auto it = record.find(f);
    if (it == record.end()) return SoqlValue{};
    return it->second;
  });
}

TEST(SoqlParser, ParsesFieldsRelationshipsOrderLimitOffset) {
  auto r = ParseSoql(
      "select Id, Name, Account.Owner.Name from Contact where Name != null "
      "order by Name desc nulls last, Id limit 10 offset 5");
  ASSERT_TRUE(r.query) << r.error;
  EXPECT_EQ(r.query->object, "Contact");
  EXPECT_EQ(r.query->fields, (std::vector<std::string>{"Id", "Name", "Account.Owner.Name"}));
  ASSERT_EQ(r.query->order_by.size(), 2u);
  EXPECT_FALSE(r.query->order_by[0].ascending);
  EXPECT_FALSE(r.query->order_by[0].nulls_first);
  EXPECT_TRUE(r.query->order_by[1].ascending);
  EXPECT_EQ(r.query->limit.value(), 10);
  EXPECT_EQ(r.query->offset.value(), 5);
  EXPECT_TRUE(ParseSoql("SELECT COUNT() FROM Account").query->count_only);
}

TEST(SoqlParser, EvaluatesOperatorsPrecedenceAndNull) {
  const std::map<std::string, SoqlValue> rec = {
      {"Name", Str("Acme Corp")}, {"Amount", Num(50)}, {"Stage", Str("Won")}};
  EXPECT_TRUE(Matches("Name = 'acme corp'", rec));  // case-insensitive, as Salesforce
  EXPECT_TRUE(Matches("Amount > 10 AND Amount <= 50", rec));
  EXPECT_FALSE(Matches("Amount < 50", rec));
  EXPECT_TRUE(Matches("Name LIKE 'Acme%'", rec));
  EXPECT_TRUE(Matches("Name LIKE '_cme C%'", rec));
  EXPECT_FALSE(Matches("Name LIKE 'Acme'", rec));
  EXPECT_TRUE(Matches("Stage IN ('Lost', 'Won')", rec));
  EXPECT_TRUE(Matches("Stage NOT IN ('Lost')", rec));
  EXPECT_TRUE(Matches("Missing = null", rec));
  EXPECT_FALSE(Matches("Missing != null", rec));
  EXPECT_FALSE(Matches("Missing > 3", rec));
  EXPECT_TRUE(Matches("Amount = 1 OR Amount = 50 AND Stage = 'Won'", rec));  // AND binds tighter
  EXPECT_FALSE(Matches("(Amount = 1 OR Amount = 50) AND Stage = 'Lost'", rec));
  EXPECT_TRUE(Matches("NOT Stage = 'Lost'", rec));
  EXPECT_TRUE(Matches("Name <> 'Other'", rec));
}

TEST(SoqlParser, EscapedWildcardsInLikeMatchLiterally) {
  EXPECT_TRUE(Matches(R"(Name LIKE '100\%%')", {{"Name", Str("100% Gamma")}}));
  EXPECT_FALSE(Matches(R"(Name LIKE '100\%%')", {{"Name", Str("1000 Gamma")}}));
  EXPECT_TRUE(Matches(R"(Name = 'O\'Brien')", {{"Name", Str("O'Brien")}}));
}

TEST(SoqlParser, DatesAndDatetimesCompareAsInstants) {
  bool is_date;
  int64_t ms;
  ASSERT_TRUE(ParseSoqlDateTime("2026-01-01T01:00:00+01:00", &is_date, &ms));
  EXPECT_FALSE(is_date);
  EXPECT_EQ(ms, 1767225600000);
  ASSERT_TRUE(ParseSoqlDateTime("2026-01-01T00:00:00.000+0000", &is_date, &ms));
  EXPECT_EQ(ms, 1767225600000);
  EXPECT_FALSE(ParseSoqlDateTime("2026-01-01T00:00:00", &is_date, &ms));  // needs a zone
  EXPECT_FALSE(ParseSoqlDateTime("2026-13-01", &is_date, &ms));
  SoqlValue stamp = Str("2026-03-01T12:00:00.000+0000");
  EXPECT_TRUE(Matches("SystemModstamp >= 2026-03-01T11:00:00Z", {{"SystemModstamp", stamp}}));
  EXPECT_FALSE(Matches("SystemModstamp > 2026-03-01T12:00:00Z", {{"SystemModstamp", stamp}}));
  EXPECT_TRUE(Matches("CloseDate = 2026-03-01", {{"CloseDate", Str("2026-03-01")}}));
}

TEST(SoqlParser, MalformedQueriesAreErrorsWithPositionsNeverCrashes) {
  for (const char* bad : {"",
                          "SELECT",
                          "SELECT FROM Account",
                          "SELECT Id FROM",
                          "SELECT Id FROM Account WHERE",
                          "SELECT Id FROM Account WHERE Name =",
                          "SELECT Id FROM Account WHERE Name = 'x",
                          "SELECT Id FROM Account WHERE (Name = 'x'",
                          "SELECT Id FROM Account LIMIT -1",
                          "SELECT Id FROM Account LIMIT x",
                          "SELECT Id, FROM Account",
                          "SELECT Id FROM Account extra",
                          "SELECT Id FROM Account WHERE Name IN ()",
                          "SELECT Id FROM Account WHERE Name LIKE 3",
                          "SELECT Id FROM Account WHERE Name = 'bad\\q'",
                          "SELECT Id FROM Account OFFSET 5000",
                          "SELECT a..b FROM Account",
                          "SELECT Id FROM Account ORDER BY",
                          "SELECT Id FROM Account WHERE Name ! 'x'",
                          "SELECT COUNT(Id) FROM Account"}) {
    auto r = ParseSoql(bad);
    EXPECT_FALSE(r.query) << bad;
    EXPECT_NE(r.error.find("position"), std::string::npos) << bad << " -> " << r.error;
  }
  EXPECT_FALSE(ParseSoql("SELECT Id FROM A WHERE " + std::string(10000, '(') + "Id = 1").query);
}

}  // namespace
}  // namespace tandem::sandbox::salesforce
