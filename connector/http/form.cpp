#include "connector/http/form.h"

#include <cctype>

namespace tandem::connector::http {
namespace {
void Encode(std::string_view text, std::string* out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
    }
  }
}
}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 2);
  Encode(text, &out);
  return out;
}

std::string FormEncode(const FormFields& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    // Spaces as %20, not '+': both decode the same, and strict validators (Stripe's OpenAPI
    // description through Prism) flag '+' as a reserved character, as stripe-node avoids.
    Encode(k, &out);
    out.push_back('=');
    Encode(v, &out);
  }
  return out;
}

}  // namespace tandem::connector::http
