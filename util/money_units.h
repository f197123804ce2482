// Facts about money and digests every module shares: how many digits after the point a
// currency has (ISO 4217), and a stable hash for "has this changed" comparisons.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

// Digits after the point for an ISO 4217 code, any case (JPY 0, KWD 3, most 2).
int CurrencyDecimals(const std::string& currency);

// An amount in major units (a CRM currency field: 12.5) in minor units of `currency` (1250),
// half away from zero; and back.
int64_t ToMinorUnits(double major, const std::string& currency);
double ToMajorUnits(int64_t minor, const std::string& currency);

// Stable 64-bit FNV-1a of a text, as 16 hex digits: the same in every process and version.
std::string StableHash(const std::string& text);

}  // namespace tandem
