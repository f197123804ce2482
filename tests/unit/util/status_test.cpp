#include "util/status.h"

#include <gtest/gtest.h>

#include "util/circuit_breaker.h"
#include "util/clock.h"
#include "util/outcome.h"
#include "util/result.h"

namespace tandem {
namespace {

TEST(Status, OkByDefaultAndNamedConstructorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = Status::RateLimited("slow down");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsRateLimited());
  EXPECT_TRUE(s.IsTransient());
  EXPECT_EQ(s.ToString(), "RateLimited: slow down");
  EXPECT_FALSE(Status::InvalidArgument("x").IsTransient());
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::NotFound("row 7").WithContext("loading accounts.csv");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "loading accounts.csv: row 7");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = Status::Timeout("late");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsTimeout());
  EXPECT_EQ(bad.value_or(7), 7);
}

TEST(Outcome, NamesKindsAndCarriesFieldAndReason) {
  Outcome o = Outcome::Failed("001A", "Email", "not an e-mail address");
  EXPECT_TRUE(o.failed());
  EXPECT_STREQ(Outcome::KindName(o.kind), "failed");
  EXPECT_EQ(o.field, "Email");
  EXPECT_FALSE(Outcome::Created("001A", "cus_1").failed());
}

TEST(Clock, FormatsRfc3339InUtcWithMillis) {
  EXPECT_EQ(FormatRfc3339(FromEpochMillis(1767225600123)), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(ToEpochMillis(FromEpochMillis(-1)), -1);
}

// The dates the demo and the tests sell on, relative to a day: across year ends both ways.
TEST(Clock, ATermStartedLateInTheMonthKeepsItsDayAfterAShortMonth) {
  EXPECT_EQ(NextTermEnd("2027-02-28", 1, 31), "2027-03-31");  // clamped in February
  EXPECT_EQ(NextTermEnd("2027-04-30", 1, 31), "2027-05-31");
  EXPECT_EQ(NextTermEnd("2027-02-28", 12, 29), "2028-02-29");  // a leap year has it
  EXPECT_EQ(NextTermEnd("2027-03-31", 1, 31), "2027-04-30");   // clamped again
  EXPECT_EQ(NextTermEnd("2027-03-15", 1, 20), "2027-04-15") << "moved on purpose: kept";
  EXPECT_EQ(NextTermEnd("2027-02-28", 1, 0), "2027-03-28") << "no anchor: as AddMonths";
  EXPECT_EQ(NextTermEnd("soon", 1, 31), "");
}

TEST(Clock, MonthDayCountsMonthsAcrossYears) {
  const WallTime dec_1 = ParseRfc3339("2026-12-01T10:00:00Z").value();
  EXPECT_EQ(MonthDay(dec_1, -11), "2026-01-01");
  EXPECT_EQ(MonthDay(dec_1, 1), "2027-01-01");
  EXPECT_EQ(MonthDay(dec_1, -12, 15), "2025-12-15");
  EXPECT_EQ(MonthDay(dec_1, 25), "2029-01-01");
  EXPECT_EQ(MonthDay(ParseRfc3339("2027-01-31T23:59:59Z").value(), -11), "2026-02-01");
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

// The breaker opens on a run of outages only: a record's own refusal or a success in between
// starts the count again, and once open it stays open.
TEST(CircuitBreaker, OpensAfterARunOfOutagesOnly) {
  CircuitBreaker breaker(3);
  EXPECT_FALSE(breaker.Record(Status::Unavailable("503")));
  EXPECT_FALSE(breaker.Record(Status::Timeout("slow")));
  EXPECT_FALSE(breaker.Record(Status::InvalidArgument("bad e-mail")));  // billing answered
  EXPECT_FALSE(breaker.Record(Status::RateLimited("429")));
  EXPECT_FALSE(breaker.Record(Status::Ok()));
  EXPECT_FALSE(breaker.Record(Status::Unavailable("503")));
  EXPECT_FALSE(breaker.Record(Status::Unauthenticated("key revoked")));
  EXPECT_FALSE(breaker.open());
  EXPECT_TRUE(breaker.Record(Status::Timeout("slow again")));
  EXPECT_TRUE(breaker.open());
  EXPECT_TRUE(breaker.Record(Status::Ok())) << "open stays open";
  EXPECT_NE(breaker.Reason().find("3 calls in a row failed"), std::string::npos)
      << breaker.Reason();
  EXPECT_NE(breaker.Reason().find("slow again"), std::string::npos) << breaker.Reason();
}

}  // namespace
}  // namespace tandem
