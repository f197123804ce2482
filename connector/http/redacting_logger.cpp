#include "connector/http/redacting_logger.h"

#include "util/log.h"
#include "util/redact.h"

namespace tandem::connector::http {

std::string LoggingStage::RedactPath(const std::string& path) {
  const auto q = path.find('?');
  if (q == std::string::npos) return path;
  return path.substr(0, q + 1) + Redactor::RedactForm(path.substr(q + 1));
}

std::string LoggingStage::DescribeHeaders(const Headers& headers) {
  std::string out;
  for (const auto& [k, v] : headers) {
    if (!out.empty()) out += ", ";
    out += k + ": " + (Redactor::IsSensitiveHeader(k) ? std::string(kRedacted) : v);
  }
  return out;
}

std::string LoggingStage::DescribeBody(const Headers& headers, const std::string& body) {
  constexpr size_t kMaxLogged = 2048;
  const std::string type = FindHeader(headers, "Content-Type").value_or("");
  std::string redacted;
  if (type.find("x-www-form-urlencoded") != std::string::npos)
    redacted = Redactor::RedactForm(body);
  else
    redacted = Redactor::RedactJson(body);  // JSON and anything else: scan for "key":"value"
  if (redacted.size() > kMaxLogged) redacted = redacted.substr(0, kMaxLogged) + "…(truncated)";
  return redacted;
}

Result<HttpResponse> LoggingStage::Send(HttpRequest& request) {
  auto logger = log::Get("connector.http");
  const bool trace = logger->should_log(spdlog::level::trace);
  if (trace) {
    logger->trace("{} → {} {} [{}] {}", remote_, request.method, RedactPath(request.path),
                  DescribeHeaders(request.headers), DescribeBody(request.headers, request.body));
  }
  const SteadyTime start = clock_.SteadyNow();
  Result<HttpResponse> result = next_->Send(request);
  const auto ms = std::chrono::duration_cast<Millis>(clock_.SteadyNow() - start).count();
  if (!result.ok()) {
    logger->debug("{} {} {} failed after {} ms: {}", remote_, request.method,
                  RedactPath(request.path), ms, result.status().ToString());
    return result;
  }
  logger->debug("{} {} {} → {} in {} ms", remote_, request.method, RedactPath(request.path),
                result->status, ms);
  if (trace) {
    logger->trace("{} ← {} [{}] {}", remote_, result->status, DescribeHeaders(result->headers),
                  DescribeBody(result->headers, result->body));
  }
  return result;
}

}  // namespace tandem::connector::http
