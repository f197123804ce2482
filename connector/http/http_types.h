// Plain request/response values for the REST client core. No cpprest types here, so that
// code above the connector compiles without cpprest's heavy headers.
// Thread-safety: value types.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.h"
#include "util/result.h"

namespace tandem::connector::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; the first match wins.
std::optional<std::string> FindHeader(const Headers& headers, std::string_view name);
// Sets (replacing any existing value of) a header.
void SetHeader(Headers& headers, std::string name, std::string value);

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // path and query, relative to the client's base URL
  Headers headers;
  std::string body;
  // Label for call counting and logs ("GET /query"); defaults to method + path without query.
  std::string endpoint;
  // Overrides the client's default timeout for this request.
  std::optional<Millis> timeout;
  // The caller vouches that repeating this request is safe (e.g. upsert by external id).
  bool idempotent = false;

  std::string EndpointLabel() const;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  std::optional<std::string> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
  bool ok() const { return status >= 200 && status < 300; }
};

// True when the request may be sent again without risk of doing its effect twice:
// methods idempotent by RFC 9110 §9.2.2, or a POST/PATCH that carries an Idempotency-Key
// header or was marked idempotent by the caller.
bool IsRetrySafe(const HttpRequest& request);

// The transport and every pipeline stage share this interface (cpprestsdk's
// http_pipeline_stage idea, with values instead of cpprest types).
// Success: the remote answered (any status). Failure: no answer — kUnavailable for
// connect errors and dropped connections, kTimeout when the answer did not come in time.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual Result<HttpResponse> Send(HttpRequest& request) = 0;
};
using HttpTransportPtr = std::unique_ptr<HttpTransport>;

}  // namespace tandem::connector::http
