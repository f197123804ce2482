#include "connector/http/retry_classifier.h"

#include <cctype>
#include <ctime>

namespace tandem::connector::http {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kOk:
      return "ok";
    case Action::kRetry:
      return "retry";
    case Action::kRateLimited:
      return "rate-limited";
    case Action::kRefreshAuthThenRetry:
      return "refresh-auth";
    case Action::kFail:
      return "fail";
  }
  return "unknown";
}

Action DefaultClassify(const Result<HttpResponse>& result) {
  if (!result.ok()) return result.status().IsTransient() ? Action::kRetry : Action::kFail;
  const int s = result->status;
  if (s >= 200 && s < 400) return Action::kOk;
  if (s == 401) return Action::kRefreshAuthThenRetry;
  if (s == 429) return Action::kRateLimited;
  if (s == 408 || s == 502 || s == 503 || s == 504) return Action::kRetry;
  return Action::kFail;
}

std::optional<Millis> ParseRetryAfter(const std::string& raw, WallTime now) {
  size_t b = 0, e = raw.size();
  while (b < e && std::isspace(static_cast<unsigned char>(raw[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1]))) --e;
  const std::string value = raw.substr(b, e - b);
  if (value.empty()) return std::nullopt;

  bool all_digits = true;
  for (char c : value) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    if (value.size() > 9) return std::nullopt;  // absurd: more than 31 years
    return Millis(std::stoll(value) * 1000);
  }

  static const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT
      "%a %b %e %H:%M:%S %Y",       // asctime:     Sun Nov  6 08:49:37 1994
  };
  for (const char* fmt : kFormats) {
    std::tm tm{};
    const char* end = strptime(value.c_str(), fmt, &tm);
    if (end == nullptr || *end != '\0') continue;
    const std::time_t when = timegm(&tm);
    const auto delta =
        std::chrono::duration_cast<Millis>(std::chrono::system_clock::from_time_t(when) - now);
    return delta.count() > 0 ? delta : Millis(0);
  }
  return std::nullopt;
}

}  // namespace tandem::connector::http
