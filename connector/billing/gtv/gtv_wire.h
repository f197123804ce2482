// Gotransverse (GTV) API 2.0 wire details shared by the adapter's parts: the {code, message}
// error shape, money in major units, ISO dates with a tenant offset, alpha-3 countries,
// recurrence periods, and GTV's JSON as Tandem's billing types.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "connector/billing/billing_system.h"

namespace tandem::connector::billing::gtv {

// {"code","message"} → a Status: 404 NotFound, 401/403 Unauthenticated, 400/422
// InvalidArgument (GTV's message kept: it names the field), 429 RateLimited, 5xx Unavailable.
Status ErrorStatus(int http_status, const std::string& body, const std::string& context);

// "30.00" (or the JSON number 30) in `currency` → 3000 minor units, exactly (half away from
// zero past the currency's digits).
int64_t ToMinor(const Json& amount, const std::string& currency);
// 3000 → "30.00": GTV takes a decimal string, so no binary rounding on the way.
std::string FromMinor(int64_t minor, const std::string& currency);

// "2026-12-01", "2026-12-01T10:00:00-06:00" or "...Z" → epoch seconds; 0 for empty or
// unreadable (GTV's absent dates).
int64_t ParseTime(const std::string& text);
// Epoch seconds → "2026-12-01" (UTC).
std::string FormatDate(int64_t epoch_s);

// ISO 3166 alpha-2 → alpha-3 ("FR" → "FRA"); a 3-letter code passes; "" when unknown.
std::string CountryAlpha3(const std::string& code);
// Alpha-3 → alpha-2 when known, else the code as it is.
std::string CountryAlpha2(const std::string& alpha3);

// (month, 1) → "MONTH", (month, 3) → "QUARTER", (month, 6) → "TWICEAYEAR", (year, 1) →
// "YEAR", (year, 2) → "TWOYEARS"; "" when GTV has no such period.
std::string RecurrencePeriod(const std::string& interval, int interval_count);
// The reverse: "QUARTER" → ("month", 3).
void IntervalOf(const std::string& period, std::string* interval, int* interval_count);

// A service's status as Tandem's neutral subscription status.
std::string SubscriptionStatus(const std::string& service_status);

// Custom field values [{custom_field{id,name}, value}] as a name → value map.
Metadata ReadCustomFields(const Json& object);

BillingAccount AccountFromJson(const Json& account);
Product ProductFromJson(const Json& product);
Price PriceFromJson(const Json& price);
// A service as a subscription item: its id, quantity, unit amount and period.
SubscriptionItem ItemFromService(const Json& service);
Invoice InvoiceFromJson(const Json& invoice);
Payment PaymentFromJson(const Json& payment);

}  // namespace tandem::connector::billing::gtv
