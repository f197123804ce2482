#include "util/clock.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
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

std::string MonthDay(WallTime t, int months, int day) {
  const std::time_t secs = static_cast<std::time_t>(ToEpochMillis(t) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const int total = (tm.tm_year + 1900) * 12 + tm.tm_mon + months;  // months since year 0
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", total / 12, total % 12 + 1, day);
  return buf;
}

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

Result<WallTime> ParseRfc3339(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) !=
          6 ||
      consumed != 19)
    return Status::InvalidArgument("not an RFC 3339 time: '" + s + "'");
  std::string rest = s.substr(19);
  int64_t ms = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    int digits = 0;
    for (; i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i])); ++i)
      if (digits++ < 3) ms = ms * 10 + (rest[i] - '0');
    for (; digits < 3; ++digits) ms *= 10;
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+0000" && rest != "+00:00")
    return Status::InvalidArgument("not a UTC RFC 3339 time: '" + s + "'");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return FromEpochMillis(static_cast<int64_t>(timegm(&tm)) * 1000 + ms);
}

namespace {

bool ParseYmd(const std::string& d, int* y, int* m, int* day) {
  return d.size() >= 10 && std::sscanf(d.c_str(), "%4d-%2d-%2d", y, m, day) == 3 && *m >= 1 &&
         *m <= 12 && *day >= 1 && *day <= 31;
}

int DaysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::string Ymd(int y, int m, int d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

}  // namespace

std::string AddMonths(const std::string& date, int64_t months) {
  int y, m, d;
  if (!ParseYmd(date, &y, &m, &d)) return "";
  const int64_t total = static_cast<int64_t>(y) * 12 + (m - 1) + months;
  const int ny = static_cast<int>(total / 12), nm = static_cast<int>(total % 12) + 1;
  return Ymd(ny, nm, std::min(d, DaysInMonth(ny, nm)));
}

int64_t MonthsBetween(const std::string& from, const std::string& to) {
  int y1, m1, d1, y2, m2, d2;
  if (!ParseYmd(from, &y1, &m1, &d1) || !ParseYmd(to, &y2, &m2, &d2)) return 0;
  int64_t months = (static_cast<int64_t>(y2) - y1) * 12 + (m2 - m1) + (d2 > d1 ? 1 : 0);
  return months < 0 ? 0 : months;
}

std::string NextTermEnd(const std::string& end, int64_t months, int anchor_day) {
  int y, m, d;
  if (!ParseYmd(end, &y, &m, &d)) return "";
  // Clamped to a short month's last day: the term's own day is the anchor's (AddMonths clamps
  // it again where the new month is short too).
  if (anchor_day > d && anchor_day <= 31 && d == DaysInMonth(y, m)) d = anchor_day;
  return AddMonths(Ymd(y, m, d), months);
}

int64_t DateToEpoch(const std::string& date) {
  int y, m, d;
  if (!ParseYmd(date, &y, &m, &d)) return -1;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace tandem
