// Money for the revenue reconcile: amounts in minor units of their currency (integers, never
// floating point once read), recurring amounts normalized to one month, and their text.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tandem::reconcile {

// A recurring amount charged every `count` `interval`s (day, week, month, year; any case) as
// a monthly amount in the same minor units: month ÷ count, year ÷ (12 × count),
// week × 52 ÷ (12 × count), day × 365 ÷ (12 × count). Rounded once, to the minor unit, half
// away from zero. nullopt for another interval or a count below 1.
std::optional<int64_t> MonthlyMinor(int64_t amount_minor, const std::string& interval,
                                    int64_t count);

// num ÷ den rounded half away from zero, as every amount here is (den > 0).
int64_t RoundDiv(int64_t num, int64_t den);

// A CRM currency amount (major units) in minor units of `currency`, half away from zero.
int64_t ToMinor(double major, const std::string& currency);
// Minor units back in major units (for task payloads, which carry the CRM's major units).
double ToMajor(int64_t minor, const std::string& currency);

// Major units with the currency's decimals: "90.00", "-5.50", "1200" (JPY).
std::string FormatMinor(int64_t minor, const std::string& currency);

// The billing period as words: "month", "3 months", "year".
std::string Period(const std::string& interval, int64_t count);

// "day" | "week" | "month" | "year" from the CRM's picklist ("Month") or billing's ("month");
// "" for anything else.
std::string NormalizeInterval(const std::string& interval);

}  // namespace tandem::reconcile
