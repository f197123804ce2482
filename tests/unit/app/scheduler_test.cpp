// Two `tandem serve` processes on one PostgreSQL: only the one holding the advisory lock
// runs the catalog sync.
#include "app/scheduler.h"

#include <gtest/gtest.h>

#include "app/workorder_service.h"
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
  Scheduler a(sync_a, *first, Millis(3'600'000));
  Scheduler b(sync_b, **second, Millis(3'600'000));
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

TEST(Scheduler, TriggerRunsTheSyncBeforeTheInterval) {
  testing::ScopedStore store({"sqlite"}, "scheduler_trigger");
  ASSERT_TRUE(store.Open().ok());
  testing::SalesforceEnv crm;
  testing::StripeEnv billing;
  const mapping::Mapping mapping = testing::DefaultMapping();
  catalog_sync::CatalogSync sync({crm.client(), billing.billing(), *store, mapping, billing.clock});
  Scheduler s(sync, *store, Millis(3'600'000));
  s.Start();
  s.Trigger();
  for (int i = 0; i < 200 && s.runs() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  s.Stop();
  EXPECT_EQ(s.runs(), 1);
}

// Work-order workers grow while billing has room for more calls and tasks are there, shrink
// when billing has more than it wants (a 429 halves what it wants), and stay within the bounds.
TEST(WorkersTuning, FollowBillingsCallsInFlightWithinTheBounds) {
  EXPECT_EQ(TuneWorkers(2, 2, 16, 1.0, 19, true), 3) << "room for more, tasks ran";
  EXPECT_EQ(TuneWorkers(8, 2, 16, 4.0, 19, true), 10);
  EXPECT_EQ(TuneWorkers(8, 2, 16, 4.0, 19, false), 8) << "no tasks ran: no more workers";
  EXPECT_EQ(TuneWorkers(16, 2, 16, 4.0, 19, true), 16) << "never above the most";
  EXPECT_EQ(TuneWorkers(12, 2, 16, 15.0, 19, true), 12) << "near what billing wants: as is";
  EXPECT_EQ(TuneWorkers(12, 2, 16, 19.0, 9, true), 9) << "billing throttled: fewer";
  EXPECT_EQ(TuneWorkers(2, 2, 16, 5.0, 1, true), 2) << "never below the least";
  EXPECT_EQ(TuneWorkers(2, 2, 16, 0.3, 1, true), 2) << "loopback: one call fills the rate";
}

}  // namespace
}  // namespace tandem::app
