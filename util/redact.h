// Redactor: keeps secrets out of log lines. Two layers (defence in depth):
//  1. structural: header names (Authorization, Cookie, ...) and parameter/JSON keys
//     (password, client_secret, access_token, ...) have their values replaced;
//  2. by value: every secret Tandem resolved (config `env:`/`file:` references, tokens it
//     obtained at run time) is registered here, and the logging sink scrubs any occurrence
//     of it from every message, whichever module wrote it.
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

inline constexpr std::string_view kRedacted = "***";

class Redactor {
 public:
  // Registers a secret value; values shorter than 4 characters are ignored because
  // scrubbing them would mangle ordinary text and they are no real secret.
  void AddSecret(std::string value);
  // Replaces every registered secret in `text` with ***.
  std::string Scrub(std::string_view text) const;
  size_t secret_count() const;

  // True for headers whose value is a credential (case-insensitive).
  static bool IsSensitiveHeader(std::string_view name);
  // True for parameter or JSON keys whose value is a credential (case-insensitive).
  static bool IsSensitiveKey(std::string_view key);
  // Redacts values of sensitive keys in "a=1&client_secret=x" (query strings, form bodies).
  static std::string RedactForm(std::string_view form);
  // Redacts string values of sensitive keys in JSON text ("access_token":"..." -> "***").
  static std::string RedactJson(std::string_view json);

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::string> secrets_;  // GUARDED_BY(mu_), longest first
};
using RedactorPtr = std::shared_ptr<Redactor>;

}  // namespace tandem
