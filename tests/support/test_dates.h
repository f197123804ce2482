// Order dates relative to today, so that a test written as "an order of January for 12
// months, changed in March" means the same next year: TestMonth(0) is the 1st of the month
// eleven months ago (a 12-month term from it ends next month, so it is running today), and
// TestMonth(k, day) the `day`-th of k months later. On 2026-12-01, TestMonth(0) is 2026-01-01.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace tandem::testing {

inline std::string TestMonth(int k, int day = 1) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  const int months = (utc.tm_year + 1900) * 12 + utc.tm_mon - 11 + k;  // months since year 0
  char out[48];
  std::snprintf(out, sizeof out, "%04d-%02d-%02d", months / 12, months % 12 + 1, day);
  return out;
}

}  // namespace tandem::testing
