#include <gtest/gtest.h>

#include "connector/crm/salesforce/csv.h"
#include "connector/crm/salesforce/errors.h"
#include "connector/crm/soql.h"

namespace tandem::connector::crm {
namespace {

TEST(SoqlQuote, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(SoqlQuote("O'Brien"), R"('O\'Brien')");
  EXPECT_EQ(SoqlQuote(R"(a\b)"), R"('a\\b')");
  EXPECT_EQ(SoqlQuote("line\nbreak\t\"q\""), R"('line\nbreak\t\"q\"')");
  EXPECT_EQ(SoqlQuote("50%_off"), "'50%_off'");
  EXPECT_EQ(SoqlQuoteLike("50%_off"), R"('50\%\_off')");
}

TEST(SoqlBuilder, BuildsQueriesAndRejectsHostileIdentifiers) {
  auto q = SoqlBuilder("Account", {"Id", "Owner.Name"})
               .WhereEquals("Name", "x' OR Id != '")
               .WhereIn("Id", {"001A", "001B"})
               .WhereLiteral("SystemModstamp", ">=", "2026-01-01T00:00:00Z")
               .OrderBy("SystemModstamp")
               .OrderBy("Id")
               .Limit(200)
               .Build();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(
      *q,
      R"(SELECT Id, Owner.Name FROM Account WHERE Name = 'x\' OR Id != \'' AND Id IN ('001A', '001B') AND SystemModstamp >= 2026-01-01T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 200)");
  EXPECT_FALSE(SoqlBuilder("Account; DELETE", {"Id"}).Build().ok());
  EXPECT_FALSE(SoqlBuilder("Account", {"Id"}).WhereEquals("Name = 'a' OR Name", "b").Build().ok());
  EXPECT_FALSE(
      SoqlBuilder("Account", {"Id"}).WhereLiteral("Amount", "=", "1 OR Id != null").Build().ok());
  EXPECT_FALSE(SoqlBuilder("Account", {"Id"}).WhereLiteral("Amount", "; --", "1").Build().ok());
  EXPECT_FALSE(SoqlBuilder("Account", {"Id"}).WhereIn("Id", {}).Build().ok());
}

TEST(SoqlIdentifiers, AcceptNamesAndRelationshipsOnly) {
  EXPECT_TRUE(IsSoqlIdentifier("Billing_Id__c"));
  EXPECT_TRUE(IsSoqlIdentifier("Account.Owner.Name"));
  EXPECT_FALSE(IsSoqlIdentifier(""));
  EXPECT_FALSE(IsSoqlIdentifier("1abc"));
  EXPECT_FALSE(IsSoqlIdentifier("a..b"));
  EXPECT_FALSE(IsSoqlIdentifier("a b"));
  EXPECT_FALSE(IsSoqlIdentifier("a'"));
  EXPECT_TRUE(IsSalesforceId("001000000000001AAA"));
  EXPECT_FALSE(IsSalesforceId("001' OR '1'='1"));
}

TEST(SalesforceErrors, ParsesEveryShapeAndClassifies) {
  auto e = salesforce::ParseErrors(
      400, R"([{"message":"m","errorCode":"UNABLE_TO_LOCK_ROW","fields":["A"]}])");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].retryable());
  EXPECT_EQ(e[0].fields, std::vector<std::string>{"A"});
  auto oauth =
      salesforce::ParseErrors(400, R"({"error":"invalid_grant","error_description":"bad"})");
  EXPECT_EQ(oauth[0].code, "invalid_grant");
  auto junk = salesforce::ParseErrors(502, "<html>bad gateway</html>");
  EXPECT_EQ(junk[0].code, "HTTP_502");
  EXPECT_TRUE(ToStatus(junk[0], "x").IsUnavailable());
  EXPECT_TRUE(ToStatus(CrmError{"REQUEST_LIMIT_EXCEEDED", "", {}}, "x").IsRateLimited());
  EXPECT_TRUE(ToStatus(CrmError{"DUPLICATE_VALUE", "", {}}, "x").IsAlreadyExists());

  http::HttpResponse limit;
  limit.status = 403;
  limit.body =
      R"([{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}])";
  EXPECT_EQ(salesforce::Classify(limit), http::Action::kRateLimited);
  http::HttpResponse forbidden;
  forbidden.status = 403;
  forbidden.body = R"([{"errorCode":"INSUFFICIENT_ACCESS","message":"no"}])";
  EXPECT_EQ(salesforce::Classify(forbidden), http::Action::kFail);
  int64_t used, max;
  EXPECT_TRUE(salesforce::ParseLimitInfo("api-usage=18/15000", &used, &max));
  EXPECT_EQ(max - used, 14982);
  EXPECT_FALSE(salesforce::ParseLimitInfo("per-app-api-usage", &used, &max));
}

TEST(BulkCsv, WritesAndReadsRfc4180) {
  const std::string line = salesforce::CsvLine({"a", "b,c", "say \"hi\"", "multi\nline", ""});
  EXPECT_EQ(line, "a,\"b,c\",\"say \"\"hi\"\"\",\"multi\nline\",\n");
  auto rows = salesforce::ParseCsv("h1,h2\r\n" + line.substr(0, line.size() - 1) + "\r\n");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1], (std::vector<std::string>{"a", "b,c", "say \"hi\"", "multi\nline", ""}));
  EXPECT_FALSE(salesforce::ParseCsv("\"open").ok());
}

}  // namespace
}  // namespace tandem::connector::crm
