#include "util/parallel.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace tandem {
namespace {

// What the work-order batch relies on: threads of the group start more while they run, never
// more than the limit at once, and Join waits for all of them, the late ones included.
TEST(ThreadGroup, ThreadsStartMoreWithinTheLimitAndJoinWaitsForEveryOne) {
  ThreadGroup group(4);
  std::atomic<int> running{0}, peak{0}, ran{0};
  std::function<void(int)> work = [&](int depth) {
    const int now = ++running;
    for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (depth < 3) {
      // Each asks for 3 more: far more than the 4 slots allow at once.
      const int got = group.Reserve(3);
      for (int i = 0; i < got; ++i)
        EXPECT_TRUE(group.StartReserved([&, depth] { work(depth + 1); }));
    }
    ++ran;
    --running;
  };
  ASSERT_EQ(group.Reserve(10), 4) << "no more slots than the limit";
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(group.StartReserved([&] { work(0); }));
  EXPECT_EQ(group.Reserve(1), 0) << "all four taken";
  group.Join();
  EXPECT_EQ(running.load(), 0) << "Join returned with a thread still running";
  EXPECT_LE(peak.load(), 4);
  EXPECT_GT(ran.load(), 4) << "no thread started another";
  EXPECT_EQ(group.Reserve(10), 4) << "every slot free again";
}

TEST(ThreadGroup, TheFirstExceptionIsRaisedByJoinAndStopsNewThreads) {
  ThreadGroup group(2);
  ASSERT_EQ(group.Reserve(1), 1);
  ASSERT_TRUE(group.StartReserved([] { throw std::runtime_error("broken invariant"); }));
  for (int i = 0; i < 200 && !group.failed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(group.failed());
  EXPECT_EQ(group.Reserve(1), 0) << "a group that failed starts nothing more";
  EXPECT_THROW(group.Join(), std::runtime_error);
}

TEST(ThreadGroup, UnreservedSlotsAreFreeAgain) {
  ThreadGroup group(3);
  EXPECT_EQ(group.Reserve(3), 3);
  group.Unreserve(2);
  EXPECT_EQ(group.Reserve(5), 2);
  group.Unreserve(3);
  group.Join();
}

}  // namespace
}  // namespace tandem
