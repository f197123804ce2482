// Two `tandem serve` processes on one PostgreSQL: only the one holding the advisory lock
// runs the catalog sync.
#include "app/scheduler.h"

#include <gtest/gtest.h>

#include "app/last_run.h"
#include "app/payload_retention.h"
#include "app/upkeep.h"
#include "app/workorder_service.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"

namespace tandem::app {
namespace {

TEST(Scheduler, WithTwoProcessesOnOnePostgresOnlyOneRunsEachSync) {
  const testing::StoreBackend pg{"postgresql"};
  if (!testing::ScopedStore::Available(pg)) GTEST_SKIP() << "no PostgreSQL";
  testing::ScopedStore first(pg, "scheduler_two_processes");
  ASSERT_TRUE(first.Open().ok());
  auto second = first.OpenAnother();
  ASSERT_TRUE(second.ok());
  testing::SalesforceEnv crm;
  testing::StripeEnv billing;
  const mapping::Mapping mapping = testing::DefaultMapping();
  catalog_sync::CatalogSync sync_a(
      {crm.client(), billing.billing(), *first, mapping, billing.clock});
  catalog_sync::CatalogSync sync_b(
      {crm.client(), billing.billing(), **second, mapping, billing.clock});
  Scheduler a(sync_a, *first, billing.clock, Millis(3'600'000));
  Scheduler b(sync_b, **second, billing.clock, Millis(3'600'000));
  connector::billing::Product p;
  p.name = "Virtual Server";
  ASSERT_TRUE(billing.billing().CreateProduct(p, "p1").ok());
  for (int round = 0; round < 3; ++round) {
    a.RunOnce();
    b.RunOnce();
  }
  EXPECT_EQ(a.runs(), 3);
  EXPECT_EQ(b.runs(), 0);
  EXPECT_EQ(crm.sandbox.CountRecords("Product2"), 1);
}

// The run's outcome stays in the store for the console and every process.
TEST(Scheduler, TriggerRunsTheSyncBeforeTheIntervalAndKeepsItsOutcome) {
  testing::ScopedStore store({"sqlite"}, "scheduler_trigger");
  ASSERT_TRUE(store.Open().ok());
  testing::SalesforceEnv crm;
  testing::StripeEnv billing;
  const mapping::Mapping mapping = testing::DefaultMapping();
  catalog_sync::CatalogSync sync({crm.client(), billing.billing(), *store, mapping, billing.clock});
  Scheduler s(sync, *store, billing.clock, Millis(3'600'000));
  EXPECT_TRUE(LastRun(*store, kCatalogLastRun).value().is_null());
  connector::billing::Product p;
  p.name = "SIP Trunk";
  ASSERT_TRUE(billing.billing().CreateProduct(p, "p1").ok());
  s.Start();
  s.Trigger();
  for (int i = 0; i < 200 && s.runs() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  s.Stop();
  EXPECT_EQ(s.runs(), 1);
  const Json last = LastRun(*store, kCatalogLastRun).value();
  EXPECT_TRUE(last["ok"].as_bool()) << last.Dump();
  EXPECT_EQ(last["written"].as_int(), 1) << last.Dump();
  EXPECT_TRUE(ParseRfc3339(last["at"].ToText()).ok()) << last.Dump();
}

// A worker's batch follows what billing's rate limit and latency call for (four tasks per call
// in flight), within 8 to 64.
TEST(WorkersTuning, TheTaskBatchFollowsBillingsCallsInFlightWithinTheBounds) {
  EXPECT_EQ(TaskBatch(1), 8) << "loopback: one call fills the rate";
  EXPECT_EQ(TaskBatch(0), 8);
  EXPECT_EQ(TaskBatch(4), 16) << "the default before any latency is seen";
  EXPECT_EQ(TaskBatch(15.2), 61) << "100/s at 150 ms";
  EXPECT_EQ(TaskBatch(40), 64) << "never above 64";
}

}  // namespace
}  // namespace tandem::app

namespace tandem::app {
namespace {

// The callback worker calls MaybePurge every round; it must look hourly, not every 250 ms.
TEST(PayloadRetention, LooksHourlyAndEmptiesOnlyHandledPayloadsPastTheRetention) {
  testing::ScopedStore scoped(testing::StoreBackend{"sqlite"}, "payload_retention");
  ASSERT_TRUE(scoped.Open().ok());
  store::Store& store = *scoped;
  testing::FakeClock clock;
  const int64_t now = ToEpochMillis(clock.Now());
  const int64_t day = 24 * 3'600'000LL;
  ASSERT_TRUE(store
                  .InsertInboxEvent({"evt_a", "stripe", "customer.updated", "{\"a\":1}",
                                     now - 31 * day, "done", 0, ""})
                  .ok());
  ASSERT_TRUE(store
                  .InsertInboxEvent({"evt_b", "stripe", "customer.updated", "{\"b\":1}",
                                     now - 29 * day, "done", 0, ""})
                  .ok());
  PayloadRetention retention(store, clock, Millis(30 * day));
  EXPECT_EQ(retention.MaybePurge().value(), 1);
  EXPECT_TRUE(store.InboxEventById("evt_a").value()[0].payload.empty());
  EXPECT_FALSE(store.InboxEventById("evt_b").value()[0].payload.empty());
  clock.Advance(std::chrono::hours(48));  // evt_b is now 31 days old...
  EXPECT_EQ(retention.MaybePurge().value(), 1);
  EXPECT_TRUE(store.InboxEventById("evt_b").value()[0].payload.empty());
  ASSERT_TRUE(store
                  .InsertInboxEvent({"evt_c", "stripe", "customer.updated", "{\"c\":1}",
                                     now - 60 * day, "done", 0, ""})
                  .ok());
  clock.Advance(std::chrono::minutes(59));  // ...but within the hour nothing is looked at
  EXPECT_EQ(retention.MaybePurge().value(), 0);
  EXPECT_FALSE(store.InboxEventById("evt_c").value()[0].payload.empty());
  clock.Advance(std::chrono::minutes(1));
  EXPECT_EQ(retention.MaybePurge().value(), 1);
}

// The leader's jobs run on one process of several, each at its own cadence.
TEST(Upkeep, OnlyTheLeaderRunsEachJobAtItsInterval) {
  const testing::StoreBackend pg{"postgresql"};
  if (!testing::ScopedStore::Available(pg)) GTEST_SKIP() << "no PostgreSQL";
  testing::ScopedStore first(pg, "upkeep_two_processes");
  ASSERT_TRUE(first.Open().ok());
  auto second = first.OpenAnother();
  ASSERT_TRUE(second.ok());
  testing::FakeClock clock;
  int fast_a = 0, slow_a = 0, fast_b = 0;
  Upkeep a(*first, clock,
           {{"fast", Millis(60'000), [&] { return ++fast_a, Status::Ok(); }},
            {"slow", Millis(3'600'000), [&] { return ++slow_a, Status::Internal("planted"); }}});
  Upkeep b(**second, clock, {{"fast", Millis(60'000), [&] { return ++fast_b, Status::Ok(); }}});
  EXPECT_EQ(a.RunOnce(), 2);  // first round: every job
  EXPECT_EQ(b.RunOnce(), 0);  // not the leader
  EXPECT_EQ(a.RunOnce(), 0);  // nothing due yet
  clock.Advance(Millis(60'000));
  EXPECT_EQ(a.RunOnce(), 1);
  EXPECT_EQ(b.RunOnce(), 0);
  clock.Advance(Millis(3'600'000));
  EXPECT_EQ(a.RunOnce(), 2);  // a failing job is logged and runs again at its interval
  EXPECT_EQ(fast_a, 3);
  EXPECT_EQ(slow_a, 2);
  EXPECT_EQ(fast_b, 0);
}

}  // namespace
}  // namespace tandem::app
