// The terminal stage: sends a request with cpprestsdk's http_client. One client per
// (base URL, timeout), reused, so connections are kept alive (cpprest pools them per client);
// a request that is not safe to repeat (IsRetrySafe) gets a connection of its own, since
// cpprest silently resends what went out on a pooled connection that broke.
// Thread-safety: Send() is thread-safe (cpprest's http_client is).
#pragma once

#include <memory>
#include <string>

#include "connector/http/http_types.h"

namespace tandem::connector::http {

struct TransportOptions {
  std::string base_url;             // "https://example.my.salesforce.com"
  Millis timeout = Millis(30'000);  // whole request; default 30 s
};

class CpprestTransport final : public HttpTransport {
 public:
  explicit CpprestTransport(TransportOptions options);
  ~CpprestTransport() override;

  // HttpTransport methods
  Result<HttpResponse> Send(HttpRequest& request) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::connector::http
