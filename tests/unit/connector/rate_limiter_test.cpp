#include "connector/http/rate_limiter.h"

#include <thread>

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace tandem::connector::http {
namespace {

using testing::FakeClock;
using testing::FakeSleeper;

TEST(TokenBucket, BurstPassesThenCallersWaitOneIntervalEach) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(/*rate_per_second=*/10, /*burst=*/2, clock, sleeper);
  std::vector<int64_t> waits;
  for (int i = 0; i < 5; ++i) waits.push_back(bucket.Acquire().count());
  EXPECT_EQ(waits, (std::vector<int64_t>{0, 0, 100, 100, 100}));
}

TEST(TokenBucket, RefillsWithTimeButNeverBeyondBurst) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(10, 3, clock, sleeper);
  for (int i = 0; i < 3; ++i) bucket.Acquire();
  EXPECT_NEAR(bucket.Available(), 0.0, 1e-9);
  clock.Advance(Millis(150));
  EXPECT_NEAR(bucket.Available(), 1.5, 1e-9);
  clock.Advance(Millis(10'000));
  EXPECT_NEAR(bucket.Available(), 3.0, 1e-9);
  EXPECT_TRUE(sleeper.sleeps().empty());
}

// Two processes sharing one remote's limit: each lets through half the rate.
TEST(TokenBucket, AShareOfTheRateSpacesCallsByItsInverse) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(10, 1, clock, sleeper);
  bucket.SetShare(0.5);
  std::vector<int64_t> waits;
  for (int i = 0; i < 4; ++i) waits.push_back(bucket.Acquire().count());
  EXPECT_EQ(waits, (std::vector<int64_t>{0, 200, 200, 200}));
  bucket.SetShare(1.0);  // the other process left
  clock.Advance(Millis(1'000));
  bucket.Acquire();
  EXPECT_EQ(bucket.Acquire().count(), 100);
}

TEST(TokenBucket, ZeroRateMeansUnlimited) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(0, 1, clock, sleeper);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(bucket.Acquire(), Millis(0));
}

TEST(TokenBucket, ConcurrentCallersNeverExceedTheRate) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(100, 1, clock, sleeper);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) bucket.Acquire();
    });
  for (auto& t : threads) t.join();
  // 100 tokens at 100/s with a burst of 1: the waits add up to at least 0.99 s of reservations.
  int64_t total = 0;
  for (auto s : sleeper.sleeps()) total += s.count();
  EXPECT_GE(clock.SteadyNow().time_since_epoch(), Millis(1'000'000 + 990));
  EXPECT_GT(total, 0);
}

}  // namespace
}  // namespace tandem::connector::http
