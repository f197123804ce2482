// ASCII case folding for codes, keys and names (currency codes, field names, e-mail domains):
// not locale-aware, by design — the same answer on every machine.
// Thread-safety: pure functions.
#pragma once

#include <cctype>
#include <string>

namespace tandem {

inline std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace tandem
