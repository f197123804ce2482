// What to do with one attempt's result: a pure function, tested with a table
// (Airbyte CDK's response_models / ResponseAction). Remote-specific classifiers (Salesforce's
// 403 REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW) wrap DefaultClassify.
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <optional>

#include "connector/http/http_types.h"

namespace tandem::connector::http {

enum class Action {
  kOk,                    // 2xx/3xx: done
  kRetry,                 // transient: retry with backoff (502/503/504, connect error, timeout)
  kRateLimited,           // the remote asked us to slow down (429): retry, honouring Retry-After
  kRefreshAuthThenRetry,  // 401: credentials expired; the auth stage refreshes once
  kFail,                  // permanent: surface to the caller
};

const char* ActionName(Action action);

// 2xx/3xx → kOk; 401 → kRefreshAuthThenRetry; 429 → kRateLimited;
// 408/502/503/504 and transport failures (kUnavailable, kTimeout) → kRetry; the rest → kFail.
Action DefaultClassify(const Result<HttpResponse>& result);

using Classifier = std::function<Action(const Result<HttpResponse>&)>;

// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date
// (IMF-fixdate, plus the obsolete RFC 850 and asctime forms recipients must accept).
// A date in the past gives 0. Returns nullopt for anything else.
std::optional<Millis> ParseRetryAfter(const std::string& value, WallTime now);

}  // namespace tandem::connector::http
