// Step 3 end to end: the Salesforce sandbox, the Stripe sandbox and a real store (SQLite and
// PostgreSQL), wired as the app wires them.
#include "actions/sync.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "actions/change_poller.h"
#include "actions/sync_retrier.h"
#include "connector/billing/stripe/connection.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"

namespace tandem::actions {
namespace {

using testing::ScopedStore;
using testing::StoreBackend;

class SyncTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    actions_ = std::make_unique<Actions>(
        ActionDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock},
        "test:sync");
  }

  std::vector<std::string> MakeAccounts(int n, const std::string& prefix = "Acme") {
    std::vector<Json> records;
    for (int i = 0; i < n; ++i) {
      Json a = Json::MakeObject();
      a.Set("Name", prefix + " " + std::to_string(i));
      a.Set("Type", i % 2 ? "Partner" : "Customer - Direct");
      a.Set("BillingCity", "Lisbon");
      a.Set("AnnualRevenue", 1000.5 + i);
      a.Set("CurrencyIsoCode", "EUR");
      records.push_back(a);
    }
    std::vector<std::string> ids;
    auto created = crm_.client().CreateMany("Account", records);
    EXPECT_TRUE(created.ok());
    for (const auto& r : *created) ids.push_back(r.id);
    return ids;
  }

  int64_t CrmCalls(const std::string& endpoint) {
    return crm_.sandbox.calls_by_endpoint()[endpoint];
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  mapping::Mapping mapping_;
  std::unique_ptr<Actions> actions_;
};

TEST_P(SyncTest, AThousandAccountsCostFiveCrmReadsAndFiveCrmWrites) {
  const auto ids = MakeAccounts(1000);
  const int64_t reads = CrmCalls("GET /query"), writes = CrmCalls("PATCH /composite/sobjects");
  auto report = actions_->Sync("account", ids);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->created, 1000);
  EXPECT_EQ(report->failed, 0);
  EXPECT_EQ(report->writeback_failed, 0);
  EXPECT_EQ(CrmCalls("GET /query") - reads, 5);
  EXPECT_EQ(CrmCalls("PATCH /composite/sobjects") - writes, 5);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 1000);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 1000);
  EXPECT_EQ((*store_)->CountAudit("account").value(), 1000);

  // The link fields are in the CRM, and billing carries the CRM id and the mapped values.
  auto back = crm_.client().Retrieve("Account", ids[7],
                                     {"Billing_Id__c", "Sync_Status__c", "Last_Sync_Time__c"});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)["Billing_Id__c"].as_string(), report->outcomes[7].remote_id);
  EXPECT_EQ((*back)["Sync_Status__c"].as_string(), "Synced");
  auto customer = stripe_.billing().GetAccount(report->outcomes[7].remote_id).value();
  EXPECT_EQ(customer.external_key, ids[7]);
  EXPECT_EQ(customer.name, "Acme 7");
  EXPECT_EQ(customer.address.city, "Lisbon");
  EXPECT_EQ(customer.metadata.at("segment"), "partner");
  EXPECT_EQ(customer.metadata.at("annual_revenue_minor"), "100750");
}

// A sync goes in 200-id slices, pipelined (one read ahead, one being recorded): each slice is
// reported in input order as it is recorded, with its own outcomes and counts; an id given
// twice takes its first occurrence's outcome, whichever slice it falls in.
TEST_P(SyncTest, ALongSyncReportsEachSliceInOrderAsItIsRecorded) {
  auto ids = MakeAccounts(450);
  ids.push_back(ids[0]);             // position 450: a duplicate of position 0
  ids.push_back("001' OR Id != '");  // position 451: refused alone
  std::vector<size_t> firsts, sizes;
  int64_t links_when_reported = -1;
  auto report = actions_->Sync(
      "account", ids, SyncMode::kIfChanged, [&](size_t first, const SyncReport& slice) {
        firsts.push_back(first);
        sizes.push_back(slice.outcomes.size());
        if (first == 0) {
          EXPECT_EQ(slice.created, 200);
          links_when_reported = (*store_)->CountLinks("account").value();
        }
        if (first == 400) {
          EXPECT_EQ(slice.created, 51);  // 50 new, and the duplicate's outcome
          EXPECT_EQ(slice.failed, 1);
          EXPECT_EQ(slice.outcomes[50].kind, Outcome::Kind::kCreated);
        }
        return true;
      });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(firsts, (std::vector<size_t>{0, 200, 400}));
  EXPECT_EQ(sizes, (std::vector<size_t>{200, 200, 52}));
  EXPECT_GE(links_when_reported, 200) << "a slice is reported once its links are recorded";
  EXPECT_EQ(report->outcomes[450].kind, Outcome::Kind::kCreated);
  EXPECT_EQ(report->outcomes[450].remote_id, report->outcomes[0].remote_id);
  EXPECT_TRUE(report->outcomes[451].failed());
  EXPECT_EQ(report->created, 451);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 450);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 450);
}

// Told to stop after the first slice, a sync records the slices in hand — the one reported and
// the one whose billing writes were already in flight — and begins no other: every customer
// billing holds is linked, nothing is left written but unrecorded.
TEST_P(SyncTest, AStoppedSyncRecordsTheSlicesInHandAndBeginsNoOther) {
  const auto ids = MakeAccounts(1000);
  int reported = 0;
  auto report =
      actions_->Sync("account", ids, SyncMode::kIfChanged, [&](size_t, const SyncReport&) {
        ++reported;
        return false;
      });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(reported, 2);
  EXPECT_EQ(report->created, 400);
  EXPECT_EQ(report->outcomes[399].kind, Outcome::Kind::kCreated);
  EXPECT_TRUE(report->outcomes[400].remote_id.empty()) << "not begun";
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 400);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 400);
  EXPECT_EQ((*store_)->CountAudit("account").value(), 400);
}

// The CRM refuses to be read in the middle of a long sync: the sync fails with the CRM's
// error, the slices billed before it are recorded (links, audit), and billing holds nothing
// Tandem did not record.
TEST_P(SyncTest, ACrmThatStopsAnsweringMidSyncLeavesEveryBilledSliceRecorded) {
  const auto ids = MakeAccounts(1000);
  bool armed = false;
  auto report =
      actions_->Sync("account", ids, SyncMode::kIfChanged, [&](size_t, const SyncReport&) {
        if (!armed)  // from now on every read is refused
          crm_.sandbox.AddFault({"GET", "/query", 400, "MALFORMED_QUERY", 1000, 0});
        armed = true;
        return true;
      });
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("MALFORMED_QUERY"), std::string::npos)
      << report.status().ToString();
  const int64_t customers = stripe_.sandbox.CountObjects("customer");
  EXPECT_GE(customers, 400) << "the slices read before the fault were billed";
  EXPECT_LT(customers, 1000);
  EXPECT_EQ((*store_)->CountLinks("account").value(), customers);
  EXPECT_EQ((*store_)->CountAudit("account").value(), customers);
  EXPECT_GE(crm_.sandbox.FaultHits()["400"], 1);
}

TEST_P(SyncTest, ASecondSyncWithNoChangeMakesNoBillingWriteAndTandemsWriteBackDoesNotEcho) {
  const auto ids = MakeAccounts(50);
  ASSERT_TRUE(actions_->Sync("account", ids).ok());
  const int64_t stripe_requests = stripe_.sandbox.requests();
  const int64_t crm_writes = CrmCalls("PATCH /composite/sobjects");
  auto again = actions_->Sync("account", ids);  // the records now carry Tandem's link fields
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 50);
  EXPECT_EQ(stripe_.sandbox.requests(), stripe_requests);  // not a single billing call
  EXPECT_EQ(CrmCalls("PATCH /composite/sobjects"), crm_writes);

  Json rename = Json::MakeObject();
  rename.Set("Name", "Acme Renamed");
  ASSERT_TRUE(crm_.client().Update("Account", ids[3], rename).ok());
  auto third = actions_->Sync("account", ids);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->updated, 1);
  EXPECT_EQ(third->unchanged, 49);
  EXPECT_EQ(stripe_.billing().GetAccount(third->outcomes[3].remote_id).value().name,
            "Acme Renamed");
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 50);
}

TEST_P(SyncTest, ARecordThatCannotBeMappedFailsAloneWithItsReason) {
  // A mapping whose picklist map lacks "Partner" and has no default.
  for (auto& o : mapping_.objects)
    if (o.name == "account")
      for (auto& f : o.fields)
        if (f.crm == "Type") {
          f.value_map.erase("Partner");
          f.default_value.reset();
        }
  const auto ids = MakeAccounts(4);
  std::vector<std::string> request = ids;
  request.push_back("001' OR Name != '");
  auto report = actions_->Sync("account", request);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->created, 2);
  EXPECT_EQ(report->failed, 3);
  EXPECT_TRUE(report->outcomes[1].failed());
  EXPECT_EQ(report->outcomes[1].field, "Type");
  EXPECT_NE(report->outcomes[1].reason.find("'Partner' has no billing value"), std::string::npos);
  EXPECT_EQ(report->outcomes[4].field, "Id");
  auto back =
      crm_.client().Retrieve("Account", ids[1], {"Sync_Status__c", "Last_Sync_Error__c"}).value();
  EXPECT_EQ(back["Sync_Status__c"].as_string(), "Error");
  EXPECT_NE(back["Last_Sync_Error__c"].as_string().find("Partner"), std::string::npos);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 2);
}

TEST_P(SyncTest, OpenGivesTheBillingUrlAndQueryShowsDriftBeforeSyncing) {
  const auto ids = MakeAccounts(2);
  auto synced = actions_->Sync("account", ids).value();
  auto open = actions_->Open("account", {ids[0], "001000000000000AAA"}).value();
  EXPECT_EQ(open[0].url,
            "https://dashboard.stripe.com/test/customers/" + synced.outcomes[0].remote_id);
  EXPECT_EQ(open[1].error, "not synced to billing yet");

  // Someone edits the customer in billing, behind Tandem's back.
  connector::billing::BillingAccount edit;
  edit.name = "Edited In Billing";
  ASSERT_TRUE(
      stripe_.billing().UpdateAccount(synced.outcomes[0].remote_id, edit, "manual-edit").ok());
  auto query = actions_->Query("account", ids).value();
  ASSERT_EQ(query[0].diffs.size(), 1u);
  EXPECT_EQ(query[0].diffs[0].field, "name");
  EXPECT_EQ(query[0].diffs[0].crm_value, "Acme 0");
  EXPECT_EQ(query[0].diffs[0].billing_value, "Edited In Billing");
  EXPECT_TRUE(query[1].diffs.empty());
}

TEST_P(SyncTest, UnknownOrNonCustomerObjectsAreRefusedWhole) {
  EXPECT_TRUE(actions_->Sync("nope", {}).status().IsNotFound());
  EXPECT_TRUE(actions_->Sync("product", {}).status().IsInvalidArgument());
}

// A sync keeps several billing writes in flight, and the client's rate limit keeps them
// under billing's: against a Stripe sandbox refusing more than 40 requests a second, 120
// accounts are created with 16 in flight at 75 % of that limit, each once, without one 429. The
// same sync without the client's limit is refused (the sandbox does count).
TEST_P(SyncTest, BillingWritesRunConcurrentlyWithinBillingsRateLimit) {
  std::chrono::steady_clock::duration took{};
  auto run = [&](const std::vector<std::string>& ids, double client_rate, int64_t* refused,
                 store::Store& store) {
    // A create answers in 200 ms, as a real one does: one at a time, 120 would take 24 s.
    testing::RateLimitedStripe stripe(40, "/v1/customers", 200, client_rate, 3);
    auto& billing = stripe.sandbox;
    auto& connection = *stripe.connection;
    const Clock& clock = stripe.clock;
    Actions concurrent(ActionDeps{crm_.client(), connection.billing(), store, mapping_, clock},
                       "test:concurrent", ActionOptions{16, {}});
    const auto started = std::chrono::steady_clock::now();
    auto report = concurrent.Sync("account", ids);
    took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    *refused = billing.rate_limited();
    return std::make_pair(report.ok() ? report->created : -1, billing.CountObjects("customer"));
  };
  int64_t refused = -1;
  // 30 a second: 75 % of billing's limit, the margin a client keeps for clocks that differ
  // and a busy machine's jitter (the sandbox counts in one-second windows).
  const auto [created, customers] = run(MakeAccounts(120, "Limited"), 30, &refused, **store_);
  EXPECT_EQ(created, 120);
  EXPECT_EQ(customers, 120) << "each account once";
  EXPECT_EQ(refused, 0) << "16 in flight, never above billing's 40 a second";
  // In flight together: about 4 s at 30 a second; one at a time it cannot be under 24 s.
  EXPECT_LT(took, std::chrono::seconds(14)) << "the creates did not run concurrently";

  // A store of its own: the second sandbox issues the first one's customer ids again.
  ScopedStore control(StoreBackend{"sqlite"}, "concurrent_control");
  ASSERT_TRUE(control.Open().ok());
  int64_t over_refused = -1;
  const auto [over_created, over_customers] =
      run(MakeAccounts(120, "Over"), 200, &over_refused, *control);
  EXPECT_GT(over_refused, 0) << "with the client's limit above billing's the sandbox refuses some";
  EXPECT_EQ(over_created, 120) << "refused creates are sent again, and back off";
  EXPECT_EQ(over_customers, 120);
}

// Billing is down for the first sync: the records are listed for a retry, which does nothing
// before it is due, then brings them to billing once (keyed) and drops them from the list; a
// record that keeps failing is given up after the give-up age and stays listed.
TEST_P(SyncTest, FailedRecordsAreRetriedOnTheirScheduleUntilTheySucceedOrAreGivenUp) {
  const auto ids = MakeAccounts(3, "Retry");
  stripe_.sandbox.AddFault({"POST", "/v1/customers", 503, "", -1, 0});
  auto first = actions_->Sync("account", ids);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->failed, 3);
  store::SyncFailureFilter pending;
  pending.state = "pending";
  auto listed = (*store_)->ListSyncFailures(pending).value();
  ASSERT_EQ(listed.size(), 3u);
  const int64_t failed_at = listed[0].first_failed_ms;
  EXPECT_EQ(listed[0].attempts, 1);
  EXPECT_EQ(*listed[0].next_retry_ms - listed[0].last_failed_ms, 30 * 60'000);
  EXPECT_NE(listed[0].last_error.find("Unavailable: stripe POST /v1/customers"), std::string::npos)
      << listed[0].last_error;

  const store::RetryPolicy policy;  // 30 min, doubling to 12 h, for 7 days
  Actions retry_actions(
      ActionDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock},
      "tandem:retry");
  SyncRetrier retrier(retry_actions, **store_, stripe_.clock, policy);
  EXPECT_EQ(retrier.RunDue().value().retried, 0);  // not due yet
  stripe_.clock.Advance(std::chrono::minutes(31));
  auto second = retrier.RunDue().value();  // billing still down: 1 h later next
  EXPECT_EQ(second.retried, 3);
  EXPECT_EQ(second.failed, 3);
  listed = (*store_)->ListSyncFailures(pending).value();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].attempts, 2);
  EXPECT_EQ(listed[0].first_failed_ms, failed_at);
  EXPECT_EQ(*listed[0].next_retry_ms - listed[0].last_failed_ms, 60 * 60'000);

  // Billing is back, but refuses the first record's create (a 400 is not retried at once).
  stripe_.sandbox.ClearFaults();
  stripe_.sandbox.AddFault({"POST", "/v1/customers", 400, "parameter_invalid", 1, 0});
  stripe_.clock.Advance(std::chrono::minutes(61));
  auto third = retrier.RunDue().value();
  EXPECT_EQ(third.retried, 3);
  EXPECT_EQ(third.succeeded, 2);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 2);
  listed = (*store_)->ListSyncFailures(store::SyncFailureFilter{}).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].attempts, 3);
  const std::string stuck = listed[0].crm_id;
  const std::string done = stuck == ids[0] ? ids[1] : ids[0];
  // Audited as the retrier: who did it is the first question of a support case.
  const auto audit = (*store_)->AuditFor("account", done).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().actor, "tandem:retry");

  // Seven days on, always failing: given up, listed, never due again.
  stripe_.sandbox.AddFault({"POST", "/v1/customers", 400, "parameter_invalid", -1, 0});
  for (int day = 0; day < 8; ++day) {
    stripe_.clock.Advance(std::chrono::hours(13));
    ASSERT_TRUE(retrier.RunDue().ok());
    stripe_.clock.Advance(std::chrono::hours(11));
    ASSERT_TRUE(retrier.RunDue().ok());
  }
  store::SyncFailureFilter given_up;
  given_up.state = "given_up";
  listed = (*store_)->ListSyncFailures(given_up).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].next_retry_ms.has_value());
  EXPECT_GE(listed[0].attempts, 10);  // twice a day at most, once it reached 12 h
  EXPECT_LE(listed[0].last_failed_ms - listed[0].first_failed_ms, policy.give_up_after_ms);
  stripe_.clock.Advance(std::chrono::hours(24));
  EXPECT_EQ(retrier.RunDue().value().retried, 0);
  // A sync by hand that succeeds takes it off the list.
  stripe_.sandbox.ClearFaults();
  EXPECT_EQ(actions_->Sync("account", {stuck}).value().created, 1);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 3);
  EXPECT_TRUE((*store_)->ListSyncFailures(store::SyncFailureFilter{}).value().empty());
}

// A retry listed under an object map since removed from the mapping is given up (with why), and
// it does not hold up the records of the maps after it.
TEST_P(SyncTest, ARetryOfAnObjectMapNoLongerMappedIsGivenUpAndTheOthersStillRun) {
  const auto ids = MakeAccounts(1, "Gone");
  const int64_t hour_ago = ToEpochMillis(stripe_.clock.Now()) - 3'600'000;
  const store::RetryPolicy policy;
  ASSERT_TRUE(
      (*store_)
          ->NoteSyncOutcomes("aaa_removed", {{"001000000000001AAA", "old"}}, {}, policy, hour_ago)
          .ok());
  ASSERT_TRUE((*store_)
                  ->NoteSyncOutcomes("account", {{ids[0], "billing down"}}, {}, policy, hour_ago)
                  .ok());
  SyncRetrier retrier(*actions_, **store_, stripe_.clock, policy);
  const RetryRound round = retrier.RunDue().value();
  EXPECT_EQ(round.succeeded, 1);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 1);
  const auto left = (*store_)->ListSyncFailures(store::SyncFailureFilter{}).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].object, "aaa_removed");
  EXPECT_FALSE(left[0].next_retry_ms.has_value());
  EXPECT_NE(left[0].last_error.find("no object map 'aaa_removed'"), std::string::npos)
      << left[0].last_error;
}

// `sync: on_change`: switched on, the poller syncs what the CRM changes from then on, only the
// eligible records (by a condition, then by record type), settles after Tandem's own write-back,
// and a poll with nothing changed costs one query.
TEST_P(SyncTest, OnChangeMapsAreSyncedWhenTheCrmChangesThemAndAQuietPollCostsOneQuery) {
  mapping::ObjectMap* account = nullptr;
  for (auto& o : mapping_.objects)
    if (o.name == "account") account = &o;
  ASSERT_NE(account, nullptr);
  account->sync_on_change = true;
  account->eligible_when = "Type == 'Customer - Direct'";
  const auto before = MakeAccounts(1, "Existing");  // there before the switch: not synced
  ChangePoller poller(*actions_, crm_.client(), **store_, mapping_, stripe_.clock);
  const int64_t q0 = CrmCalls("GET /query");
  crm_.clock.Advance(Millis(2000));  // the sandbox's clock moves only when told
  const ChangePollResult first = poller.PollOnce().value();  // the switch: 2 queries, no sync
  EXPECT_EQ(first.api_calls, 2);
  EXPECT_EQ(first.synced, 0);
  EXPECT_EQ(CrmCalls("GET /query") - q0, 2);

  // Created after: Customer - Direct, Partner, Customer - Direct. The write-back a second later.
  const auto ids = MakeAccounts(3, "Changed");
  crm_.clock.Advance(Millis(1000));
  const ChangePollResult second = poller.PollOnce().value();
  EXPECT_EQ(second.changed, 3);
  EXPECT_EQ(second.ineligible, 1);
  EXPECT_EQ(second.synced, 2);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 2);
  EXPECT_TRUE((*store_)->FindLinkByCrmId("account", before[0]).value() == std::nullopt);

  // Tandem's write-back moved the two records' SystemModstamp: read again, found unchanged.
  const ChangePollResult echo = poller.PollOnce().value();
  EXPECT_EQ(echo.synced, 2);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 2);
  const int64_t q1 = CrmCalls("GET /query");
  const ChangePollResult quiet = poller.PollOnce().value();
  EXPECT_EQ(quiet.api_calls, 1);
  EXPECT_EQ(quiet.changed, 0);
  EXPECT_EQ(CrmCalls("GET /query") - q1, 1);

  // An edit in the CRM reaches billing as an update.
  crm_.clock.Advance(Millis(1000));
  Json renamed = Json::MakeObject();
  renamed.Set("Name", "Changed Renamed");
  ASSERT_TRUE(crm_.client().Update("Account", ids[0], renamed).ok());
  const ChangePollResult edit = poller.PollOnce().value();
  EXPECT_EQ(edit.synced, 1);
  const auto audit = (*store_)->AuditFor("account", ids[0]).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().outcome, "updated");

  // Record types: of two Accounts changed now, the one of a type the map does not name is not
  // even read.
  account->eligible_when.clear();
  account->eligible_record_types = {"Business"};
  std::vector<std::string> types;
  for (const char* name : {"Business", "Consumer"}) {
    Json rt = Json::MakeObject();
    rt.Set("Name", name);
    rt.Set("DeveloperName", name);
    rt.Set("SobjectType", "Account");
    types.push_back(crm_.client().Create("RecordType", rt).value());
  }
  const auto typed = MakeAccounts(2, "Typed");
  for (size_t i = 0; i < typed.size(); ++i) {
    Json t = Json::MakeObject();
    t.Set("RecordTypeId", types[i]);
    ASSERT_TRUE(crm_.client().Update("Account", typed[i], t).ok());
  }
  crm_.clock.Advance(Millis(1000));
  const ChangePollResult by_type = poller.PollOnce().value();
  EXPECT_EQ(by_type.changed, 1);
  EXPECT_EQ(by_type.synced, 1);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 3);
  EXPECT_TRUE((*store_)->FindLinkByCrmId("account", typed[0]).value().has_value());
  EXPECT_FALSE((*store_)->FindLinkByCrmId("account", typed[1]).value().has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, SyncTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::actions
