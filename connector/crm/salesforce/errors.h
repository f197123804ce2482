// Salesforce error bodies and how the REST core should treat each answer.
// Error shapes: REST calls answer [{"message","errorCode","fields"}]; Collections results
// carry {"statusCode","message","fields"} per record.
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "connector/crm/crm_client.h"
#include "connector/http/retry_classifier.h"

namespace tandem::connector::crm::salesforce {

// Parses any of Salesforce's error shapes; a body that is not one gives one error with
// code "HTTP_<status>" and the body's start as the message.
std::vector<CrmError> ParseErrors(int http_status, const std::string& body);

// The Salesforce-aware classifier for the retry stage:
//  403 REQUEST_LIMIT_EXCEEDED → kRateLimited (Salesforce sends no Retry-After: our backoff);
//  UNABLE_TO_LOCK_ROW (any status) and 503 SERVER_UNAVAILABLE → kRetry;
//  401 → kRefreshAuthThenRetry; the rest as DefaultClassify.
http::Action Classify(const Result<http::HttpResponse>& result);

// "api-usage=18/15000" → used, max. False when the header is absent or malformed.
bool ParseLimitInfo(const std::string& header, int64_t* used, int64_t* max);

}  // namespace tandem::connector::crm::salesforce
