#include "sandbox/http/latency.h"

#include <gtest/gtest.h>

namespace tandem::sandbox {
namespace {

TEST(NetworkDelayTest, ApiRequestsWaitTheFixedTimeWithinTheJitterAndAdminRequestsDoNotWait) {
  NetworkDelay delay(Latency{150, 50});
  int64_t lowest = 1000, highest = 0;
  for (int i = 0; i < 400; ++i) {
    const int64_t ms = delay.Delay("/v1/customers").count();
    lowest = std::min(lowest, ms);
    highest = std::max(highest, ms);
  }
  EXPECT_GE(lowest, 100);
  EXPECT_LE(highest, 200);
  EXPECT_LT(lowest, 120);  // the jitter spreads both ways
  EXPECT_GT(highest, 180);
  EXPECT_EQ(delay.Delay("/__sandbox/stats").count(), 0);
}

TEST(NetworkDelayTest, AJitterLargerThanTheFixedTimeNeverWaitsLessThanNothing) {
  NetworkDelay delay(Latency{10, 40});
  for (int i = 0; i < 200; ++i) EXPECT_GE(delay.Delay("/x").count(), 0);
}

}  // namespace
}  // namespace tandem::sandbox
