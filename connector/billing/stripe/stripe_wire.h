// Stripe wire details shared by the adapter's parts: the error shape and what the retry
// stage should do with each answer, webhook signatures, and hashing.
// See https://stripe.com/docs/error-handling, https://stripe.com/docs/webhooks/signatures.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "connector/billing/billing_system.h"
#include "connector/http/retry_classifier.h"

namespace tandem::connector::billing::stripe {

// {"error":{"type","code","message","param"}} → a Status: 404/resource_missing NotFound,
// 401 Unauthenticated, 402 card errors and 400 InvalidArgument (naming the param),
// idempotency_error Conflict, 429 RateLimited, 5xx Unavailable.
Status ErrorStatus(int http_status, const std::string& body, const std::string& context);

// Stripe's advice wins when it gives it (Stripe-Should-Retry); otherwise DefaultClassify,
// plus 409 lock_timeout as retryable.
http::Action Classify(const Result<http::HttpResponse>& result);

std::string Sha256Hex(const std::string& data);
std::string HmacSha256Hex(const std::string& key, const std::string& data);

// Verifies "t=TIMESTAMP,v1=SIG[,v1=SIG...]" over "TIMESTAMP.payload" with the endpoint
// secret, accepting any v1 that matches (secret rotation), and a timestamp no further than
// `tolerance_s` from now (replay protection). Unauthenticated when it does not verify.
Status VerifySignature(const std::string& payload, const std::string& header,
                       const std::string& secret, int64_t now_epoch_s, int64_t tolerance_s);

// Subscription metadata: the date a scheduled start bills from (StartSubscription).
inline constexpr char kStartAtKey[] = "tandem_start_at";

// proration_behavior for a change: create_prorations or none.
const char* ProrationBehavior(Proration proration);

Metadata ReadMetadata(const Json& object);
Price PriceFromJson(const Json& price);
SubscriptionItem ItemFromJson(const Json& item);
Subscription SubscriptionFromJson(const Json& subscription);
Invoice InvoiceFromJson(const Json& invoice);
// A charge, a refund (amount negative) and a credit note (its total, negative) as Payments.
// A refund knows its invoice and account only when its charge is expanded.
Payment ChargeFromJson(const Json& charge);
Payment RefundFromJson(const Json& refund);
Payment CreditNoteFromJson(const Json& credit_note);

// Parses a Stripe event into the canonical BillingEvent.
Result<BillingEvent> ParseEvent(const std::string& payload);

}  // namespace tandem::connector::billing::stripe
