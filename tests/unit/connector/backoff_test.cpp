#include <gtest/gtest.h>

#include "connector/http/jittered_backoff.h"

namespace tandem::connector::http {
namespace {

TEST(JitteredBackoff, CeilingDoublesUpToTheCap) {
  SeededRandom random(7);
  JitteredExponentialBackoff b(Millis(100), Millis(1000), random);
  EXPECT_EQ(b.Ceiling(1), Millis(100));
  EXPECT_EQ(b.Ceiling(2), Millis(200));
  EXPECT_EQ(b.Ceiling(3), Millis(400));
  EXPECT_EQ(b.Ceiling(4), Millis(800));
  EXPECT_EQ(b.Ceiling(5), Millis(1000));
  EXPECT_EQ(b.Ceiling(60), Millis(1000));
}

TEST(JitteredBackoff, FullJitterStaysInWindowAndSpreads) {
  SeededRandom random(7);
  JitteredExponentialBackoff b(Millis(100), Millis(1000), random);
  int64_t min = 1 << 30, max = -1;
  for (int i = 0; i < 1000; ++i) {
    const int64_t d = b.Delay(3).count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 400);
    min = std::min(min, d);
    max = std::max(max, d);
  }
  // Full jitter uses the whole window, not a narrow band around the ceiling.
  EXPECT_LT(min, 40);
  EXPECT_GT(max, 360);
}

TEST(JitteredBackoff, SameSeedSameDelays) {
  SeededRandom r1(99), r2(99);
  JitteredExponentialBackoff a(Millis(50), Millis(5000), r1), b(Millis(50), Millis(5000), r2);
  for (int i = 1; i < 10; ++i) EXPECT_EQ(a.Delay(i), b.Delay(i));
}

}  // namespace
}  // namespace tandem::connector::http
