#include "connector/crm/salesforce/errors.h"

#include <array>

namespace tandem::connector::crm {

bool CrmError::retryable() const {
  static constexpr std::array<const char*, 6> kTransient = {
      "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE",
      "TRANSPORT",          "QUERY_TIMEOUT",          "API_CURRENTLY_DISABLED"};
  for (const char* c : kTransient)
    if (code == c) return true;
  return false;
}

bool CrmError::record_fault() const {
  return !retryable() && code != "INVALID_SESSION_ID" && code != "INSUFFICIENT_ACCESS" &&
         code.rfind("HTTP_", 0) != 0;
}

std::string CrmError::ToString() const {
  std::string out = code + ": " + message;
  if (!fields.empty()) {
    out += " [";
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i];
    out += "]";
  }
  return out;
}

Status ToStatus(const CrmError& e, const std::string& context) {
  const std::string msg = context + ": " + e.ToString();
  if (e.code == "REQUEST_LIMIT_EXCEEDED") return Status::RateLimited(msg);
  if (e.retryable()) return Status::Unavailable(msg);
  if (e.code == "NOT_FOUND" || e.code == "ENTITY_IS_DELETED") return Status::NotFound(msg);
  if (e.code == "INVALID_SESSION_ID") return Status::Unauthenticated(msg);
  if (e.code == "INSUFFICIENT_ACCESS" || e.code == "INSUFFICIENT_ACCESS_OR_READONLY")
    return Status::PermissionDenied(msg);
  if (e.code == "DUPLICATE_VALUE" || e.code == "DUPLICATES_DETECTED")
    return Status::AlreadyExists(msg);
  if (e.code.rfind("HTTP_5", 0) == 0) return Status::Unavailable(msg);
  if (e.code.rfind("HTTP_", 0) == 0) return Status::RemoteError(msg);
  return Status::InvalidArgument(msg);
}

std::string SaveResult::ErrorText() const {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e.ToString();
  return out;
}

Status SaveResult::ToStatus(const std::string& what) const {
  const std::string text = what + ": " + ErrorText();
  // A call refused as a whole will be refused again: not worth retrying. (The coalescing
  // client sends each caller alone first, so the refusal reaches the caller it belongs to.)
  if (!errors.empty() && errors.front().code == kCallRefused) return Status::InvalidArgument(text);
  // The whole Collections call failed (the client's code), not this record.
  if (!errors.empty() && errors.front().code != kCallFailed && errors.front().record_fault())
    return Status::InvalidArgument(text);
  return Status::Unavailable(text);
}

const char* BulkOperationName(BulkOperation op) {
  switch (op) {
    case BulkOperation::kInsert:
      return "insert";
    case BulkOperation::kUpdate:
      return "update";
    case BulkOperation::kUpsert:
      return "upsert";
    case BulkOperation::kDelete:
      return "delete";
  }
  return "insert";
}

namespace salesforce {

namespace {
CrmError FromJson(const Json& e) {
  CrmError out;
  out.code = e["errorCode"].as_string();
  if (out.code.empty()) out.code = e["statusCode"].as_string();
  out.message = e["message"].as_string();
  for (const auto& f : e["fields"].array()) out.fields.push_back(f.as_string());
  return out;
}
}  // namespace

std::vector<CrmError> ParseErrors(int http_status, const std::string& body) {
  std::vector<CrmError> out;
  auto parsed = Json::Parse(body);
  if (parsed.ok()) {
    if (parsed->is_array()) {
      for (const auto& e : parsed->array())
        if (e.is_object()) out.push_back(FromJson(e));
    } else if (parsed->is_object() && parsed->Has("errorCode")) {
      out.push_back(FromJson(*parsed));
    } else if (parsed->is_object() &&
               parsed->Has("error")) {  // OAuth: {"error","error_description"}
      out.push_back(
          CrmError{(*parsed)["error"].as_string(), (*parsed)["error_description"].as_string(), {}});
    }
  }
  if (out.empty()) {
    out.push_back(CrmError{"HTTP_" + std::to_string(http_status), body.substr(0, 200), {}});
  }
  return out;
}

http::Action Classify(const Result<http::HttpResponse>& result) {
  if (result.ok()) {
    const int s = result->status;
    if (s >= 400) {
      const std::string& b = result->body;
      if (b.find("REQUEST_LIMIT_EXCEEDED") != std::string::npos) return http::Action::kRateLimited;
      if (b.find("UNABLE_TO_LOCK_ROW") != std::string::npos) return http::Action::kRetry;
      if (s == 503 || b.find("SERVER_UNAVAILABLE") != std::string::npos)
        return http::Action::kRetry;
    }
  }
  return http::DefaultClassify(result);
}

bool ParseLimitInfo(const std::string& header, int64_t* used, int64_t* max) {
  const auto pos = header.find("api-usage=");
  if (pos == std::string::npos) return false;
  const auto slash = header.find('/', pos);
  if (slash == std::string::npos) return false;
  try {
    *used = std::stoll(header.substr(pos + 10, slash - pos - 10));
    *max = std::stoll(header.substr(slash + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace salesforce
}  // namespace tandem::connector::crm
