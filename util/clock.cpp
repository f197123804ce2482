#include "util/clock.h"

#include <ctime>
#include <thread>

namespace tandem {

void RealSleeper::Sleep(Millis duration) {
  if (duration.count() > 0) std::this_thread::sleep_for(duration);
}

int64_t ToEpochMillis(WallTime t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

WallTime FromEpochMillis(int64_t ms) { return WallTime(Millis(ms)); }

std::string FormatRfc3339(WallTime t) {
  const int64_t ms = ToEpochMillis(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace tandem
