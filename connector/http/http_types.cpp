#include "connector/http/http_types.h"

#include <cctype>

namespace tandem::connector::http {
namespace {
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
}  // namespace

std::optional<std::string> FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return v;
  return std::nullopt;
}

void SetHeader(Headers& headers, std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string HttpRequest::EndpointLabel() const {
  if (!endpoint.empty()) return endpoint;
  return method + " " + path.substr(0, path.find('?'));
}

bool IsRetrySafe(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE") return true;
  return request.idempotent || FindHeader(request.headers, "Idempotency-Key").has_value();
}

}  // namespace tandem::connector::http
