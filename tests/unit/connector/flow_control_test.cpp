#include "connector/http/flow_control.h"

#include <atomic>

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "util/parallel.h"

namespace tandem::connector::http {
namespace {

using testing::FakeClock;
using testing::FakeSleeper;

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

void Answers(FlowControl& flow, int n, int ms) {
  for (int i = 0; i < n; ++i) flow.Observe(Millis(ms), false, kT0);
}

// Little's law: 100 calls/s at 150 ms fills the limit with 15 in flight (19 with the margin).
TEST(FlowControl, KeepsRateTimesLatencyInFlight) {
  FlowControl flow(100, 64, nullptr);
  EXPECT_EQ(flow.InFlight(), 32) << "before any answer: 250 ms guessed";
  Answers(flow, 50, 150);
  EXPECT_EQ(flow.InFlight(), 19);
  Answers(flow, 50, 1);
  EXPECT_EQ(flow.InFlight(), 1) << "loopback: one at a time fills it";
  Answers(flow, 50, 2000);
  EXPECT_EQ(flow.InFlight(), 64) << "never above the cap";
  EXPECT_EQ(FlowControl(0, 8, nullptr).InFlight(), 4) << "no rate known: a few";
  FlowControl shared(100, 64, nullptr);
  Answers(shared, 50, 150);
  shared.SetShare(0.5);  // two processes share the remote's rate
  EXPECT_EQ(shared.InFlight(), 10) << "half the rate, half in flight";
}

// A throttled answer cuts by a quarter the rate the bucket lets through and what is kept in
// flight; each second without one gives back a tenth of the rate, up to 95 % of the rate that
// was refused, then a hundredth a second.
TEST(FlowControl, AThrottledAnswerCutsTheRateWhichClimbsBack) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  TokenBucket bucket(100, 1, clock, sleeper);
  FlowControl flow(100, 64, &bucket);
  Answers(flow, 20, 200);
  EXPECT_EQ(flow.InFlight(), 25);
  flow.Observe(Millis(5), true, kT0);
  EXPECT_DOUBLE_EQ(flow.RateFactor(), 0.75);
  EXPECT_EQ(flow.InFlight(), 19);
  EXPECT_EQ(flow.throttled(), 1);
  bucket.Acquire();
  EXPECT_EQ(bucket.Acquire().count(), 14)
      << "the bucket lets 75/s through now (13.3 ms, rounded up)";
  for (int i = 0; i < 15; ++i) flow.Observe(Millis(5), true, kT0 + Millis(10 * i));
  EXPECT_DOUBLE_EQ(flow.RateFactor(), 0.75) << "refused together: one cut, not sixteen";
  EXPECT_EQ(flow.throttled(), 16);
  flow.Observe(Millis(5), true, kT0 + Millis(1500));
  EXPECT_DOUBLE_EQ(flow.RateFactor(), 0.5625) << "refused again a second later: cut again";
  const SteadyTime cut = kT0 + Millis(1500);
  for (int i = 0; i < 100; ++i) flow.Observe(Millis(200), false, cut + Millis(9 * i));
  EXPECT_DOUBLE_EQ(flow.RateFactor(), 0.5625) << "100 answers within a second: not yet";
  flow.Observe(Millis(200), false, cut + Millis(1000));
  EXPECT_NEAR(flow.RateFactor(), 0.6625, 1e-9);
  flow.Observe(Millis(200), false, cut + Millis(2000));
  EXPECT_NEAR(flow.RateFactor(), 0.7125, 1e-9) << "up to 95 % of the 0.75 refused, not past it";
  flow.Observe(Millis(200), false, cut + Millis(4000));
  EXPECT_NEAR(flow.RateFactor(), 0.7325, 1e-9) << "above it a hundredth a second";
  flow.Observe(Millis(5), true, cut + Millis(4100));  // refused with the last cut's window...
  EXPECT_NEAR(flow.RateFactor(), 0.7325 * 0.75, 1e-9) << "...past: cut again";
  flow.Observe(Millis(5), true, cut + Millis(4500));
  flow.Observe(Millis(200), false, cut + Millis(5200));
  EXPECT_NEAR(flow.RateFactor(), 0.7325 * 0.75, 1e-9)
      << "a refusal 0.7 s ago: no second without one yet";
  flow.Observe(Millis(200), false, cut + Millis(60'000));
  EXPECT_DOUBLE_EQ(flow.RateFactor(), 1.0) << "back to the configured rate, never above";
}

// Latency rising past twice its lowest (the remote queueing) shrinks the target, to half.
TEST(FlowControl, RisingLatencyEasesOff) {
  FlowControl flow(100, 64, nullptr);
  Answers(flow, 30, 100);
  EXPECT_EQ(flow.InFlight(), 13);
  Answers(flow, 60, 400);
  EXPECT_EQ(flow.InFlight(), 25) << "100/s x 400 ms x 1.25 = 50, halved";
}

TEST(ParallelForLimited, NeverRunsMoreThanTheLimitAtOnce) {
  std::atomic<int> running{0}, most{0}, done{0};
  std::atomic<int> limit{3};
  ParallelForLimited(
      120, 16, [&] { return limit.load(); },
      [&](size_t i) {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (i == 20) limit = 6;
        --running;
        ++done;
      });
  EXPECT_EQ(done.load(), 120);
  EXPECT_LE(most.load(), 6);
  EXPECT_GE(most.load(), 4) << "the raised limit was used";
}

}  // namespace
}  // namespace tandem::connector::http
