// One store test suite, run over both backends (SOCI's tests do the same): the store is
// always real, never mocked.
#include "store/store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "store/migrations.h"
#include "tests/support/store_backends.h"

namespace tandem::store {
namespace {

using testing::ScopedStore;
using testing::StoreBackend;

constexpr int64_t kNow = 1767225600000;

class StoreTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
  }

  Store& store() { return **store_; }
};

TEST_P(StoreTest, OpenAppliesEveryMigrationAndCreatesTheTables) {
  auto version = store().SchemaVersion();
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, Store::LatestSchemaVersion());
  EXPECT_GE(Store::LatestSchemaVersion(), 2);
  auto tables = store().TableNames();
  ASSERT_TRUE(tables.ok());
  for (const char* t : {"api_tokens", "audit", "cursors", "inbox", "jobs", "links", "order_reports",
                        "schema_migrations", "tasks"})
    EXPECT_NE(std::find(tables->begin(), tables->end(), t), tables->end()) << t;
}

TEST_P(StoreTest, MigrateTwiceChangesNothing) {
  ASSERT_TRUE(store().Migrate().ok());
  ASSERT_TRUE(store().Migrate().ok());
  EXPECT_EQ(store().SchemaVersion().value(), Store::LatestSchemaVersion());
}

TEST_P(StoreTest, UpsertLinksInsertsThousandsAndUpdatesInPlace) {
  std::vector<Link> links;
  for (int i = 0; i < 2000; ++i)
    links.push_back(Link{"Account", "001" + std::to_string(i), "cus_" + std::to_string(i),
                         "A-" + std::to_string(i), "h1", kNow});
  ASSERT_TRUE(store().UpsertLinks(links).ok());
  EXPECT_EQ(store().CountLinks("Account").value(), 2000);

  std::vector<Link> changed(links.begin(), links.begin() + 10);
  for (auto& l : changed) l.content_hash = "h2";
  ASSERT_TRUE(store().UpsertLinks(changed).ok());
  EXPECT_EQ(store().CountLinks("Account").value(), 2000);

  auto one = store().FindLinkByCrmId("Account", "0015");
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->billing_id, "cus_5");
  EXPECT_EQ((*one)->content_hash, "h2");
  auto by_billing = store().FindLinkByBillingId("Account", "cus_1999");
  ASSERT_TRUE(by_billing.ok() && by_billing->has_value());
  EXPECT_EQ((*by_billing)->crm_id, "0011999");
  EXPECT_FALSE(store().FindLinkByCrmId("Contact", "0015").value().has_value());

  std::vector<std::string> ids;
  for (int i = 0; i < 1200; i += 2) ids.push_back("001" + std::to_string(i));
  ids.push_back("missing");
  auto many = store().FindLinksByCrmIds("Account", ids);
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_EQ(many->size(), 600u);
}

TEST_P(StoreTest, HostileValuesAreDataNotSql) {
  const std::string hostile = "x'); DROP TABLE links; --";
  ASSERT_TRUE(store().UpsertLinks({Link{"Account", hostile, "cus_'\"\\", "", "", kNow}}).ok());
  auto found = store().FindLinkByCrmId("Account", hostile);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->billing_id, "cus_'\"\\");
  EXPECT_EQ(store().CountLinks("Account").value(), 1);
}

TEST_P(StoreTest, AuditAppendsBatchesAndReadsBackInOrder) {
  std::vector<AuditEntry> entries;
  for (int i = 0; i < 1200; ++i)
    entries.push_back(AuditEntry{kNow + i, "admin:sync", "Account", "001" + std::to_string(i % 3),
                                 "create", "created", "row " + std::to_string(i)});
  ASSERT_TRUE(store().AppendAudit(entries).ok());
  EXPECT_EQ(store().CountAudit("Account").value(), 1200);
  auto one = store().AuditFor("Account", "0011");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 400u);
  EXPECT_EQ(one->front().detail, "row 1");
  EXPECT_EQ(one->back().detail, "row 1198");
  // One actor's rows, oldest first, paged by id.
  ASSERT_TRUE(
      store()
          .AppendAudit(
              {AuditEntry{kNow, "migration:m1", "account", "001a", "migrate", "created", "cus_1"},
               AuditEntry{kNow, "migration:m2", "account", "001b", "migrate", "created", "cus_2"},
               AuditEntry{kNow, "migration:m1", "account", "001c", "migrate", "linked", "cus_3"}})
          .ok());
  auto first = store().AuditByActor("migration:m1", 0, 1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->front().record_id, "001a");
  auto rest = store().AuditByActor("migration:m1", first->front().id, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().record_id, "001c");
  EXPECT_EQ(rest->front().detail, "cus_3");
  EXPECT_TRUE(store().AuditByActor("migration:m1", rest->front().id, 10).value().empty());
}

TEST_P(StoreTest, InboxAcceptsAnEventIdOnce) {
  InboxEvent e{"evt_1", "stripe", "invoice.paid", R"({"id":"evt_1"})", kNow, "pending", 0, ""};
  EXPECT_TRUE(store().InsertInboxEvent(e).value());
  EXPECT_FALSE(store().InsertInboxEvent(e).value());
  auto pending = store().PendingInboxEvents(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  ASSERT_TRUE(store().MarkInboxEvent("evt_1", "done", "").ok());
  EXPECT_TRUE(store().PendingInboxEvents(10).value().empty());
  EXPECT_TRUE(store().MarkInboxEvent("evt_nope", "done", "").IsNotFound());
}

// Handled events lose their personal data after the retention; everything still to be applied or
// replayed keeps it; the id stays, so a redelivery is still recognised.
TEST_P(StoreTest, HandledEventPayloadsArePurgedAfterTheirRetentionAndTheIdStays) {
  const int64_t day = 24 * 3'600'000LL;
  struct Planted {
    const char* id;
    int64_t age_days;
    const char* state;
  };
  const Planted planted[] = {
      {"evt_old_done", 40, "done"},     {"evt_old_dismissed", 35, "dismissed"},
      {"evt_old_failed", 40, "failed"}, {"evt_old_pending", 40, "pending"},
      {"evt_new_done", 2, "done"},      {"evt_old_done_2", 31, "done"}};
  for (const auto& p : planted)
    ASSERT_TRUE(store()
                    .InsertInboxEvent({p.id, "stripe", "customer.updated",
                                       R"({"email":"jane@example.com"})", kNow - p.age_days * day,
                                       p.state, 0, ""})
                    .value());
  const int64_t cut = kNow - 30 * day;
  EXPECT_EQ(store().PurgeInboxPayloads(cut, kNow, 2).value(), 2);  // a slice at a time
  EXPECT_EQ(store().PurgeInboxPayloads(cut, kNow, 1000).value(), 1);
  EXPECT_EQ(store().PurgeInboxPayloads(cut, kNow, 1000).value(), 0);
  for (const auto& p : planted) {
    const auto got = store().InboxEventById(p.id).value();
    ASSERT_EQ(got.size(), 1u) << p.id;
    const bool purged = std::string(p.id).rfind("evt_old_d", 0) == 0;
    EXPECT_EQ(got[0].payload.empty(), purged) << p.id;
    EXPECT_EQ(got[0].state, p.state) << p.id;
  }
  EXPECT_FALSE(store()
                   .InsertInboxEvent(
                       {"evt_old_done", "stripe", "customer.updated", "{}", kNow, "pending", 0, ""})
                   .value());
}

TEST(RetrySchedule, DoublesFromTheFirstDelayUpToTheCapAndGivesUpAfterTheAge) {
  const RetryPolicy p;  // 30 min, 12 h, 7 days
  const int64_t min = 60'000;
  EXPECT_EQ(NextRetryMs(p, 1, 0, 0).value(), 30 * min);
  EXPECT_EQ(NextRetryMs(p, 2, 0, 0).value(), 60 * min);
  EXPECT_EQ(NextRetryMs(p, 5, 0, 0).value(), 480 * min);
  EXPECT_EQ(NextRetryMs(p, 6, 0, 0).value(), 720 * min);   // capped at 12 h
  EXPECT_EQ(NextRetryMs(p, 60, 0, 0).value(), 720 * min);  // no overflow
  const int64_t week = 7 * 24 * 60 * min;
  EXPECT_EQ(NextRetryMs(p, 9, 0, week - 720 * min).value(), week);
  EXPECT_FALSE(NextRetryMs(p, 9, 0, week - 719 * min).has_value());
}

TEST_P(StoreTest, SyncFailuresAreScheduledListedPagedAndDroppedWhenResolved) {
  const RetryPolicy p;
  auto contacts_only = [] {
    SyncFailureFilter f;
    f.object = "contact";
    return f;
  };
  ASSERT_TRUE(
      store()
          .NoteSyncOutcomes("account", {{"001A", "billing 503"}, {"001B", "bad name"}}, {}, p, kNow)
          .ok());
  ASSERT_TRUE(store().NoteSyncOutcomes("contact", {{"003A", "no e-mail"}}, {}, p, kNow).ok());
  EXPECT_TRUE(store().DueSyncRetries(kNow + 29 * 60'000, 10).value().empty());
  EXPECT_EQ(store().DueSyncRetries(kNow + 30 * 60'000, 10).value().size(), 3u);
  // Failed again: attempts grow, the first failure stays; resolved: gone.
  ASSERT_TRUE(
      store()
          .NoteSyncOutcomes("account", {{"001A", "billing 502"}}, {"001B"}, p, kNow + 30 * 60'000)
          .ok());
  auto all = store().ListSyncFailures(SyncFailureFilter{}).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].object, "account");
  EXPECT_EQ(all[0].crm_id, "001A");
  EXPECT_EQ(all[0].attempts, 2);
  EXPECT_EQ(all[0].first_failed_ms, kNow);
  EXPECT_EQ(all[0].last_error, "billing 502");
  EXPECT_EQ(*all[0].next_retry_ms, kNow + 90 * 60'000);
  // Given up: listed under given_up, never due.
  RetryPolicy now_or_never = p;
  now_or_never.give_up_after_ms = 0;
  ASSERT_TRUE(
      store().NoteSyncOutcomes("contact", {{"003A", "no e-mail"}}, {}, now_or_never, kNow).ok());
  SyncFailureFilter given_up;
  given_up.state = "given_up";
  auto gone = store().ListSyncFailures(given_up).value();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].crm_id, "003A");
  EXPECT_EQ(store().DueSyncRetries(kNow + 1'000'000'000, 10).value().size(), 1u);
  // Failing again later (a sync by hand), a given-up record starts a new schedule.
  ASSERT_TRUE(
      store().NoteSyncOutcomes("contact", {{"003A", "still no e-mail"}}, {}, p, kNow + 5).ok());
  const auto again = store().ListSyncFailures(contacts_only()).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 1);
  EXPECT_EQ(again[0].first_failed_ms, kNow + 5);
  EXPECT_EQ(*again[0].next_retry_ms, kNow + 5 + 30 * 60'000);
  ASSERT_TRUE(
      store().NoteSyncOutcomes("contact", {{"003A", "no e-mail"}}, {}, now_or_never, kNow).ok());
  // Keyset pages in (object, crm_id) order; an object filter.
  SyncFailureFilter page;
  page.limit = 1;
  const auto first = store().ListSyncFailures(page).value();
  ASSERT_EQ(first.size(), 1u);
  page.after_object = first[0].object;
  page.after_crm_id = first[0].crm_id;
  const auto second = store().ListSyncFailures(page).value();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].crm_id, "003A");
  SyncFailureFilter contacts;
  contacts.object = "contact";
  EXPECT_EQ(store().ListSyncFailures(contacts).value().size(), 1u);
  // A hostile id is a value, not SQL.
  ASSERT_TRUE(
      store().NoteSyncOutcomes("account", {{"x'); DROP TABLE links; --", "e"}}, {}, p, kNow).ok());
  EXPECT_EQ(store().ListSyncFailures(SyncFailureFilter{}).value().size(), 3u);
}

// A module may hold only the concern it needs (a LinkStore&, an InboxStore&): every concern
// of one Store works on the same database, and the cursors another concern moves are written
// in that concern's transaction.
TEST_P(StoreTest, EachConcernWorksOnItsOwnOverTheSameDatabase) {
  LinkStore& links = store();
  AuditStore& audit = store();
  InboxStore& inbox = store();
  CursorStore& cursors = store();
  ASSERT_TRUE(
      links
          .RecordSync({Link{"Account", "001", "cus_1", "", "h1", kNow}},
                      {AuditEntry{kNow, "admin:sync", "Account", "001", "create", "created", ""}},
                      {{"catalog", "v1"}}, kNow)
          .ok());
  EXPECT_EQ(links.FindLinksByBillingIds("Account", {"cus_1"}).value().size(), 1u);
  EXPECT_EQ(audit.CountAudit("Account").value(), 1);
  EXPECT_EQ(cursors.GetCursor("catalog").value().value(), "v1");

  ASSERT_TRUE(
      inbox.InsertInboxEvent(InboxEvent{"evt_1", "stripe", "t", "{}", kNow, "pending", 0, ""})
          .value());
  ASSERT_TRUE(inbox.MarkInboxEvent("evt_1", "done", "", {{"catalog", "v2"}}, kNow).ok());
  EXPECT_EQ(cursors.GetCursor("catalog").value().value(), "v2");
  EXPECT_TRUE(inbox.MarkInboxEvent("evt_nope", "done", "", {{"catalog", "v3"}}, kNow).IsNotFound());
  EXPECT_EQ(cursors.GetCursor("catalog").value().value(), "v2");
}

// A poll page's tasks go in together: per task whether it was new, in the order asked (the
// store inserts them by group, in plan order), and a dependent in the same batch waits for its
// dependency.
TEST_P(StoreTest, TasksEnqueuedTogetherSayWhichWereNewAndKeepTheirDependencies) {
  ASSERT_TRUE(store().EnqueueTask({"a:1", "a", "k", "{}", "", 3, kNow}, kNow).value());
  const std::vector<TaskSpec> batch = {{"b:2", "b", "k", "{}", "b:1", 3, kNow},
                                       {"a:1", "a", "k", "{}", "", 3, kNow},
                                       {"b:1", "b", "k", "{}", "", 3, kNow},
                                       {"a:2", "a", "k", "{}", "a:1", 3, kNow},
                                       {"b:1", "b", "k", "{}", "", 3, kNow}};
  auto added = store().EnqueueTasks(batch, kNow);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, (std::vector<bool>{true, false, true, true, false}));
  EXPECT_TRUE(store().EnqueueTasks({}, kNow).value().empty());
  std::vector<std::string> claimed;
  const auto tasks = store().ClaimTasks("w", 10, kNow, 60'000);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  for (const Task& t : *tasks) claimed.push_back(t.key);
  std::sort(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed, (std::vector<std::string>{"a:1", "b:1"}));
  EXPECT_EQ(store().TasksInGroup("b").value().size(), 2u);
  // A group's rows are made in its plan's order, whatever their keys (rows are locked in id
  // order: a task before those that wait for it).
  ASSERT_TRUE(store()
                  .EnqueueTasks({{"c:9:sync", "c", "k", "{}", "", 3, kNow},
                                 {"c:10:run", "c", "k", "{}", "c:9:sync", 3, kNow}},
                                kNow)
                  .ok());
  std::map<std::string, int64_t> id_of;
  const auto group_c = store().TasksInGroup("c").value();
  for (const Task& t : group_c) id_of[t.key] = t.id;
  EXPECT_LT(id_of["c:9:sync"], id_of["c:10:run"]) << "ids in key order, not the plan's";
}

// A claim running while a batch goes in sees all of it or none: workers claiming during a poll
// page's enqueue took its first few tasks and ran batches of one or two.
TEST_P(StoreTest, AClaimDuringABatchEnqueueSeesAllOfItOrNone) {
  std::vector<TaskSpec> batch;
  for (int i = 0; i < 300; ++i) {
    const std::string group = "g" + std::to_string(1000 + i);
    batch.push_back({group + ":1", group, "k", "{}", "", 3, kNow});
  }
  std::atomic<bool> done{false};
  std::vector<size_t> seen;  // the sizes of the claims that found something
  std::thread claimer([&] {
    while (seen.empty()) {
      const bool last = done.load();
      auto claimed = store().ClaimTasks("w", 1000, kNow, 60'000);
      if (claimed.ok() && !claimed->empty()) seen.push_back(claimed->size());
      if (last) break;
    }
  });
  auto added = store().EnqueueTasks(batch, kNow);
  done = true;
  claimer.join();
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], batch.size()) << "a claim saw part of the batch";
}

TEST_P(StoreTest, TasksAreEnqueuedOncePerKeyAndWaitForTheirDependency) {
  TaskSpec create{"wo1:create", "wo1", "create_subscription", "{}", "", 3, kNow};
  TaskSpec start{"wo1:start", "wo1", "start_subscription", "{}", "wo1:create", 3, kNow};
  EXPECT_TRUE(store().EnqueueTask(create, kNow).value());
  EXPECT_FALSE(store().EnqueueTask(create, kNow).value());
  EXPECT_TRUE(store().EnqueueTask(start, kNow).value());

  auto first = store().ClaimTasks("w1", 10, kNow, 60'000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->at(0).key, "wo1:create");
  EXPECT_EQ(first->at(0).attempts, 1);
  EXPECT_TRUE(store().ClaimTasks("w2", 10, kNow, 60'000).value().empty());

  ASSERT_TRUE(store().CompleteTask(Lease::Of(first->at(0)), "sub_1", kNow).ok());
  auto second = store().ClaimTasks("w1", 10, kNow, 60'000);
  ASSERT_EQ(second.value().size(), 1u);
  EXPECT_EQ(second->at(0).key, "wo1:start");
  EXPECT_EQ(second->at(0).depends_on, "wo1:create");
}

// A claim reads only tasks not waiting; each way a dependency becomes done frees its
// dependents: the worker's completion, an operator's, and a dependent enqueued after it.
TEST_P(StoreTest, EveryWayADependencyIsDoneLetsItsDependentsBeClaimed) {
  const auto keys = [](const std::vector<Task>& tasks) {
    std::vector<std::string> out;
    for (const Task& t : tasks) out.push_back(t.key);
    return out;
  };
  ASSERT_TRUE(store().EnqueueTask({"a:1", "a", "k", "{}", "", 3, kNow}, kNow).ok());
  ASSERT_TRUE(store().EnqueueTask({"a:2", "a", "k", "{}", "a:1", 3, kNow}, kNow).ok());
  ASSERT_TRUE(
      store().EnqueueTask({"b:2", "b", "k", "{}", "b:1", 3, kNow}, kNow).ok());  // b:1 later
  auto first = store().ClaimTasks("w", 10, kNow, 60'000).value();
  ASSERT_EQ(keys(first), std::vector<std::string>{"a:1"});
  EXPECT_EQ(store().FreeWaitingTasks().value(), 0);  // nothing is owed a release

  // By its worker.
  ASSERT_TRUE(store().CompleteTask(Lease::Of(first[0]), "{}", kNow).ok());
  EXPECT_EQ(keys(store().ClaimTasks("w", 10, kNow, 60'000).value()),
            std::vector<std::string>{"a:2"});
  // A dependent enqueued once its dependency is done does not wait.
  ASSERT_TRUE(store().EnqueueTask({"a:3", "a", "k", "{}", "a:1", 3, kNow}, kNow).ok());
  EXPECT_EQ(keys(store().ClaimTasks("w", 10, kNow, 60'000).value()),
            std::vector<std::string>{"a:3"});
  // By an operator (`complete`): b:1 fails, a person does it in billing.
  ASSERT_TRUE(store().EnqueueTask({"b:1", "b", "k", "{}", "", 1, kNow}, kNow).ok());
  auto b1 = store().ClaimTasks("w", 10, kNow, 60'000).value();
  ASSERT_EQ(keys(b1), std::vector<std::string>{"b:1"});
  ASSERT_EQ(store().FailTask(Lease::Of(b1[0]), "400", kNow, kNow, true).value(), "failed");
  EXPECT_TRUE(store().ClaimTasks("w", 10, kNow, 60'000).value().empty());
  ASSERT_EQ(store().ChangeTasks("b", {TaskAction::kComplete, b1[0].id, "{}"}, kNow).value(), 1);
  EXPECT_EQ(keys(store().ClaimTasks("w", 10, kNow, 60'000).value()),
            std::vector<std::string>{"b:2"});
  EXPECT_EQ(store().FreeWaitingTasks().value(), 0);
}

TEST_P(StoreTest, FailedTaskRetriesAtItsTimeThenFailsForGood) {
  ASSERT_TRUE(store().EnqueueTask({"t1", "g", "k", "{}", "", 2, kNow}, kNow).ok());
  auto c1 = store().ClaimTasks("w", 1, kNow, 1000).value();
  ASSERT_EQ(c1.size(), 1u);
  EXPECT_EQ(store().FailTask(Lease::Of(c1[0]), "503 from billing", kNow + 5000, kNow).value(),
            "pending");
  EXPECT_TRUE(store().ClaimTasks("w", 1, kNow + 4999, 1000).value().empty());
  auto c2 = store().ClaimTasks("w", 1, kNow + 5000, 1000).value();
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].attempts, 2);
  EXPECT_EQ(store().FailTask(Lease::Of(c2[0]), "still down", kNow + 9000, kNow).value(), "failed");
  EXPECT_TRUE(store().ClaimTasks("w", 1, kNow + 99999, 1000).value().empty());
  auto group = store().TasksInGroup("g").value();
  ASSERT_EQ(group.size(), 1u);
  EXPECT_EQ(group[0].state, "failed");
  EXPECT_EQ(group[0].last_error, "still down");
}

TEST_P(StoreTest, ExpiredLeaseIsReclaimedAndReleasedTaskIsFree) {
  ASSERT_TRUE(store().EnqueueTask({"t1", "g", "k", "{}", "", 5, kNow}, kNow).ok());
  ASSERT_EQ(store().ClaimTasks("crashed", 1, kNow, 1000).value().size(), 1u);
  EXPECT_TRUE(store().ClaimTasks("w2", 1, kNow + 999, 1000).value().empty());
  auto reclaimed = store().ClaimTasks("w2", 1, kNow + 1001, 1000).value();
  ASSERT_EQ(reclaimed.size(), 1u);
  EXPECT_EQ(reclaimed[0].claimed_by, "w2");
  ASSERT_TRUE(store().ReleaseTasks("w2", kNow + 1002).ok());
  auto again = store().ClaimTasks("w3", 1, kNow + 1002, 1000).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);  // the released attempt is not counted
}

// Fencing: a worker whose lease ran out and whose task was claimed again cannot complete,
// fail or renew it; only the current claim records a result. A renewed lease is not expired.
TEST_P(StoreTest, OnlyTheCurrentClaimRecordsATaskResult) {
  ASSERT_TRUE(store().EnqueueTask({"t1", "g", "k", "{}", "", 5, kNow}, kNow).ok());
  auto slow = store().ClaimTasks("slow", 1, kNow, 1000).value();
  ASSERT_EQ(slow.size(), 1u);
  // Renewed before it ran out: nobody else can claim it at kNow + 1500.
  ASSERT_TRUE(store().RenewLease(Lease::Of(slow[0]), kNow + 2000, kNow + 900).ok());
  EXPECT_TRUE(store().ClaimTasks("other", 1, kNow + 1500, 1000).value().empty());
  // Not renewed again: at kNow + 2001 the task is another worker's.
  auto next = store().ClaimTasks("other", 1, kNow + 2001, 1000).value();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].lease_token, slow[0].lease_token);
  EXPECT_TRUE(store().CompleteTask(Lease::Of(slow[0]), "late", kNow + 2100).IsConflict());
  EXPECT_TRUE(
      store().FailTask(Lease::Of(slow[0]), "late", kNow, kNow + 2100).status().IsConflict());
  EXPECT_TRUE(store().RenewLease(Lease::Of(slow[0]), kNow + 9000, kNow + 2100).IsConflict());
  ASSERT_TRUE(store().CompleteTask(Lease::Of(next[0]), "on time", kNow + 2200).ok());
  // Once done, no claim can record anything again; a renewal that raced the result is no
  // lease lost, but the stale claim's still is.
  EXPECT_TRUE(store().CompleteTask(Lease::Of(next[0]), "twice", kNow + 2300).IsConflict());
  EXPECT_TRUE(store().RenewLease(Lease::Of(next[0]), kNow + 9000, kNow + 2300).ok());
  EXPECT_TRUE(store().RenewLease(Lease::Of(slow[0]), kNow + 9000, kNow + 2300).IsConflict());
  auto group = store().TasksInGroup("g").value();
  ASSERT_EQ(group.size(), 1u);
  EXPECT_EQ(group[0].state, "done");
  EXPECT_EQ(group[0].result, "on time");
}

// A finished task leaves its group owing the CRM a report, in the same transaction; a report
// read before a later task finished cannot clear what that task owes; a report nobody wrote
// is due to the sweep once it is older than the sweep's horizon.
TEST_P(StoreTest, AFinishedTaskOwesItsGroupAReportUntilOneIsWrittenAfterIt) {
  ASSERT_TRUE(store().EnqueueTask({"a1", "ga", "k", "{}", "", 5, kNow}, kNow).ok());
  ASSERT_TRUE(store().EnqueueTask({"a2", "ga", "k", "{}", "", 1, kNow}, kNow).ok());
  ASSERT_TRUE(store().EnqueueTask({"b1", "gb", "k", "{}", "", 5, kNow}, kNow).ok());
  EXPECT_FALSE(store().ReportOwed("ga").value().has_value()) << "nothing finished yet";
  auto claimed = store().ClaimTasks("w", 3, kNow, 1000).value();
  ASSERT_EQ(claimed.size(), 3u);
  std::map<std::string, Task> by_key;
  for (const auto& t : claimed) by_key[t.key] = t;
  ASSERT_TRUE(store().CompleteTask(Lease::Of(by_key["a1"]), "ok", kNow + 10).ok());
  const auto read = store().ReportOwed("ga").value();
  ASSERT_TRUE(read.has_value());
  // a2 fails (for good: one attempt) after the report above was read: its seq is newer.
  ASSERT_EQ(store().FailTask(Lease::Of(by_key["a2"]), "bad", kNow, kNow + 20).value(), "failed");
  ASSERT_TRUE(store().ClearReport(*read).ok());
  const auto still = store().ReportOwed("ga").value();
  ASSERT_TRUE(still.has_value()) << "a stale report cleared a newer task's row";
  EXPECT_GT(still->seq, read->seq);
  // A result the lease no longer holds owes nothing.
  EXPECT_TRUE(store().CompleteTask(Lease{by_key["b1"].id, 99}, "late", kNow + 30).IsConflict());
  EXPECT_FALSE(store().ReportOwed("gb").value().has_value());
  ASSERT_TRUE(store().CompleteTask(Lease::Of(by_key["b1"]), "ok", kNow + 40).ok());
  // Due: owed since before the horizon, oldest first.
  EXPECT_TRUE(store().ReportsDue(kNow + 20, 10).value().empty());
  auto due = store().ReportsDue(kNow + 41, 10).value();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].group_id, "ga");
  EXPECT_EQ(due[1].group_id, "gb");
  EXPECT_EQ(store().ReportsDue(kNow + 41, 1).value().size(), 1u);
  ASSERT_TRUE(store().ClearReport(*still).ok());
  ASSERT_TRUE(store().ClearReport(due[1]).ok());
  EXPECT_TRUE(store().ReportsDue(kNow + 1000, 10).value().empty());
  // Owed again by a writer that saw the state move; one the CRM refused waits behind others.
  ASSERT_TRUE(store().OweReport("gc", kNow + 50).ok());
  ASSERT_TRUE(store().OweReport("gd", kNow + 60).ok());
  auto both = store().ReportsDue(kNow + 100, 10).value();
  ASSERT_EQ(both.size(), 2u);
  ASSERT_TRUE(store().DeferReport(both[0], kNow + 5000).ok());
  auto next = store().ReportsDue(kNow + 100, 1).value();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].group_id, "gd") << "a refused report held up the next one";
  EXPECT_EQ(store().ReportsDue(kNow + 5001, 10).value().size(), 2u);
}

// A status write in flight has rows of its own: due to the sweep like a report owed, under its
// order's id, never the order's own row; ended, they go.
TEST_P(StoreTest, AReportWriteInFlightIsDueUnderItsGroupUntilItEnds) {
  ASSERT_TRUE(store().OweReport("gw", kNow).ok());
  const auto owed = store().ReportOwed("gw").value();
  ASSERT_TRUE(owed.has_value());
  auto writes = store().BeginReportWrites({"gw", "gx"}, "w1:1", kNow + 10).value();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(store().ReportOwed("gw").value()->seq, owed->seq) << "the order's own row moved";
  EXPECT_FALSE(store().ReportOwed("gx").value().has_value()) << "a write owes no report";
  auto due = store().ReportsDue(INT64_MAX, 10).value();
  ASSERT_EQ(due.size(), 3u);
  std::multiset<std::string> groups;
  int in_flight = 0;
  for (const auto& d : due) {
    groups.insert(d.group_id);
    in_flight += d.writing;
  }
  EXPECT_EQ(groups, (std::multiset<std::string>{"gw", "gw", "gx"}));
  EXPECT_EQ(in_flight, 2);
  EXPECT_TRUE(store().ReportsDue(kNow + 10, 10).value().size() == 1u) << "due from their start";
  ASSERT_TRUE(store().EndReportWrites({writes[0]}, {}, 0).ok());
  // The sweep's way: gx's dead writer's request may still land, so gx is owed once more.
  ASSERT_TRUE(store().TakeOverReportWrite(writes[1], kNow + 15).ok());
  ASSERT_TRUE(store().TakeOverReportWrite(writes[1], kNow + 16).ok());  // gone: owes nothing
  due = store().ReportsDue(INT64_MAX, 10).value();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].group_id, "gw");
  EXPECT_EQ(due[1].group_id, "gx");
  EXPECT_FALSE(due[0].writing || due[1].writing);
  // A failed write owes its group again under a new seq (a writer that read the row before
  // cannot clear it), but a row owed (here deferred by the sweep) keeps its due time; a
  // cleared one is owed from now.
  ASSERT_TRUE(store().DeferReport(due[0], kNow + 5000).ok());
  ASSERT_TRUE(store().BeginReportWrites({"gw"}, "w1:2", kNow + 20).ok());
  auto again = store().BeginReportWrites({"gx"}, "w1:3", kNow + 20).value();
  ASSERT_TRUE(store().EndReportWrites(again, {"gw", "gx"}, kNow + 30).ok());
  EXPECT_GT(store().ReportOwed("gw").value()->seq, owed->seq) << "not owed again";
  ASSERT_TRUE(store().ClearReport(*owed).ok());  // an older read: clears nothing
  EXPECT_TRUE(store().ReportOwed("gw").value().has_value()) << "an older read cleared it";
  EXPECT_TRUE(store().ReportOwed("gx").value().has_value());
  due = store().ReportsDue(kNow + 31, 10).value();
  ASSERT_EQ(due.size(), 2u) << "gw's write in flight and gx, owed; gw waits for its deferral";
  for (const auto& d : due) {
    EXPECT_EQ(d.group_id == "gw", d.writing) << d.row;
    ASSERT_TRUE(store().ClearReport(d).ok());
  }
  ASSERT_TRUE(store().ClearReport(*store().ReportOwed("gw").value()).ok());
  EXPECT_TRUE(store().ReportsDue(INT64_MAX, 10).value().empty());
}

// A writer alive beats on its writes' rows: a sweep that read a row before the beat cannot
// take it over, a row the sweep did take over is made again (and its group owed), and both
// are due a lease after the last beat. A sweep's deferral of a refused order holds whatever seq the
// row has now.
TEST_P(StoreTest, AReportWriteItsWriterBeatOnIsNotTakenOverAndOutlivesASweep) {
  auto writes = store().BeginReportWrites({"gh", "gi"}, "w2:1", kNow).value();
  auto swept = store().ReportsDue(kNow + 1, 10).value();
  ASSERT_EQ(swept.size(), 2u);
  // The sweep took gi over (its writer stalled): gi is owed in its own row.
  ASSERT_TRUE(store().TakeOverReportWrite(swept[1], kNow + 1).ok());
  EXPECT_TRUE(store().ReportOwed("gi").value().has_value()) << "a taken-over write owes nothing";
  ASSERT_TRUE(store().RefreshReportWrites(writes, 2, kNow + 500).ok());
  // Read before the beat: neither deletes the row nor owes the group.
  ASSERT_TRUE(store().TakeOverReportWrite(swept[0], kNow + 1).ok());
  EXPECT_FALSE(store().ReportOwed("gh").value().has_value()) << "a live write was taken over";
  int in_flight = 0;
  const auto after_beat = store().ReportsDue(kNow + 501, 10).value();
  for (const auto& d : after_beat) {
    if (!d.writing) continue;
    ++in_flight;
    EXPECT_EQ(d.seq, 2);
  }
  EXPECT_EQ(in_flight, 2) << "a write in flight lost its row";
  const auto before_beat = store().ReportsDue(kNow + 500, 10).value();
  for (const auto& d : before_beat)
    EXPECT_FALSE(d.writing) << d.row << ": due before the beat's time";
  ASSERT_TRUE(store().EndReportWrites(writes, {}, 0).ok());
  ASSERT_TRUE(store().ClearReport(*store().ReportOwed("gi").value()).ok());
  EXPECT_TRUE(store().ReportsDue(INT64_MAX, 10).value().empty());

  // Taken over where the order's row was owed already: due from the takeover on, so the
  // sweep's next write comes after the dead writer's request.
  ASSERT_TRUE(store().OweReport("gk", kNow).ok());
  const auto wk = store().BeginReportWrites({"gk"}, "w2:3", kNow).value();
  ASSERT_TRUE(store().TakeOverReportWrite(wk[0], kNow + 700).ok());
  const auto before_takeover = store().ReportsDue(kNow + 700, 10).value();
  EXPECT_TRUE(before_takeover.empty()) << before_takeover[0].row << ": due before the takeover";
  ASSERT_TRUE(store().ClearReport(*store().ReportOwed("gk").value()).ok());

  ASSERT_TRUE(store().OweReport("gj", kNow).ok());
  const auto read = store().ReportsDue(kNow + 1, 10).value();
  ASSERT_EQ(read.size(), 1u);
  auto w = store().BeginReportWrites({"gj"}, "w2:2", kNow).value();
  ASSERT_TRUE(store().EndReportWrites(w, {"gj"}, kNow + 10).ok());  // the CRM refused it
  ASSERT_TRUE(store().DeferReport(read[0], kNow + 5000).ok());
  EXPECT_TRUE(store().ReportsDue(kNow + 4999, 10).value().empty()) << "the deferral missed";
  ASSERT_TRUE(store().ClearReport(*store().ReportOwed("gj").value()).ok());
  ASSERT_TRUE(store().DeferReport(read[0], kNow + 6000).ok());
  EXPECT_FALSE(store().ReportOwed("gj").value().has_value()) << "a deferral made it owed";
}

// A report cleared and owed again never has the seq it had: a writer that read the first one
// (and wrote a state older than the second) cannot clear the second.
TEST_P(StoreTest, AReportOwedAgainAfterItWasClearedIsNotClearedByAnOlderRead) {
  ASSERT_TRUE(store().OweReport("gf", kNow).ok());
  const auto first = store().ReportOwed("gf").value();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(store().ClearReport(*first).ok());
  EXPECT_FALSE(store().ReportOwed("gf").value().has_value());
  EXPECT_TRUE(store().ReportsDue(INT64_MAX, 10).value().empty());
  ASSERT_TRUE(store().OweReport("gf", kNow + 10).ok());
  ASSERT_TRUE(store().ClearReport(*first).ok());  // the stale read: clears nothing
  const auto second = store().ReportOwed("gf").value();
  ASSERT_TRUE(second.has_value()) << "a read of the cleared row cleared the row owed since";
  EXPECT_GT(second->seq, first->seq);
  EXPECT_EQ(store().ReportsDue(INT64_MAX, 10).value().size(), 1u);
}

// A Scheduled order's reminder for its date is a row of its own: a report a finished task owes
// now keeps its due time, and the reminder comes back under the group's id on its date.
TEST_P(StoreTest, ADateReminderNeverMovesAReportOwedNow) {
  ASSERT_TRUE(store().OweReport("ge", kNow).ok());
  ASSERT_TRUE(store().RemindReport("ge", kNow + 86'400'000).ok());
  auto now = store().ReportsDue(kNow + 1, 10).value();
  ASSERT_EQ(now.size(), 1u) << "the reminder moved the report owed now";
  EXPECT_EQ(now[0].group_id, "ge");
  ASSERT_TRUE(store().ClearReport(now[0]).ok());
  EXPECT_TRUE(store().ReportsDue(kNow + 1, 10).value().empty());
  auto on_the_day = store().ReportsDue(kNow + 86'400'001, 10).value();
  ASSERT_EQ(on_the_day.size(), 1u);
  EXPECT_EQ(on_the_day[0].group_id, "ge");
  ASSERT_TRUE(store().ClearReport(on_the_day[0]).ok());
  EXPECT_TRUE(store().ReportsDue(kNow + 86'400'001, 10).value().empty());
}

TEST_P(StoreTest, ConcurrentWorkersNeverClaimTheSameTask) {
  constexpr int kTasks = 200;
  for (int i = 0; i < kTasks; ++i)
    ASSERT_TRUE(
        store().EnqueueTask({"t" + std::to_string(i), "g", "k", "{}", "", 3, kNow}, kNow).ok());
  // Two stores on one database: as two processes would share it.
  auto other = store_->OpenAnother();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  std::mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    Store* s = w % 2 ? other->get() : &store();
    workers.emplace_back([&, s, w] {
      for (;;) {
        auto batch = s->ClaimTasks("w" + std::to_string(w), 7, kNow, 60'000);
        if (!batch.ok() || batch->empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& t : *batch) claimed.insert(t.id);
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kTasks));
}

TEST_P(StoreTest, JobsAndCursorsRoundTrip) {
  Job job;
  job.id = "mig-1";
  job.kind = "migration";
  job.params = R"({"file":"accounts.csv"})";
  job.total = 100;
  job.created_ms = job.updated_ms = kNow;
  ASSERT_TRUE(store().PutJob(job).ok());
  job.processed = 50;
  job.checkpoint = "row:50";
  ASSERT_TRUE(store().PutJob(job).ok());
  auto got = store().GetJob("mig-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->processed, 50);
  EXPECT_EQ((*got)->checkpoint, "row:50");
  EXPECT_FALSE(store().GetJob("nope").value().has_value());

  EXPECT_FALSE(store().GetCursor("catalog").value().has_value());
  ASSERT_TRUE(store().SetCursor("catalog", "1700000000", kNow).ok());
  ASSERT_TRUE(store().SetCursor("catalog", "1700000500", kNow).ok());
  EXPECT_EQ(store().GetCursor("catalog").value().value(), "1700000500");
}

TEST_P(StoreTest, OldJobsOfAKindArePurgedWithTheirOutcomesOthersKept) {
  auto put = [&](const std::string& id, const std::string& kind, const std::string& state,
                 int64_t updated_ms) {
    Job j;
    j.id = id;
    j.kind = kind;
    j.state = state;
    j.params = "{}";
    j.created_ms = j.updated_ms = updated_ms;
    ASSERT_TRUE(store().PutJobWithOutcomes(j, 1, {R"({"n":1})", R"({"n":2})"}).ok());
  };
  const int64_t cut = kNow - 1000, stalled = cut - 100;
  put("s-done-old", "sync", "done", cut - 1);
  put("s-failed-old", "sync", "failed", cut - 5);
  put("s-running-stale", "sync", "running", stalled - 1);  // its process was killed
  put("s-queued-stale", "sync", "queued", stalled - 1);
  put("s-running-old", "sync", "running", cut - 1);  // moved since the stall cut: kept
  put("s-queued-old", "sync", "queued", cut - 1);
  put("s-done-new", "sync", "done", cut);           // not older than the cut: kept
  put("m-done-old", "migration", "done", cut - 1);  // another kind (undo needs it): kept
  EXPECT_EQ(store().PurgeOldJobs("sync", cut, stalled, 3).value(), 3);  // a slice at a time
  EXPECT_EQ(store().PurgeOldJobs("sync", cut, stalled, 100).value(), 1);
  EXPECT_EQ(store().PurgeOldJobs("sync", cut, stalled, 100).value(), 0);
  for (const char* gone : {"s-done-old", "s-failed-old", "s-running-stale", "s-queued-stale"}) {
    EXPECT_FALSE(store().GetJob(gone).value().has_value()) << gone;
    EXPECT_TRUE(store().JobOutcomes(gone, 0, 10).value().empty()) << gone;
  }
  for (const char* kept : {"s-running-old", "s-queued-old", "s-done-new", "m-done-old"}) {
    EXPECT_TRUE(store().GetJob(kept).value().has_value()) << kept;
    EXPECT_EQ(store().JobOutcomes(kept, 0, 10).value().size(), 2u) << kept;
  }
}

TEST_P(StoreTest, TheOverviewCountsEachQueueByStateAndTheWorkOfEachMinute) {
  constexpr int64_t kMinute = 60'000;
  const int64_t since = kNow - 60 * kMinute;
  // Work orders: one task done 2 min ago, one failed 30 min ago, one still pending.
  for (const char* key : {"t-done", "t-failed", "t-pending"})
    ASSERT_TRUE(store().EnqueueTask({key, "g1", "k", "{}", "", 1, 0}, since).value());
  auto claimed = store().ClaimTasks("w", 2, kNow - 30 * kMinute, kMinute).value();
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(store().FailTask(Lease::Of(claimed[1]), "refused", 0, kNow - 30 * kMinute).ok());
  ASSERT_TRUE(store().CompleteTask(Lease::Of(claimed[0]), "{}", kNow - 2 * kMinute).ok());
  // Billing events: two this minute (one failed), one an hour and a minute ago (not counted).
  for (const auto& [id, at] : std::vector<std::pair<std::string, int64_t>>{
           {"evt_1", kNow - 1}, {"evt_2", kNow - 1000}, {"evt_old", since - kMinute}}) {
    InboxEvent e;
    e.event_id = id;
    e.source = "stripe";
    e.type = "invoice.paid";
    e.payload = "{}";
    e.received_ms = at;
    ASSERT_TRUE(store().InsertInboxEvent(e).value());
  }
  ASSERT_TRUE(store().MarkInboxEvent("evt_2", "failed", "refused", {}, kNow).ok());
  // Syncs: created and updated count, unchanged and failed do not; one sync failure pending.
  std::vector<AuditEntry> audit;
  for (const auto& [id, action, outcome] :
       std::vector<std::array<std::string, 3>>{{"a1", "sync", "created"},
                                               {"a2", "sync", "updated"},
                                               {"a3", "sync", "unchanged"},
                                               {"a4", "sync", "failed"},
                                               {"o1", "retry", "ok"}}) {
    AuditEntry e;
    e.at_ms = kNow - 5 * kMinute;
    e.actor = "t";
    e.object = "account";
    e.record_id = id;
    e.action = action;
    e.outcome = outcome;
    audit.push_back(e);
  }
  ASSERT_TRUE(store().AppendAudit(audit).ok());
  ASSERT_TRUE(store().NoteSyncOutcomes("account", {{"a4", "x"}}, {}, {}, kNow).ok());
  ASSERT_TRUE(store().PutJob({"j1", "sync", "running", "{}", 10, 4, 0, "", kNow, kNow}).ok());
  ASSERT_TRUE(store().PutJob({"j0", "migration", "done", "{}", 5, 5, 0, "", since, since}).ok());

  const auto q = store().CountQueues().value();
  EXPECT_EQ(q.at("tasks"),
            (std::map<std::string, int64_t>{{"done", 1}, {"failed", 1}, {"pending", 1}}));
  EXPECT_EQ(q.at("inbox"), (std::map<std::string, int64_t>{{"failed", 1}, {"pending", 2}}));
  EXPECT_EQ(q.at("jobs"), (std::map<std::string, int64_t>{{"done", 1}, {"running", 1}}));
  EXPECT_EQ(q.at("sync_failures"), (std::map<std::string, int64_t>{{"pending", 1}}));

  const auto counted = store().CountActivity(since + 1, kMinute, 60);  // (kNow-1h, kNow]
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  const auto& a = *counted;
  std::vector<int64_t> synced(60, 0), done(60, 0), events(60, 0);
  synced[54] = 2;  // 5 min ago: minute 55 counted from since + 1, index 54
  done[57] = 1;
  events[59] = 2;
  EXPECT_EQ(a.synced, synced);
  EXPECT_EQ(a.tasks_done, done);
  EXPECT_EQ(a.events_received, events);
  EXPECT_TRUE(store().CountActivity(since, 0, 60).status().IsInvalidArgument());

  const auto jobs = store().RecentJobs(1).value();  // newest first
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id, "j1");
  EXPECT_EQ(store().RecentJobs(10).value().size(), 2u);
  const auto migrations = store().RecentJobs(10, "migration").value();  // one kind
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_EQ(migrations[0].id, "j0");
}

TEST_P(StoreTest, ApiTokensAreKeptAsHashesAndCanBeRevoked) {
  ASSERT_TRUE(store().CreateApiToken("salesforce-prod", "hash-1", "actions", kNow).ok());
  EXPECT_TRUE(
      store().CreateApiToken("salesforce-prod", "hash-2", "operator", kNow).IsAlreadyExists());
  ASSERT_TRUE(store().CreateApiToken("ops", "hash-3", "actions,operator", kNow).ok());
  EXPECT_EQ(store().ActiveApiTokenScopes("hash-1").value(), std::optional<std::string>("actions"));
  EXPECT_EQ(store().ActiveApiTokenScopes("hash-3").value(),
            std::optional<std::string>("actions,operator"));
  EXPECT_FALSE(store().ActiveApiTokenScopes("hash-2").value().has_value());
  const auto listed = store().ListApiTokens().value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].name, "salesforce-prod");
  EXPECT_EQ(listed[1].scopes, "actions");
  ASSERT_TRUE(store().RevokeApiToken("ops", kNow + 1).ok());
  ASSERT_TRUE(store().RevokeApiToken("salesforce-prod", kNow + 1).ok());
  EXPECT_FALSE(store().ActiveApiTokenScopes("hash-1").value().has_value());
  EXPECT_TRUE(store().RevokeApiToken("salesforce-prod", kNow + 2).IsNotFound());
  EXPECT_TRUE(store().ListApiTokens().value().empty());
}

// Links removed with the audit rows that say why, in one transaction; the "unlinked" rows of a
// record are what its next billing create keys by (actions/sync.cpp).
TEST_P(StoreTest, DeletedLinksGoWithTheirAuditRowsAndCountAsUnlinked) {
  ASSERT_TRUE(store()
                  .UpsertLinks({Link{"account", "001A", "cus_1", "", "h", kNow},
                                Link{"account", "001B", "cus_2", "", "h", kNow}})
                  .ok());
  ASSERT_TRUE(
      store()
          .AppendAudit({AuditEntry{kNow, "admin", "account", "001A", "create", "created", "cus_1"}})
          .ok());
  EXPECT_EQ(store().CountUnlinked("account", "001A").value(), 0);
  ASSERT_TRUE(store()
                  .DeleteLinks("account", {"001A"},
                               {AuditEntry{kNow + 1, "admin", "account", "001A", "unlink",
                                           "unlinked", "cus_1"}})
                  .ok());
  EXPECT_FALSE(store().FindLinkByCrmId("account", "001A").value().has_value());
  EXPECT_TRUE(store().FindLinkByCrmId("account", "001B").value().has_value());
  EXPECT_EQ(store().AuditFor("account", "001A").value().size(), 2u);
  EXPECT_EQ(store().CountUnlinked("account", "001A").value(), 1);
  EXPECT_EQ(store().CountUnlinked("contact", "001A").value(), 0) << "per object map";
  EXPECT_EQ(store().CountUnlinked("account", "001B").value(), 0);
  // Removed again (an unlink beside a billing deletion): nothing was there, nothing audited.
  ASSERT_TRUE(store()
                  .DeleteLinks("account", {"001A"},
                               {AuditEntry{kNow + 2, "billing", "account", "001A",
                                           "billing-deleted", "unlinked", "cus_1"}})
                  .ok());
  EXPECT_EQ(store().CountUnlinked("account", "001A").value(), 1);
}

TEST_P(StoreTest, OnlyOneProcessHoldsLeadership) {
  auto other = store_->OpenAnother();
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(store().TryAcquireLeadership(42).value());
  EXPECT_TRUE(store().TryAcquireLeadership(42).value());  // re-entrant for the holder
  if (!store().HasAdvisoryLocks()) {
    EXPECT_TRUE((*other)->TryAcquireLeadership(42).value());  // SQLite: one process by design
    return;
  }
  EXPECT_FALSE((*other)->TryAcquireLeadership(42).value());
  ASSERT_TRUE(store().ReleaseLeadership(42).ok());
  EXPECT_TRUE((*other)->TryAcquireLeadership(42).value());
}

// The processes sharing a store count each other by heartbeat, to split the remotes' limits:
// one seen within the ttl counts, one not seen for longer does not (killed), one that left
// does not.
TEST_P(StoreTest, ProcessesSharingTheStoreCountEachOtherByHeartbeat) {
  auto other = store_->OpenAnother();
  ASSERT_TRUE(other.ok());
  constexpr int64_t kTtl = 6'000;
  EXPECT_EQ(store().Heartbeat("host:1", kNow, kTtl).value(), 1);
  EXPECT_EQ((*other)->Heartbeat("host:2", kNow + 100, kTtl).value(), 2);
  EXPECT_EQ(store().Heartbeat("host:1", kNow + 2'000, kTtl).value(), 2) << "a beat again";
  EXPECT_EQ((*other)->Heartbeat("host:3", kNow + 2'100, kTtl).value(), 3);
  // host:2 last seen at kNow + 100: gone once its ttl has passed.
  EXPECT_EQ(store().Heartbeat("host:1", kNow + 100 + kTtl + 1, kTtl).value(), 2);
  ASSERT_TRUE((*other)->LeaveProcesses("host:3").ok());
  EXPECT_EQ(store().Heartbeat("host:1", kNow + 100 + kTtl + 2, kTtl).value(), 1);
}

// Two processes recording the same new link at once (two orders' tasks syncing one account):
// both succeed, and one link remains.
TEST_P(StoreTest, TwoProcessesRecordingOneNewLinkAtOnceBothSucceed) {
  auto other = store_->OpenAnother();
  ASSERT_TRUE(other.ok());
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex mu;
  for (int i = 0; i < 40; ++i) {
    const Link link{
        "account", "001RACE" + std::to_string(i), "cus_race" + std::to_string(i), "", "h", kNow};
    std::vector<std::thread> racers;
    for (int w = 0; w < 4; ++w) {
      Store* s = w % 2 ? other->get() : &store();
      racers.emplace_back([&, s] {
        const Status st = s->RecordSync({link}, {});
        if (st.ok()) return;
        ++failures;
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) first_error = st.ToString();
      });
    }
    for (auto& t : racers) t.join();
  }
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_EQ(store().CountLinks("account").value(), 40);
}

// A key lock has one holder, across processes; a holder that died frees it when its lease
// runs out; the holder renews by locking again; unlocking frees it for the next.
TEST_P(StoreTest, AKeyLockHasOneHolderUntilItsLeaseRunsOut) {
  auto other = store_->OpenAnother();
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(store().TryLockKey("gtv:account 001", "a", kNow, kNow + 1000).value());
  EXPECT_FALSE((*other)->TryLockKey("gtv:account 001", "b", kNow + 10, kNow + 1010).value());
  EXPECT_TRUE((*other)->TryLockKey("gtv:account 002", "b", kNow, kNow + 1000).value())
      << "another key is free";
  EXPECT_TRUE(store().TryLockKey("gtv:account 001", "a", kNow + 500, kNow + 1500).value())
      << "the holder renews";
  EXPECT_FALSE((*other)->TryLockKey("gtv:account 001", "b", kNow + 1200, kNow + 2200).value())
      << "the renewed lease holds past the first";
  EXPECT_TRUE((*other)->TryLockKey("gtv:account 001", "b", kNow + 1501, kNow + 2501).value())
      << "a lease run out (its holder died) frees the key";
  ASSERT_TRUE(store().UnlockKey("gtv:account 001", "a").ok());
  EXPECT_FALSE(store().TryLockKey("gtv:account 001", "a", kNow + 1600, kNow + 2600).value())
      << "an old holder's unlock does not free the new holder's key";
  ASSERT_TRUE((*other)->UnlockKey("gtv:account 001", "b").ok());
  EXPECT_TRUE(store().TryLockKey("gtv:account 001", "a", kNow + 1700, kNow + 2700).value());
}

// An account's balance comes from its open invoices once its set is complete; an invoice's
// older state never overwrites a newer one; a listing replaces the set.
TEST_P(StoreTest, AnAccountsBalanceIsItsOpenInvoicesOnceTheSetIsComplete) {
  auto open = [](const std::string& id, int64_t remaining, int64_t version) {
    return InvoiceState{id, "cus_1", true, remaining, "usd", version};
  };
  ASSERT_TRUE(store().ApplyInvoiceStates({open("in_1", 5000, 10), open("in_2", 700, 10)}).ok());
  EXPECT_TRUE(store().KnownBalances({"cus_1"}).value().empty()) << "not complete: list first";
  ASSERT_TRUE(store().ReplaceOpenInvoices("cus_1", {open("in_3", 1200, 0)}, 20, kNow).ok());
  auto known = store().KnownBalances({"cus_1", "cus_2"}).value();
  ASSERT_EQ(known.size(), 1u);
  EXPECT_EQ(known["cus_1"].owed, 1200) << "the listing replaced what the events had said";
  EXPECT_EQ(known["cus_1"].currency, "usd");

  InvoiceState paid = open("in_3", 0, 30);
  paid.open = false;
  ASSERT_TRUE(store().ApplyInvoiceStates({open("in_4", 300, 25), paid}).ok());
  EXPECT_EQ(store().KnownBalances({"cus_1"}).value()["cus_1"].owed, 300);
  ASSERT_TRUE(store().ApplyInvoiceStates({open("in_3", 1200, 21), open("in_4", 999, 24)}).ok());
  EXPECT_EQ(store().KnownBalances({"cus_1"}).value()["cus_1"].owed, 300)
      << "older states change nothing";

  ASSERT_TRUE(store().MarkBalanceComplete("cus_new", kNow).ok());
  EXPECT_EQ(store().KnownBalances({"cus_new"}).value()["cus_new"].owed, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

TEST(StoreUrl, ParsesSqliteAndPostgresForms) {
  auto s = ParseStoreUrl("sqlite:/var/lib/tandem/tandem.db");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->backend, Backend::kSqlite);
  EXPECT_EQ(s->connect, "/var/lib/tandem/tandem.db");
  EXPECT_EQ(ParseStoreUrl("sqlite::memory:")->connect, ":memory:");

  auto p = ParseStoreUrl("postgresql://tandem:p%40ss@db.internal:5433/tandem?sslmode=require");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->backend, Backend::kPostgres);
  EXPECT_EQ(p->connect,
            "user='tandem' password='p@ss' host='db.internal' port='5433' dbname='tandem' "
            "sslmode='require'");
  EXPECT_EQ(ParseStoreUrl("postgresql:host=x dbname=y")->connect, "host=x dbname=y");
}

TEST(StoreUrl, RejectsUnknownSchemesAndBadPorts) {
  EXPECT_TRUE(ParseStoreUrl("mysql://x").status().IsInvalidArgument());
  EXPECT_TRUE(ParseStoreUrl("sqlite:").status().IsInvalidArgument());
  EXPECT_TRUE(ParseStoreUrl("postgresql://h:abc/db").status().IsInvalidArgument());
}

TEST(Migrations, SplitStatementsAndSubstituteDialect) {
  Migration m{9, "0009_x",
              "-- comment\nCREATE TABLE a (id {{ID}});\n\nCREATE INDEX i ON a (id);\n"};
  auto pg = MigrationStatements(m, true);
  ASSERT_EQ(pg.size(), 2u);
  EXPECT_EQ(pg[0], "CREATE TABLE a (id BIGSERIAL PRIMARY KEY)");
  auto lite = MigrationStatements(m, false);
  EXPECT_EQ(lite[0], "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT)");
  const auto& all = EmbeddedMigrations();
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].version, all[i].version);
}

}  // namespace
}  // namespace tandem::store
