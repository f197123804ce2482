// LoggingStage: one debug line per attempt (method, URL, status, latency) and, at trace
// level, headers and bodies — all redacted: credential headers and sensitive parameters
// are blanked here, and the log sink scrubs any known secret value besides. Bodies never go
// to info level: they carry customer data.
// Thread-safety: Send() is thread-safe.
#pragma once

#include "connector/http/http_types.h"

namespace tandem::connector::http {

class LoggingStage final : public HttpTransport {
 public:
  LoggingStage(HttpTransportPtr next, std::string remote, const Clock& clock)
      : next_(std::move(next)), remote_(std::move(remote)), clock_(clock) {}

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

  // Exposed for tests: what the stage would log for these headers / this body.
  static std::string DescribeHeaders(const Headers& headers);
  static std::string DescribeBody(const Headers& headers, const std::string& body);
  static std::string RedactPath(const std::string& path);

 private:
  HttpTransportPtr next_;
  const std::string remote_;
  const Clock& clock_;
};

}  // namespace tandem::connector::http
