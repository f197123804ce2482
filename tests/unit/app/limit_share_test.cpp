// Processes sharing one store split the remotes' limits (app/limit_share.h), and a process
// joining others calls no remote before they have counted it.
#include "app/limit_share.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/store_backends.h"

namespace tandem::app {
namespace {

using testing::StoreBackend;

class LimitShareTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override { OpenStore(); }
  static Millis Since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - t);
  }

  SystemClock clock_;
  static constexpr Millis kEvery{200};
};

// Without the wait, the first process would keep the whole limit until its next heartbeat
// while the newcomer already ran at its share: together above the limit (seen in
// bench_workorders: 4 processes started together reached 29 Salesforce requests at once, with
// 25 allowed).
TEST_P(LimitShareTest, AProcessJoiningOthersStartsCallingOnlyOnceTheyHaveCountedIt) {
  if (!StoreReady()) return;
  auto second = store_->OpenAnother();
  auto third = store_->OpenAnother();
  ASSERT_TRUE(second.ok() && third.ok());
  std::atomic<int> a_share{1}, b_share{1}, c_share{1};

  auto t = std::chrono::steady_clock::now();
  LimitShare a(
      **store_, clock_, "host:a", [&](int n) { a_share = n; }, kEvery);
  a.Start();
  EXPECT_LT(Since(t), kEvery) << "a process alone waited for nobody";
  EXPECT_EQ(a_share.load(), 1);

  t = std::chrono::steady_clock::now();
  LimitShare b(
      **second, clock_, "host:b", [&](int n) { b_share = n; }, kEvery);
  b.Start();
  EXPECT_GE(Since(t), kEvery / 2) << "b waited for two of a's beats, half a heartbeat apart";
  EXPECT_EQ(a_share.load(), 2) << "b may call the remotes while a still keeps the whole limit";
  EXPECT_EQ(b_share.load(), 2);

  LimitShare c(
      **third, clock_, "host:c", [&](int n) { c_share = n; }, kEvery);
  c.Start();
  EXPECT_EQ(a_share.load(), 3);
  EXPECT_EQ(b_share.load(), 3);
  EXPECT_EQ(c_share.load(), 3);

  // A graceful stop: the others take its share at their next heartbeat.
  c.Stop();
  b.Stop();
  const auto until = std::chrono::steady_clock::now() + 10 * kEvery;
  while (a_share.load() != 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(kEvery / 4);
  EXPECT_EQ(a_share.load(), 1);
}

// One that was killed (no longer beating) holds a newcomer up until it stops counting, three
// heartbeats after its last, and no longer: the newcomer then keeps the whole limit.
TEST_P(LimitShareTest, AKilledProcessHoldsANewcomerUpOnlyUntilItStopsCounting) {
  if (!StoreReady()) return;
  const int64_t now = ToEpochMillis(clock_.Now());
  ASSERT_EQ((*store_)->Heartbeat("host:dead", now, 3 * kEvery.count()).value(), 1);
  std::atomic<int> share{1}, applied{0};
  const auto t = std::chrono::steady_clock::now();
  LimitShare b(
      **store_, clock_, "host:b",
      [&](int n) {
        share = n;
        ++applied;
      },
      kEvery);
  b.Start();
  EXPECT_GE(Since(t), 2 * kEvery) << "the dead one might have been alive and slow";
  EXPECT_LT(Since(t), 8 * kEvery);
  const auto until = std::chrono::steady_clock::now() + 10 * kEvery;
  while (share.load() != 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(kEvery / 4);
  EXPECT_EQ(share.load(), 1);
  EXPECT_EQ(applied.load(), 2) << "b kept half until the dead one stopped counting";
}

// Two starting at the same moment each wait for the other's beats, which they keep making
// while they wait: both start within a few heartbeats (not when one gives the other up for
// dead), each with half.
TEST_P(LimitShareTest, TwoStartingTogetherWaitForEachOtherOnlyAFewBeats) {
  if (!StoreReady()) return;
  auto second = store_->OpenAnother();
  ASSERT_TRUE(second.ok());
  std::atomic<int> a_share{1}, b_share{1};
  LimitShare a(
      **store_, clock_, "host:a", [&](int n) { a_share = n; }, kEvery);
  LimitShare b(
      **second, clock_, "host:b", [&](int n) { b_share = n; }, kEvery);
  const auto t = std::chrono::steady_clock::now();
  std::thread other([&] { b.Start(); });
  a.Start();
  other.join();
  EXPECT_LT(Since(t), 3 * kEvery + kEvery / 2) << "one waited until it gave the other up";
  EXPECT_EQ(a_share.load(), 2);
  EXPECT_EQ(b_share.load(), 2);
}

// The others beat as soon as they see the count change, and again half a heartbeat later: a
// newcomer waits about 0.6 of a heartbeat, not what their regular beats would take (here 1.4
// heartbeats: the next regular beat 0.4 after the join, the one after it a heartbeat later).
TEST_P(LimitShareTest, ANewcomerIsLetInSoonerThanTheOthersRegularBeatsWould) {
  if (!StoreReady()) return;
  auto second = store_->OpenAnother();
  ASSERT_TRUE(second.ok());
  constexpr Millis kSlow{2'000};
  std::atomic<int> a_share{1}, b_share{1};
  LimitShare a(
      **store_, clock_, "host:a", [&](int n) { a_share = n; }, kSlow);
  a.Start();
  // Past half a heartbeat since a's last beat: a may beat as soon as it sees b.
  std::this_thread::sleep_for(kSlow * 6 / 10);
  const auto t = std::chrono::steady_clock::now();
  LimitShare b(
      **second, clock_, "host:b", [&](int n) { b_share = n; }, kSlow);
  b.Start();
  // Half a heartbeat for a's second beat, an eighth for a to see b; a quarter to spare (and
  // the rare prompt beat b read too late costs another half: 1.125).
  EXPECT_LT(Since(t), kSlow * 5 / 4) << "b waited for a's regular beats";
  EXPECT_GE(Since(t), kSlow / 2) << "a's two beats came within half a heartbeat";
  EXPECT_EQ(a_share.load(), 2);
  EXPECT_EQ(b_share.load(), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, LimitShareTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::app
