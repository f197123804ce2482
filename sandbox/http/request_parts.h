// Splitting a request into its parts the way both emulators do: the path into its segments,
// a form body into its key=value pairs. Decoding stays with each emulator (they decode
// differently, and each keeps its own wire rules).
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace tandem::sandbox {

// The non-empty segments of `path` between slashes, each passed through `decode`.
std::vector<std::string> SplitPath(const std::string& path,
                                   const std::function<std::string(const std::string&)>& decode);

// One `key=value` of a form body, not yet decoded.
struct FormPair {
  std::string key;
  std::string value;       // "" when the pair has no '='
  bool has_value = false;  // whether the pair had an '='
};

// The pairs of an application/x-www-form-urlencoded body, in order; empty pairs are skipped.
std::vector<FormPair> SplitFormPairs(const std::string& body);

}  // namespace tandem::sandbox
