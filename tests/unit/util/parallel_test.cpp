#include "util/parallel.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace tandem {
namespace {

// What the work-order batch relies on: a thread of the group starts another once a slot is
// free, never more than the limit at once, and Join waits for every thread, those started by
// the group's own threads included.
TEST(ThreadGroup, ThreadsStartMoreWithinTheLimitAndJoinWaitsForEveryOne) {
  std::atomic<int> running{0}, peak{0};
  std::atomic<bool> late_done{false}, late_started{false};
  auto enter = [&] {
    const int now = ++running;
    for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
  };
  ThreadGroup group(2);  // after what its threads use: it joins them first
  ASSERT_EQ(group.Reserve(10), 2) << "no more slots than the limit";
  EXPECT_EQ(group.Reserve(1), 0) << "both taken";
  ASSERT_TRUE(group.StartReserved([&] {
    enter();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    --running;
  }));
  ASSERT_TRUE(group.StartReserved([&] {
    enter();
    // A slot comes free when the first thread ends: this one starts a third in it.
    int got = 0;
    for (int i = 0; i < 5000 && got == 0; ++i) {
      got = group.Reserve(1);
      if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (got == 1)
      late_started = group.StartReserved([&] {
        enter();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        late_done = true;
        --running;
      });
    --running;
  }));
  group.Join();
  EXPECT_TRUE(late_started.load()) << "no slot came free for a thread of the group";
  EXPECT_TRUE(late_done.load()) << "Join returned before a thread started by a thread ended";
  EXPECT_EQ(running.load(), 0);
  EXPECT_LE(peak.load(), 2);
  EXPECT_EQ(group.Reserve(10), 2) << "every slot free again";
  group.Unreserve(2);
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

// A batch follows billing's size at each refill: a lower limit adds no thread until fewer
// than it run; a higher one frees slots at once.
TEST(ThreadGroup, ANewLimitCountsTheSlotsAlreadyTaken) {
  ThreadGroup group(4);
  EXPECT_EQ(group.Reserve(3), 3);
  EXPECT_EQ(group.Reserve(5, 2), 0) << "3 taken, a limit of 2";
  group.Unreserve(1);
  EXPECT_EQ(group.Reserve(5, 2), 0) << "2 taken, a limit of 2";
  EXPECT_EQ(group.Reserve(5, 6), 4) << "a limit of 6: 4 more";
  group.Unreserve(6);
  group.Join();
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
