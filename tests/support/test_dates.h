// Order dates relative to today, so that a test written as "an order of January for 12
// months, changed in March" means the same next year: TestMonth(0) is the 1st of the month
// eleven months ago (a 12-month term from it ends next month, so it is running today), and
// TestMonth(k, day) the `day`-th of k months later. On 2026-12-01, TestMonth(0) is 2026-01-01.
#pragma once

#include <chrono>
#include <string>

#include "util/clock.h"

namespace tandem::testing {

inline std::string TestMonth(int k, int day = 1) {
  return MonthDay(std::chrono::system_clock::now(), k - 11, day);
}

}  // namespace tandem::testing
