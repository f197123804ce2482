#include "connector/http/http_types.h"

#include <algorithm>
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

namespace {
// A path segment that names one record (Salesforce 15/18-character ids, Stripe's cus_…):
// counted under one label per endpoint, not one per record.
bool LooksLikeId(const std::string& seg) {
  const bool has_digit = std::any_of(
      seg.begin(), seg.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (!has_digit) return false;
  if ((seg.size() == 15 || seg.size() == 18) && std::all_of(seg.begin(), seg.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c));
      }))
    return true;
  const auto underscore = seg.find('_');
  return underscore != std::string::npos && underscore > 0 && seg.size() - underscore > 8;
}
}  // namespace

std::string HttpRequest::EndpointLabel() const {
  if (!endpoint.empty()) return endpoint;
  const std::string p = path.substr(0, path.find('?'));
  std::string out = method + " ";
  size_t start = 0;
  while (start < p.size()) {
    size_t slash = p.find('/', start + 1);
    if (slash == std::string::npos) slash = p.size();
    const std::string seg = p.substr(start + 1, slash - start - 1);
    out += "/" + (LooksLikeId(seg) ? std::string("{id}") : seg);
    start = slash;
  }
  return out;
}

bool IsRetrySafe(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE") return true;
  return request.idempotent || FindHeader(request.headers, "Idempotency-Key").has_value();
}

}  // namespace tandem::connector::http
