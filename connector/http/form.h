// application/x-www-form-urlencoded encoding (WHATWG URL standard §5.2), as Stripe and
// OAuth token endpoints expect. Keys are passed through as given, so nested parameters
// are written by the caller: {"items[0][price]", "price_123"}, {"metadata[crm_id]", id}.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::connector::http {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// Percent-encodes everything but ALPHA / DIGIT / "-._~"; a space becomes %20.
std::string PercentEncode(std::string_view text);
// "a=1&b=x%20y": form encoding with RFC 3986 escapes (a space becomes %20).
std::string FormEncode(const FormFields& fields);

}  // namespace tandem::connector::http
