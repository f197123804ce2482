// Tandem's Salesforce client against the Salesforce sandbox over real HTTP on loopback:
// every operation, the faults it must ride out, and the ones it must surface.
#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "connector/crm/coalescing_client.h"
#include "connector/crm/soql.h"
#include "connector/http/rest_client.h"
#include "tests/support/rsa_key.h"
#include "tests/support/salesforce_env.h"

namespace tandem::connector::crm {
namespace {

using sandbox::salesforce::SalesforceFault;
using testing::SalesforceEnv;

Json Account(const std::string& name) {
  Json j = Json::MakeObject();
  j.Set("Name", name);
  return j;
}

std::vector<Json> QueryAll(CrmClient& client, const std::string& soql, Status* st) {
  std::vector<Json> out;
  *st = client.Query(soql, [&](const Json& r) {
    out.push_back(r);
    return Status::Ok();
  });
  return out;
}

TEST(SalesforceClient, CreateRetrieveUpdateUpsertDeleteRoundTrip) {
  SalesforceEnv env;
  auto& c = env.client();
  auto id = c.Create("Account", Account("Acme"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->size(), 18u);
  EXPECT_EQ(id->substr(0, 3), "001");

  auto rec = c.Retrieve("Account", *id, {"Name", "CreatedDate"});
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ((*rec)["Name"].as_string(), "Acme");
  EXPECT_EQ((*rec)["attributes"]["type"].as_string(), "Account");

  Json change = Json::MakeObject();
  change.Set("Industry", "Technology");
  ASSERT_TRUE(c.Update("Account", *id, change).ok());
  EXPECT_EQ(c.Retrieve("Account", *id, {"Industry"}).value()["Industry"].as_string(), "Technology");

  auto up1 = c.Upsert("Account", "Ext__c", "EXT-1", Account("Upserted"));
  ASSERT_TRUE(up1.ok()) << up1.status().ToString();
  EXPECT_TRUE(up1->created);
  auto up2 = c.Upsert("Account", "Ext__c", "EXT-1", Account("Upserted again"));
  ASSERT_TRUE(up2.ok());
  EXPECT_FALSE(up2->created);
  EXPECT_EQ(up2->id, up1->id);

  ASSERT_TRUE(c.Delete("Account", *id).ok());
  EXPECT_TRUE(c.Retrieve("Account", *id, {"Name"}).status().IsNotFound());
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 1);
}

TEST(SalesforceClient, UpsertMatchingSeveralRecordsIsAConflictNeverAGuess) {
  SalesforceEnv env;
  auto& c = env.client();
  for (int i = 0; i < 2; ++i) {
    Json contact = Json::MakeObject();
    contact.Set("LastName", "Twin " + std::to_string(i));
    contact.Set("Legacy_Id__c", "L-7");
    ASSERT_TRUE(c.Create("Contact", contact).ok());
  }
  Json change = Json::MakeObject();
  change.Set("LastName", "Which one?");
  auto r = c.Upsert("Contact", "Legacy_Id__c", "L-7", change);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsConflict()) << r.status().ToString();
}

TEST(SalesforceClient, CaseSensitiveExternalIdsKeepIdsThatDifferOnlyInCase) {
  SalesforceEnv env;
  Json a = Account("A");
  a.Set("Billing_Id__c", "cus_Abc123");
  Json b = Account("B");
  b.Set("Billing_Id__c", "cus_aBC123");  // billing ids are case-sensitive
  auto results = env.client().CreateMany("Account", {a, b}).value();
  EXPECT_TRUE(results[0].success && results[1].success) << results[1].ErrorText();
  Json c = Account("C");
  c.Set("Ext__c", "X-1");
  Json d = Account("D");
  d.Set("Ext__c", "x-1");  // Ext__c is not: a duplicate
  auto dup = env.client().CreateMany("Account", {c, d}).value();
  EXPECT_TRUE(dup[0].success);
  ASSERT_FALSE(dup[1].success);
  EXPECT_EQ(dup[1].errors.at(0).code, "DUPLICATE_VALUE");
}

TEST(SalesforceClient, UpsertWithASlashInTheExternalIdGoesThroughCollections) {
  SalesforceEnv env;
  auto r = env.client().Upsert("Account", "Ext__c", "EXT 3/x", Account("Slashed"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->created);
  Status st;
  auto rows = QueryAll(env.client(), "SELECT Id FROM Account WHERE Ext__c = 'EXT 3/x'", &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(rows.size(), 1u);
}

TEST(SalesforceClient, FiveThousandRecordsIn25CallsThenQueriedBackThroughEveryPage) {
  SalesforceEnv env;
  std::vector<Json> records;
  for (int i = 0; i < 5000; ++i) records.push_back(Account("Bulk " + std::to_string(i)));
  auto results = env.client().CreateMany("Account", records);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 5000u);
  for (const auto& r : *results) ASSERT_TRUE(r.success) << r.ErrorText();
  EXPECT_EQ(env.sandbox.calls_by_endpoint()["POST /composite/sobjects"], 25);

  Status st;
  auto rows = QueryAll(env.client(), "SELECT Id, Name FROM Account ORDER BY Name", &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows.size(), 5000u);  // no silent truncation
  const auto calls = env.sandbox.calls_by_endpoint();
  EXPECT_EQ(calls.at("GET /query"), 1);
  EXPECT_EQ(calls.at("GET /query/{locator}"), 2);
  EXPECT_EQ(rows.front()["Name"].as_string(), "Bulk 0");
}

// Salesforce refuses new requests while too many run at once (25 in production, 5 in a
// developer org). Against a sandbox that refuses a sixth concurrent request, 40 callers at
// once with max_concurrent 5 are all answered and none refused; the same callers with the
// client's limit above the org's are refused (the sandbox does count).
TEST(SalesforceClient, NeverMoreRequestsInFlightThanTheOrgAllows) {
  auto run = [](int client_limit, int64_t* refused, int* peak) {
    sandbox::salesforce::SalesforceSandboxOptions so;
    so.concurrent_request_limit = 5;
    so.latency = {40, 0};  // long enough for 40 callers to overlap
    salesforce::ConnectionOptions co;
    co.max_concurrent = client_limit;
    co.max_attempts = 1;  // a refusal shows as a failure, not hidden by a retry
    SalesforceEnv env(so, co);
    const std::string id = env.client().Create("Account", Account("Shared")).value();
    std::atomic<int> failed{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < 40; ++i)
      callers.emplace_back([&] {
        if (!env.client().Retrieve("Account", id, {"Name"}).ok()) ++failed;
      });
    for (auto& t : callers) t.join();
    *refused = env.sandbox.concurrent_refused();
    *peak = env.sandbox.peak_concurrent_requests();
    return failed.load();
  };
  int64_t refused = -1;
  int peak = -1;
  EXPECT_EQ(run(5, &refused, &peak), 0);
  EXPECT_EQ(refused, 0);
  EXPECT_LE(peak, 5);
  EXPECT_GE(peak, 2) << "the callers did not overlap: the test shows nothing";
  EXPECT_GT(run(100, &refused, &peak), 0) << "above the org's limit the sandbox refuses";
  EXPECT_GT(refused, 0);
  EXPECT_GT(peak, 5);
}

// A call to a *Many method sends its Collections of 200 together (as many as the connection's
// PreferredInFlight), and each record's result stays in input order. An upsert naming one key
// in two chunks sends them one after another: the second updates what the first created.
TEST(SalesforceClient, CollectionsOfOneCallGoInFlightTogether) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {30, 0};
  SalesforceEnv env(so);
  std::vector<Json> records;
  for (int i = 0; i < 2000; ++i) {
    Json r = Account("Acct " + std::to_string(i));
    r.Set("Ext__c", "K" + std::to_string(i));
    records.push_back(r);
  }
  auto results = env.client().UpsertMany("Account", "Ext__c", records);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 2000u);
  for (const auto& r : *results) ASSERT_TRUE(r.success && r.created) << r.ErrorText();
  const int peak = env.sandbox.peak_concurrent_requests();
  EXPECT_GE(peak, 2) << "10 Collections one after another";
  EXPECT_LE(peak, env.client().PreferredInFlight());
  Status st;
  auto rows = QueryAll(env.client(), "SELECT Id, Ext__c FROM Account WHERE Ext__c = 'K1234'", &st);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["Id"].as_string(), (*results)[1234].id) << "results in input order";

  // One key in the first chunk and in the last: sequential, so created once, then updated.
  env.sandbox.ResetPeak();
  std::vector<Json> twice(records.begin(), records.begin() + 400);
  for (auto& r : twice) r.Set("Ext__c", "N" + r["Ext__c"].as_string());
  twice.back().Set("Ext__c", "NK0");
  auto again = env.client().UpsertMany("Account", "Ext__c", twice);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].created);
  EXPECT_TRUE((*again)[399].success);
  EXPECT_FALSE((*again)[399].created);
  EXPECT_EQ((*again)[399].id, (*again)[0].id);
  EXPECT_EQ(env.sandbox.peak_concurrent_requests(), 1);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 2399);
}

TEST(SalesforceClient, CollectionsReportEachRecordInInputOrder) {
  SalesforceEnv env;
  Json no_name = Json::MakeObject();
  no_name.Set("Phone", "555");
  Json bad_picklist = Account("Bad");
  bad_picklist.Set("Industry", "Alchemy");
  auto results = env.client().CreateMany(
      "Account", {Account("Good 1"), no_name, bad_picklist, Account("Good 2")});
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 4u);
  EXPECT_TRUE((*results)[0].success);
  ASSERT_FALSE((*results)[1].success);
  EXPECT_EQ((*results)[1].errors.at(0).code, "REQUIRED_FIELD_MISSING");
  EXPECT_EQ((*results)[1].errors.at(0).fields, std::vector<std::string>{"Name"});
  EXPECT_TRUE((*results)[1].errors.at(0).record_fault());
  EXPECT_EQ((*results)[2].errors.at(0).code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
  EXPECT_TRUE((*results)[3].success);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 2);
}

TEST(SalesforceClient, UpdateAndUpsertManyAndDeleteMany) {
  SalesforceEnv env;
  auto& c = env.client();
  auto created = c.CreateMany("Account", {Account("A"), Account("B")}).value();
  std::vector<Json> updates;
  for (const auto& r : created) {
    Json u = Json::MakeObject();
    u.Set("Id", r.id);
    u.Set("Phone", "123");
    updates.push_back(u);
  }
  auto updated = c.UpdateMany("Account", updates).value();
  EXPECT_TRUE(updated[0].success && updated[1].success);
  Json e1 = Account("E1");
  e1.Set("Ext__c", "X1");
  // One key twice in a call: Salesforce refuses both, writes neither.
  auto twice = c.UpsertMany("Account", "Ext__c", {e1, e1}).value();
  for (const auto& r : twice) {
    EXPECT_FALSE(r.success);
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors.front().code, "DUPLICATE_VALUE");
  }
  EXPECT_TRUE(c.UpsertMany("Account", "Ext__c", {e1}).value()[0].created);
  EXPECT_FALSE(c.UpsertMany("Account", "Ext__c", {e1}).value()[0].created);
  auto deleted = c.DeleteMany({created[0].id, created[1].id}).value();
  EXPECT_TRUE(deleted[0].success && deleted[1].success);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 1);
}

TEST(SalesforceClient, HostileValuesCannotChangeTheQuery) {
  SalesforceEnv env;
  auto& c = env.client();
  ASSERT_TRUE(
      c.CreateMany("Account", {Account("Alpha"), Account("Beta"), Account("100% Gamma")}).ok());
  for (const std::string hostile :
       {"x' OR Name != '", "x\\' OR Name != \\'", "' OR Id != null OR Name = '"}) {
    auto q = SoqlBuilder("Account", {"Id", "Name"}).WhereEquals("Name", hostile).Build();
    ASSERT_TRUE(q.ok());
    Status st;
    auto rows = QueryAll(c, *q, &st);
    ASSERT_TRUE(st.ok()) << *q << ": " << st.ToString();
    EXPECT_TRUE(rows.empty()) << *q;
  }
  auto like = SoqlBuilder("Account", {"Name"}).WhereLike("Name", "100%").Build();
  Status st;
  auto rows = QueryAll(c, *like, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);  // the % is literal: "100% Gamma" only
  auto id_q = SoqlBuilder("Account", {"Name"}).WhereIn("Id", {"001' OR Name LIKE '%"}).Build();
  EXPECT_TRUE(QueryAll(c, *id_q, &st).empty());
  EXPECT_FALSE(SoqlBuilder("Account", {"Name FROM Account--"}).Build().ok());
  EXPECT_TRUE(c.Retrieve("Account", "001' OR 1=1", {"Name"}).status().IsInvalidArgument());
}

TEST(SalesforceClient, MalformedQueryIsAClearError) {
  SalesforceEnv env;
  Status st;
  QueryAll(env.client(), "SELECT Id FROM Account WHERE", &st);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("MALFORMED_QUERY"), std::string::npos);
  QueryAll(env.client(), "SELECT Nope__c FROM Account", &st);
  EXPECT_NE(st.message().find("INVALID_FIELD"), std::string::npos) << st.ToString();
}

TEST(SalesforceClient, RetriesTransient503AndRequestLimitThenSucceeds) {
  SalesforceEnv env;
  ASSERT_TRUE(env.client().Create("Account", Account("Seed")).ok());
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 503, "SERVER_UNAVAILABLE", 2, 0});
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 403, "REQUEST_LIMIT_EXCEEDED", 1, 0});
  Status st;
  auto rows = QueryAll(env.client(), "SELECT Id FROM Account", &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(env.sleeper.sleeps().size(), 3u);  // backoff waits, no Retry-After from Salesforce
  EXPECT_EQ(env.counter.Total("salesforce").attempts - env.counter.Total("salesforce").calls, 3);
}

TEST(SalesforceClient, PersistentOutageSurfacesAsUnavailable) {
  SalesforceEnv env;
  env.sandbox.AddFault(SalesforceFault{"", "/sobjects", 503, "SERVER_UNAVAILABLE", -1, 0});
  auto r = env.client().Retrieve("Account", "001000000000001AAA", {"Name"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
}

TEST(SalesforceClient, DroppedConnectionOnAReadIsRetried) {
  SalesforceEnv env;
  ASSERT_TRUE(env.client().Create("Account", Account("Seed")).ok());
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 0, "DROP_CONNECTION", 1, 0});
  Status st;
  auto rows = QueryAll(env.client(), "SELECT Id FROM Account", &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(env.sandbox.dropped_connections(), 1);
}

TEST(SalesforceClient, LostAnswerToACreateIsSurfacedNotRetried) {
  SalesforceEnv env;
  env.sandbox.AddFault(SalesforceFault{"POST", "/sobjects/Account", 0, "LOSE_RESPONSE", 1, 0});
  auto id = env.client().Create("Account", Account("Maybe"));
  ASSERT_FALSE(id.ok());
  EXPECT_TRUE(id.status().IsUnavailable()) << id.status().ToString();
  // The create happened; a blind retry would have made a second one.
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 1);
}

// The same on a kept-alive connection: cpprest resends a request by itself when a pooled
// connection turns out closed while it reads the answer, whatever the method. A create must
// never go out on a pooled connection, or a lost answer would create the record twice.
TEST(SalesforceClient, LostAnswerToACreateOnAKeptAliveConnectionIsNotResent) {
  SalesforceEnv env;
  Status st;
  (void)QueryAll(env.client(), "SELECT Id FROM Account", &st);  // a pooled connection now
  ASSERT_TRUE(st.ok());
  (void)QueryAll(env.client(), "SELECT Id FROM Account", &st);
  const int64_t before = env.sandbox.requests_received();
  env.sandbox.AddFault(SalesforceFault{"POST", "/composite/sobjects", 0, "LOSE_RESPONSE", 1, 0});
  auto created = env.client().CreateMany("Account", {Account("Maybe A"), Account("Maybe B")});
  // The outcome is unknown to the client: it says so for each record, and does not guess.
  if (created.ok()) {
    for (const auto& r : *created) EXPECT_FALSE(r.success) << r.id;
  }
  EXPECT_EQ(env.sandbox.requests_received() - before, 1) << "the create was sent again";
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 2);
}

TEST(SalesforceClient, LostAnswerToAnUpsertIsRetriedWithoutDoubling) {
  SalesforceEnv env;
  env.sandbox.AddFault(
      SalesforceFault{"PATCH", "/sobjects/Account/Ext__c", 0, "LOSE_RESPONSE", 1, 0});
  auto r = env.client().Upsert("Account", "Ext__c", "E-9", Account("Once"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->created);  // the retry found the record the lost answer had made
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 1);
}

TEST(SalesforceClient, RecordLockedRowsAreRetriedAloneAndSucceed) {
  SalesforceEnv env;
  env.sandbox.AddFault(
      SalesforceFault{"POST", "/composite/sobjects", 0, "UNABLE_TO_LOCK_ROW", 2, 0});
  auto results = env.client().CreateMany("Account", {Account("L1"), Account("L2"), Account("L3")});
  ASSERT_TRUE(results.ok());
  for (const auto& r : *results) EXPECT_TRUE(r.success) << r.ErrorText();
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 3);  // nothing doubled
  EXPECT_EQ(env.sandbox.calls_by_endpoint()["POST /composite/sobjects"], 2);
}

TEST(SalesforceClient, AnUnprocessableRecordSurfacesWithItsField) {
  SalesforceEnv env;
  auto id = env.client().Create("Account", Account("Acme")).value();
  Json bad = Json::MakeObject();
  bad.Set("Industry", "Alchemy");
  Status st = env.client().Update("Account", id, bad);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("[Industry]"), std::string::npos) << st.ToString();
}

TEST(SalesforceClient, ExpiredSessionIsRefreshedOnceAndTheCallRepeated) {
  SalesforceEnv env;
  ASSERT_TRUE(env.client().Create("Account", Account("Before")).ok());
  EXPECT_EQ(env.connection->auth().fetch_count(), 1);
  env.sandbox.ExpireTokens();
  auto id = env.client().Create("Account", Account("After"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(env.connection->auth().fetch_count(), 2);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 2);
}

TEST(SalesforceClient, WrongClientSecretIsUnauthenticated) {
  connector::crm::salesforce::ConnectionOptions o;
  o.oauth.client_id = "tandem-sandbox";
  o.oauth.client_secret = "wrong-secret";
  SalesforceEnv env({}, o);
  auto r = env.client().Limits();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnauthenticated()) << r.status().ToString();
}

TEST(SalesforceClient, JwtBearerFlowSignedWithTheConfiguredKey) {
  const auto keys = testing::GenerateRsaKeyPair();
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.jwt_public_key_pem = keys.public_pem;
  connector::crm::salesforce::ConnectionOptions o;
  o.oauth.flow = "jwt_bearer";
  o.oauth.client_id = "tandem-sandbox";
  o.oauth.username = "integration@example.com";
  o.oauth.private_key = keys.private_pem;
  SalesforceEnv env(so, o);
  auto limits = env.client().Limits();
  ASSERT_TRUE(limits.ok()) << limits.status().ToString();

  const auto other = testing::GenerateRsaKeyPair();
  o.oauth.private_key = other.private_pem;
  SalesforceEnv wrong_key(so, o);
  auto refused = wrong_key.client().Limits();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("invalid assertion signature"), std::string::npos)
      << refused.status().ToString();
}

TEST(SalesforceClient, RefreshTokenFlow) {
  connector::crm::salesforce::ConnectionOptions o;
  o.oauth.flow = "refresh_token";
  o.oauth.client_id = "tandem-sandbox";
  o.oauth.refresh_token = "sandbox-refresh-token";
  SalesforceEnv env({}, o);
  EXPECT_TRUE(env.client().Limits().ok());
}

TEST(SalesforceClient, StopsCallingBelowTheDailyApiFloorAndSaysWhy) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.daily_api_max = 10'000;
  connector::crm::salesforce::ConnectionOptions o;
  o.api.daily_api_floor = 1000;
  SalesforceEnv env(so, o);
  env.sandbox.SetApiUsage(9'500);
  auto first = env.client().Limits();  // answered; the header now says 499 remain
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->daily_remaining, 499);
  const int64_t calls_before = env.sandbox.api_calls();
  auto second = env.client().Create("Account", Account("Refused"));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsRateLimited());
  EXPECT_NE(second.status().message().find("below the configured floor of 1000"),
            std::string::npos);
  EXPECT_EQ(env.sandbox.api_calls(), calls_before);  // not even sent
}

TEST(SalesforceClient, DescribeListsFieldsWithTheirProperties) {
  SalesforceEnv env;
  auto d = env.client().Describe("Account");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  bool found = false;
  for (const auto& f : (*d)["fields"].array()) {
    if (f["name"].as_string() != "Billing_Id__c") continue;
    found = true;
    EXPECT_TRUE(f["externalId"].as_bool());
    EXPECT_EQ(f["type"].as_string(), "string");
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(env.client().Describe("Nope__c").status().IsNotFound());
}

TEST(SalesforceClient, BulkIngestOfTwentyThousandRowsMapsResultsToInputOrder) {
  connector::crm::salesforce::ConnectionOptions o;
  o.api.bulk_max_rows_per_job = 8000;  // forces three jobs
  SalesforceEnv env({}, o);
  BulkRequest req;
  req.object = "Account";
  req.operation = BulkOperation::kInsert;
  req.columns = {"Name", "Ext__c"};
  for (int i = 0; i < 20000; ++i)
    req.rows.push_back(
        {i == 12345 ? "" : "Row, \"" + std::to_string(i) + "\"", "R-" + std::to_string(i)});
  std::vector<std::string> recorded;
  req.on_job_created = [&](const std::string& id) {
    recorded.push_back(id);
    return Status::Ok();
  };
  auto result = env.client().BulkIngest(req);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->job_ids.size(), 3u);
  EXPECT_EQ(recorded, result->job_ids);
  EXPECT_EQ(result->succeeded, 19999);
  EXPECT_EQ(result->failed, 1);
  EXPECT_EQ(result->unprocessed, 0);
  ASSERT_EQ(result->rows.size(), 20000u);
  EXPECT_FALSE(result->rows[12345].success);
  EXPECT_NE(result->rows[12345].error.find("REQUIRED_FIELD_MISSING"), std::string::npos);
  EXPECT_TRUE(result->rows[12346].success);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 19999);

  // Each success names the record made from that very row.
  Status st;
  auto check = QueryAll(env.client(),
                        "SELECT Id, Ext__c FROM Account WHERE Ext__c IN ('R-0', 'R-19999')", &st);
  ASSERT_EQ(check.size(), 2u);
  for (const auto& r : check) {
    const int row = std::stoi(r["Ext__c"].as_string().substr(2));
    EXPECT_EQ(result->rows[static_cast<size_t>(row)].id, r["Id"].as_string());
  }

  // Re-attaching to a finished job (after a crash) gives the same answers.
  BulkRequest part = req;
  part.rows.assign(req.rows.begin() + 16000, req.rows.end());
  auto again = env.client().BulkAttach(result->job_ids[2], part);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->succeeded, 4000);
  EXPECT_EQ(again->rows[0].id, result->rows[16000].id);
}

TEST(SalesforceClient, BulkUpsertByExternalIdUpdatesExistingRows) {
  SalesforceEnv env;
  Json existing = Account("Old name");
  existing.Set("Ext__c", "B-1");
  ASSERT_TRUE(env.client().Create("Account", existing).ok());
  BulkRequest req;
  req.object = "Account";
  req.operation = BulkOperation::kUpsert;
  req.external_id_field = "Ext__c";
  req.columns = {"Ext__c", "Name"};
  req.rows = {{"B-1", "New name"}, {"B-2", "Second"}};
  const int64_t calls_before = env.counter.Total("salesforce").calls;
  auto result = env.client().BulkIngest(req);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_FALSE(result->rows[0].created);
  EXPECT_TRUE(result->rows[1].created);
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 2);
  // Fewest calls (issue 19): create, upload, close, two polls (the sandbox answers InProgress
  // once, as Salesforce does), the successful results; the job's counts say there are no
  // failed or unprocessed rows to fetch.
  EXPECT_EQ(env.counter.Total("salesforce").calls - calls_before, 6);
  for (const auto& [endpoint, counts] : env.counter.Snapshot()) {
    EXPECT_EQ(endpoint.find("failedResults"), std::string::npos) << endpoint;
    EXPECT_EQ(endpoint.find("unprocessedrecords"), std::string::npos) << endpoint;
  }
}

// Work-order tasks write one record each from many threads. Through the coalescing client, 40
// single upserts at once (the CRM at 50 ms) go in a few Collections calls; each caller gets
// its own record's result: the created id, its own record's fault (a bad picklist value) as
// InvalidArgument naming the field, several matching records as a Conflict (never a guess).
TEST(CoalescingCrmClient, ConcurrentSingleWritesShareCallsAndKeepTheirOwnResults) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {50, 0};
  SalesforceEnv env(so);
  for (int i = 0; i < 2; ++i) {
    Json contact = Json::MakeObject();
    contact.Set("LastName", "Twin " + std::to_string(i));
    contact.Set("Legacy_Id__c", "L-7");
    ASSERT_TRUE(env.client().Create("Contact", contact).ok());
  }
  CoalescingCrmClient coalesced(env.client());
  const int64_t calls_before = env.sandbox.api_calls();
  constexpr int kWriters = 40;
  std::vector<Result<SaveResult>> results(kWriters, Status::Internal("not run"));
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.emplace_back([&, i] {
      Json fields = Account("Writer " + std::to_string(i));
      if (i == 7) fields.Set("Industry", "Alchemy");
      results[i] = coalesced.Upsert("Account", "Ext__c", "W" + std::to_string(i), fields);
    });
  for (auto& t : writers) t.join();
  const int64_t calls = env.sandbox.api_calls() - calls_before;
  EXPECT_EQ(coalesced.counts().writes, kWriters);
  EXPECT_EQ(coalesced.counts().describes, 1) << "Ext__c's case sensitivity, asked once";
  EXPECT_EQ(coalesced.counts().calls + coalesced.counts().describes, calls);
  EXPECT_LE(calls, 10) << "40 writes at once went one call each";
  EXPECT_GE(calls, 1);
  for (int i = 0; i < kWriters; ++i) {
    if (i == 7) {
      ASSERT_FALSE(results[i].ok());
      EXPECT_TRUE(results[i].status().IsInvalidArgument()) << results[i].status().ToString();
      EXPECT_NE(results[i].status().message().find("Industry"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_TRUE(results[i]->created);
    Status st;
    auto rows =
        QueryAll(env.client(),
                 "SELECT Id, Name FROM Account WHERE Ext__c = 'W" + std::to_string(i) + "'", &st);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["Id"].as_string(), results[i]->id) << "each caller got its own record";
    EXPECT_EQ(rows[0]["Name"].as_string(), "Writer " + std::to_string(i));
  }
  EXPECT_EQ(env.sandbox.CountRecords("Account"), kWriters - 1);

  Json change = Json::MakeObject();
  change.Set("LastName", "Which one?");
  auto twin = coalesced.Upsert("Contact", "Legacy_Id__c", "L-7", change);
  ASSERT_FALSE(twin.ok());
  EXPECT_TRUE(twin.status().IsConflict()) << twin.status().ToString();
  EXPECT_TRUE(coalesced.Upsert("Account", "Ext__c", "", Account("x")).status().IsInvalidArgument());
}

// Updates coalesce the same way, each caller's records in its own order; a call that fails as
// a whole (the CRM unavailable) fails each of its callers as something to retry, never as the
// record's own fault, and the callers behind it still get their turn.
TEST(CoalescingCrmClient, UpdatesShareCallsAndAFailedCallIsTransientForEveryCaller) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {50, 0};
  salesforce::ConnectionOptions co;
  co.max_attempts = 1;  // the failure reaches the callers instead of being retried away
  SalesforceEnv env(so, co);
  std::vector<Json> accounts;
  for (int i = 0; i < 30; ++i) accounts.push_back(Account("Before " + std::to_string(i)));
  auto created = env.client().CreateMany("Account", accounts);
  ASSERT_TRUE(created.ok());
  CoalescingCrmClient coalesced(env.client());
  auto update_all = [&](const std::string& name) {
    std::vector<Result<std::vector<SaveResult>>> results(15, Status::Internal("not run"));
    std::vector<std::thread> writers;
    for (int i = 0; i < 15; ++i)
      writers.emplace_back([&, i] {
        std::vector<Json> two;
        for (int k : {2 * i, 2 * i + 1}) {
          Json r = Account(name + " " + std::to_string(k));
          r.Set("Id", (*created)[k].id);
          two.push_back(r);
        }
        results[i] = coalesced.UpdateMany("Account", two);
      });
    for (auto& t : writers) t.join();
    return results;
  };
  const int64_t before = coalesced.counts().calls;
  auto updated = update_all("After");
  EXPECT_LE(coalesced.counts().calls - before, 6) << "15 updates at once went one call each";
  for (int i = 0; i < 15; ++i) {
    ASSERT_TRUE(updated[i].ok()) << updated[i].status().ToString();
    ASSERT_EQ(updated[i]->size(), 2u);
    EXPECT_EQ((*updated[i])[0].id, (*created)[2 * i].id) << "the caller's records, in its order";
    EXPECT_EQ((*updated[i])[1].id, (*created)[2 * i + 1].id);
  }
  EXPECT_EQ(
      env.client().Retrieve("Account", (*created)[29].id, {"Name"}).value()["Name"].as_string(),
      "After 29");

  env.sandbox.AddFault(
      SalesforceFault{"PATCH", "/composite/sobjects", 503, "SERVER_UNAVAILABLE", 1, 0});
  auto failed = update_all("Again");
  int refused = 0;
  for (const auto& r : failed) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& one : *r)
      if (!one.success) {
        ++refused;
        EXPECT_TRUE(one.ToStatus("update").IsUnavailable()) << one.ErrorText();
      }
  }
  EXPECT_GE(refused, 2) << "the failed call carried at least one caller's records";
  EXPECT_LT(refused, 30) << "the callers behind the failed call were sent";

  // A single upsert whose call fails is retryable, not the record's fault.
  env.sandbox.AddFault(
      SalesforceFault{"PATCH", "/composite/sobjects", 503, "SERVER_UNAVAILABLE", 1, 0});
  auto lone = coalesced.Upsert("Account", "Ext__c", "LONE", Account("Lone"));
  ASSERT_FALSE(lone.ok());
  EXPECT_TRUE(lone.status().IsUnavailable()) << lone.status().ToString();
}

// Salesforce refuses a record named twice in one call (every occurrence fails). Two tasks can
// write one record at once (two reports of one Order, one service's inventory twice): the
// second write waits for the next call, and the last one written is the last one asked for.
TEST(CoalescingCrmClient, TwoWritesToOneRecordNeverShareACall) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {50, 0};
  SalesforceEnv env(so);
  std::vector<Json> accounts;
  for (int i = 0; i < 10; ++i) accounts.push_back(Account("Before " + std::to_string(i)));
  auto created = env.client().CreateMany("Account", accounts);
  ASSERT_TRUE(created.ok());
  // The emulator refuses a twin in one call, as Salesforce does; the test's premise.
  {
    std::vector<Json> twins(2, Account("Twin"));
    for (auto& t : twins) t.Set("Id", (*created)[0].id);
    auto refused = env.client().UpdateMany("Account", twins);
    ASSERT_TRUE(refused.ok());
    EXPECT_FALSE((*refused)[0].success);
    EXPECT_FALSE((*refused)[1].success);
  }
  CoalescingCrmClient coalesced(env.client());
  constexpr int kWriters = 21;  // the first goes alone; 20 queue behind it: each account twice
  std::vector<Result<std::vector<SaveResult>>> updated(kWriters, Status::Internal("not run"));
  std::vector<Result<SaveResult>> upserted(kWriters, Status::Internal("not run"));
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.emplace_back([&, i] {
      Json r = Account("Writer " + std::to_string(i));
      r.Set("Id", (*created)[i % 10].id);
      updated[i] = coalesced.UpdateMany("Account", {r});
      upserted[i] = coalesced.Upsert("Account", "Ext__c", "E" + std::to_string(i % 10),
                                     Account("Upserter " + std::to_string(i)));
    });
  for (auto& t : writers) t.join();
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(updated[i].ok()) << updated[i].status().ToString();
    EXPECT_TRUE((*updated[i])[0].success) << i << ": " << (*updated[i])[0].ErrorText();
    EXPECT_TRUE(upserted[i].ok()) << i << ": " << upserted[i].status().ToString();
  }
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 20) << "10 created, 10 upserted, none twice";
  EXPECT_LT(coalesced.counts().calls, 2 * kWriters) << "the writes still shared calls";
}

// Upserts whose external ids differ in case alone name two records when the field is
// case-sensitive (its describe says so) and share a call; on a field that ignores case they
// name one record, so they never share a call (Salesforce would refuse both).
TEST(CoalescingCrmClient, ExternalIdsDifferingInCaseShareACallOnlyWhenTheFieldIsCaseSensitive) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {300, 0};
  SalesforceEnv env(so);
  CoalescingCrmClient coalesced(env.client());
  // A write in flight, so that the pairs below queue together behind it.
  auto together = [&](const std::string& object, const std::string& field,
                      const std::vector<std::string>& values) {
    // The field's describe first: the writers below would wait for it and queue as one.
    Json warm = Json::MakeObject();
    warm.Set("Name", "Warm");
    EXPECT_TRUE(coalesced.Upsert(object, field, "warm-" + object, warm).ok());
    const int64_t calls_before = coalesced.counts().calls;
    std::vector<Result<SaveResult>> saved(values.size() + 1, Status::Internal("not run"));
    std::vector<std::thread> writers;
    writers.emplace_back([&] {
      Json fields = Json::MakeObject();
      fields.Set("Name", "First");
      saved[0] = coalesced.Upsert(object, field, "first-" + object, fields);
    });
    // Until its call is out (a fixed pause let the pair go first on a loaded machine).
    while (coalesced.counts().calls == calls_before)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (size_t i = 0; i < values.size(); ++i)
      writers.emplace_back([&, i] {
        Json fields = Json::MakeObject();
        fields.Set("Name", values[i]);
        saved[i + 1] = coalesced.Upsert(object, field, values[i], fields);
      });
    for (auto& t : writers) t.join();
    for (const auto& r : saved) EXPECT_TRUE(r.ok()) << r.status().ToString();
    return coalesced.counts().calls - calls_before;
  };
  EXPECT_EQ(together("Service_Subscription__c", "Billing_Subscription_Id__c",
                     {"sub_SbxAAAAAAA04Im", "sub_SbxAAAAAAA04IM"}),
            2)
      << "the first write, then both values in one call (18 characters, as Stripe's ids: "
         "not cut to 15 as record ids are)";
  EXPECT_EQ(env.sandbox.CountRecords("Service_Subscription__c"), 4);
  EXPECT_EQ(together("Account", "Ext__c", {"acct-7a", "ACCT-7A"}), 3)
      << "values naming one record shared a call";
  EXPECT_EQ(env.sandbox.CountRecords("Account"), 3);
  EXPECT_EQ(coalesced.counts().describes, 2);
}

// A call Salesforce refuses as a whole (here a fault on the shared call and on the first caller
// sent again) is sent again one caller at a time: the refusal reaches one caller, never the
// callers whose records were fine.
TEST(CoalescingCrmClient, ARefusedSharedCallIsSentAgainPerCaller) {
  SalesforceEnv env;
  // The first call is slow (the others queue behind it); the next two calls are refused.
  env.sandbox.AddFault(SalesforceFault{"PATCH", "/composite/sobjects", 0, "", 1, 300});
  env.sandbox.AddFault(
      SalesforceFault{"PATCH", "/composite/sobjects", 400, "JSON_PARSER_ERROR", 2, 0});
  CoalescingCrmClient coalesced(env.client());
  std::thread first(
      [&] { EXPECT_TRUE(coalesced.Upsert("Account", "Ext__c", "FIRST", Account("First")).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its call is at the emulator
  constexpr int kBehind = 8;  // queued behind the first call: they go in one call
  std::vector<Result<SaveResult>> results(kBehind, Status::Internal("not run"));
  std::vector<std::thread> behind;
  for (int i = 0; i < kBehind; ++i)
    behind.emplace_back([&, i] {
      results[i] = coalesced.Upsert("Account", "Ext__c", "B" + std::to_string(i),
                                    Account("Behind " + std::to_string(i)));
    });
  first.join();
  for (auto& t : behind) t.join();
  int refused = 0;
  for (const auto& r : results) refused += !r.ok();
  EXPECT_EQ(refused, 1) << "only the caller whose own call was refused again";
  EXPECT_EQ(env.sandbox.CountRecords("Account"), kBehind);  // the first and 7 behind
  EXPECT_EQ(coalesced.counts().calls, 2 + kBehind) << "first, shared, then one per caller";
}

// A work order's account sync reads its one Account by id, from many threads at once. Through
// the coalescing client, 40 such reads (the CRM at 50 ms) arriving together share one or two
// queries (a query waits a moment for company); each caller
// gets its own records and no other's (many orders share one Account: ten callers also ask
// for the first reader's, one asks for its own twice), an id the CRM does not have gets
// nothing, and a caller's bad field name or a string that is no id fails it alone.
TEST(CoalescingCrmClient, ConcurrentReadsByIdShareQueriesAndEachGetsItsOwnRecord) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  so.latency = {50, 0};
  SalesforceEnv env(so);
  constexpr int kReaders = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kReaders; ++i)
    ids.push_back(env.client().Create("Account", Account("Reader " + std::to_string(i))).value());
  // A linger well above how far apart 40 threads released together arrive on a loaded machine
  // (the default's 20 ms is what a batch's reads need).
  CoalescingCrmClient coalesced(env.client(), std::chrono::milliseconds(250));
  const int64_t calls_before = env.sandbox.api_calls();
  std::vector<std::vector<Json>> got(kReaders);
  std::vector<Status> status(kReaders, Status::Internal("not run"));
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i)
    readers.emplace_back([&, i] {
      open.wait();  // every reader exists before the first asks
      std::vector<std::string> asked{ids[i]};
      if (i == 5) asked.push_back("001000000000000AAA");  // no such Account
      if (i == 6) asked.push_back(ids[i]);
      if (i >= 30) asked.push_back(ids[0]);
      status[i] = coalesced.QueryByIds("Account", {"Id", "Name"}, asked, [&](const Json& r) {
        got[i].push_back(r);
        return Status::Ok();
      });
    });
  gate.set_value();
  for (auto& t : readers) t.join();
  const int64_t calls = env.sandbox.api_calls() - calls_before;
  EXPECT_EQ(coalesced.counts().read_calls, calls);
  // A query waits for company: the 40 share one or two. Without that, the first 4 went alone
  // and the rest joined a fifth.
  EXPECT_LE(calls, 2) << "reads arriving together did not share their queries";
  EXPECT_GE(calls, 1);
  for (int i = 0; i < kReaders; ++i) {
    ASSERT_TRUE(status[i].ok()) << i << ": " << status[i].ToString();
    ASSERT_EQ(got[i].size(), i >= 30 ? 2u : 1u) << i << ": its own records, and only its own";
    std::map<std::string, std::string> names;
    for (const Json& r : got[i]) names[r["Id"].as_string()] = r["Name"].as_string();
    EXPECT_EQ(names[ids[i]], "Reader " + std::to_string(i));
    if (i >= 30) {
      EXPECT_EQ(names[ids[0]], "Reader 0");
    }
  }
  const int64_t before_bad = env.sandbox.api_calls();
  Status bad = coalesced.QueryByIds("Account", {"Name; DELETE"}, {ids[0]},
                                    [](const Json&) { return Status::Ok(); });
  EXPECT_TRUE(bad.IsInvalidArgument()) << bad.ToString();
  EXPECT_EQ(env.sandbox.api_calls(), before_bad);
  std::vector<Json> none;
  Status no_id =
      coalesced.QueryByIds("Account", {"Id", "Name"}, {"x' OR Name != '"}, [&](const Json& r) {
        none.push_back(r);
        return Status::Ok();
      });
  EXPECT_TRUE(none.empty()) << "a hostile string read a record";
  (void)no_id;  // asked alone, quoted: the CRM's answer (none, or a refusal) is that caller's
}

// A shared query the CRM refuses (as it would for one caller's malformed id) is asked again
// per caller, so the refusal reaches only the caller it belongs to; a query that fails because
// the CRM is unavailable fails every caller in it, as something to retry.
TEST(CoalescingCrmClient, ARefusedSharedQueryIsAskedAgainPerCaller) {
  sandbox::salesforce::SalesforceSandboxOptions so;
  salesforce::ConnectionOptions co;
  co.max_attempts = 1;  // the outage reaches the callers instead of being retried away
  SalesforceEnv env(so, co);
  constexpr int kSlow = 4;    // as many queries as go out at once: the others queue
  constexpr int kBehind = 8;  // queued behind them: they go in one query
  std::vector<std::string> ids;
  for (int i = 0; i < kSlow + kBehind; ++i)
    ids.push_back(env.client().Create("Account", Account("A" + std::to_string(i))).value());
  CoalescingCrmClient coalesced(env.client());
  auto read = [&](const std::string& id, std::vector<Json>* into) {
    return coalesced.QueryByIds("Account", {"Id", "Name"}, {id}, [into](const Json& r) {
      into->push_back(r);
      return Status::Ok();
    });
  };
  // kSlow slow reads, then kBehind more while they are out; returns the latter's outcomes.
  auto slow_then_behind = [&](std::vector<std::vector<Json>>* got) {
    const int64_t received = env.sandbox.requests_received();
    std::vector<std::thread> slow;
    // One after another, each at the emulator (held there 1 s) before the next: started at
    // once they would share a query (a query waits a moment for company).
    for (int i = 0; i < kSlow; ++i) {
      slow.emplace_back([&, i] {
        std::vector<Json> its;
        EXPECT_TRUE(read(ids[i], &its).ok());
      });
      for (int k = 0; k < 500 && env.sandbox.requests_received() < received + i + 1; ++k)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_EQ(env.sandbox.requests_received(), received + kSlow) << "the slow reads went alone";
    got->assign(kBehind, {});
    std::vector<Status> status(kBehind, Status::Internal("not run"));
    std::vector<std::thread> behind;
    for (int i = 0; i < kBehind; ++i)
      behind.emplace_back([&, i] { status[i] = read(ids[kSlow + i], &(*got)[i]); });
    for (auto& t : slow) t.join();
    for (auto& t : behind) t.join();
    return status;
  };

  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 0, "", kSlow, 1000});
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 400, "MALFORMED_QUERY", 2, 0});
  std::vector<std::vector<Json>> got;
  auto status = slow_then_behind(&got);
  int refused = 0;
  for (int i = 0; i < kBehind; ++i) {
    if (!status[i].ok()) {
      ++refused;
      EXPECT_FALSE(status[i].IsUnavailable()) << status[i].ToString();
      continue;
    }
    ASSERT_EQ(got[i].size(), 1u);
    EXPECT_EQ(got[i][0]["Id"].as_string(), ids[kSlow + i]);
  }
  EXPECT_EQ(refused, 1) << "only the caller whose own query was refused again";
  EXPECT_EQ(coalesced.counts().read_calls, kSlow + 1 + kBehind)
      << "the slow ones, the shared one, then one per caller";

  // An outage is every caller's: the shared query is not asked again per caller.
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 0, "", kSlow, 1000});
  env.sandbox.AddFault(SalesforceFault{"GET", "/query", 503, "SERVER_UNAVAILABLE", 100, 0});
  const int64_t requests_before = env.sandbox.requests_received();
  status = slow_then_behind(&got);
  for (const auto& st : status) EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_EQ(env.sandbox.requests_received() - requests_before, kSlow + 1)
      << "the slow ones, then the shared one";
}

// The sandbox's tally (benches watch a run's end with it): records per value of a field, read
// without an API call, so a bench polling it adds nothing to the counts it reports.
TEST(SalesforceSandboxTally, CountsRecordsPerValueOfAFieldWithoutAnApiCall) {
  SalesforceEnv env;
  for (const char* industry : {"Technology", "Technology", "Retail"}) {
    Json fields = Json::MakeObject();
    fields.Set("Name", std::string("Tally ") + industry);
    fields.Set("Industry", industry);
    ASSERT_TRUE(env.client().Create("Account", fields).ok());
  }
  Json bare = Json::MakeObject();
  bare.Set("Name", "Tally none");
  ASSERT_TRUE(env.client().Create("Account", bare).ok());
  connector::http::RestClientOptions o;
  o.base_url = env.sandbox.base_url();
  o.retry.max_attempts = 1;
  connector::http::RestClient admin(o, {env.clock, env.sleeper, env.random, env.counter}, nullptr);
  const int64_t calls_before = env.sandbox.api_calls();
  auto tally = admin.PostJson("/__sandbox/tally", R"({"object":"account","field":"Industry"})");
  ASSERT_TRUE(tally.ok()) << tally.status().ToString();
  ASSERT_EQ(tally->status, 200) << tally->body;
  const Json counts = Json::Parse(tally->body).value_or(Json());
  EXPECT_EQ(counts["Technology"].as_int(), 2) << tally->body;
  EXPECT_EQ(counts["Retail"].as_int(), 1) << tally->body;
  EXPECT_EQ(counts[""].as_int(), 1) << "a record without the field: " << tally->body;
  EXPECT_EQ(env.sandbox.api_calls(), calls_before) << "the tally counted as an API call";
  auto unknown = admin.PostJson("/__sandbox/tally", R"({"object":"Nope","field":"Name"})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  auto malformed = admin.PostJson("/__sandbox/tally", R"({"object":"Account"})");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400);
}

}  // namespace
}  // namespace tandem::connector::crm
