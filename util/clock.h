// Clock and Sleeper: the seams through which code reads time and waits, so that tests
// freeze time and record waits instead of sleeping (LevelDB's Env, Envoy's TimeSource).
// Thread-safety: SystemClock and RealSleeper are stateless and thread-safe; fakes say their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

namespace tandem {

using WallTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: for timestamps stored or sent, HTTP dates, cursors.
  virtual WallTime Now() const = 0;
  // Monotonic time: for measuring intervals (rate limiting, latency).
  virtual SteadyTime SteadyNow() const = 0;
};
using ClockPtr = std::unique_ptr<Clock>;

class SystemClock final : public Clock {
 public:
  // Clock methods
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
};

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Blocks the calling thread for `duration` (or less if the process is stopping).
  virtual void Sleep(Millis duration) = 0;
};
using SleeperPtr = std::unique_ptr<Sleeper>;

class RealSleeper final : public Sleeper {
 public:
  // Sleeper methods
  void Sleep(Millis duration) override;
};

// Milliseconds since the Unix epoch: the one time representation the store keeps, so
// that PostgreSQL and SQLite compare and order times the same way.
int64_t ToEpochMillis(WallTime t);
WallTime FromEpochMillis(int64_t ms);
// RFC 3339 in UTC with milliseconds: "2026-11-24T18:00:51.123Z".
std::string FormatRfc3339(WallTime t);
// Reads "2026-11-24T18:00:51Z", with or without ".123" and "Z" or "+0000" (Salesforce's
// form). Failure: InvalidArgument.
Result<WallTime> ParseRfc3339(std::string_view text);
// "YYYY-MM-DD": the `day`-th of the month `months` after `t`'s month (UTC; negative: before).
// REQUIRES: 1 <= day <= 28 (a day every month has).
std::string MonthDay(WallTime t, int months, int day = 1);

// Calendar arithmetic on YYYY-MM-DD (UTC): months added (day clamped to the month's end; ""
// when malformed), whole months from one date to another (a started month counts), epoch
// seconds (-1 when malformed).
std::string AddMonths(const std::string& date, int64_t months);
int64_t MonthsBetween(const std::string& from, const std::string& to);
int64_t DateToEpoch(const std::string& date);
// A term's next end: `months` after `end`, on the day of the month the term is anchored to
// (`anchor_day`, its start's) when `end` had been clamped to a short month's last day — a term
// started on the 31st ends on Feb 28, then on Mar 31, not Mar 28. "" when malformed.
std::string NextTermEnd(const std::string& end, int64_t months, int anchor_day);

}  // namespace tandem
