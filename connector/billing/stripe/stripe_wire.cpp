#include "connector/billing/stripe/stripe_wire.h"

#include <cstdlib>

#include "util/openssl_init.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace tandem::connector::billing {

namespace stripe {
namespace {
std::string Hex(const unsigned char* data, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

bool SafeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::string HmacSha256Hex(const std::string& key, const std::string& data) {
  InitOpenSsl();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return Hex(md, len);
}

Status ErrorStatus(int http_status, const std::string& body, const std::string& context) {
  auto parsed = Json::Parse(body);
  std::string type, code, message, param;
  if (parsed.ok()) {
    const Json& e = (*parsed)["error"];
    type = e["type"].as_string();
    code = e["code"].as_string();
    message = e["message"].as_string();
    param = e["param"].as_string();
  }
  if (message.empty()) message = "HTTP " + std::to_string(http_status) + ": " + body.substr(0, 200);
  std::string text = context + ": " + message;
  if (!param.empty()) text += " (param: " + param + ")";
  if (!code.empty()) text += " [" + code + "]";
  if (type == "idempotency_error") return Status::Conflict(text);
  if (http_status == 401) return Status::Unauthenticated(text);
  if (http_status == 403) return Status::PermissionDenied(text);
  if (http_status == 404 || code == "resource_missing") return Status::NotFound(text);
  if (http_status == 429) return Status::RateLimited(text);
  if (http_status >= 500) return Status::Unavailable(text);
  return Status::InvalidArgument(text);
}

http::Action Classify(const Result<http::HttpResponse>& result) {
  if (result.ok()) {
    if (auto advice = result->Header("Stripe-Should-Retry")) {
      if (*advice == "false") return result->ok() ? http::Action::kOk : http::Action::kFail;
      if (*advice == "true")
        return result->status == 429 ? http::Action::kRateLimited : http::Action::kRetry;
    }
    if (result->status == 409 && result->body.find("lock_timeout") != std::string::npos)
      return http::Action::kRetry;
  }
  return http::DefaultClassify(result);
}

Status VerifySignature(const std::string& payload, const std::string& header,
                       const std::string& secret, int64_t now, int64_t tolerance_s) {
  if (secret.empty()) return Status::Unauthenticated("no webhook secret configured");
  int64_t timestamp = -1;
  std::vector<std::string> signatures;
  size_t start = 0;
  while (start < header.size()) {
    size_t comma = header.find(',', start);
    if (comma == std::string::npos) comma = header.size();
    const std::string part = header.substr(start, comma - start);
    const auto eq = part.find('=');
    if (eq != std::string::npos) {
      const std::string k = part.substr(0, eq), v = part.substr(eq + 1);
      if (k == "t") {
        char* end = nullptr;
        timestamp = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0') timestamp = -1;
      } else if (k == "v1") {
        signatures.push_back(v);
      }
    }
    start = comma + 1;
  }
  if (timestamp < 0 || signatures.empty())
    return Status::Unauthenticated("Stripe-Signature header has no timestamp or no v1 signature");
  const std::string expected = HmacSha256Hex(secret, std::to_string(timestamp) + "." + payload);
  bool match = false;
  for (const auto& s : signatures) match = SafeEquals(s, expected) || match;
  if (!match) return Status::Unauthenticated("no v1 signature matches the payload");
  if (tolerance_s > 0 && std::llabs(now - timestamp) > tolerance_s)
    return Status::Unauthenticated(
        "signature timestamp is " + std::to_string(std::llabs(now - timestamp)) + " s in the " +
        (timestamp < now ? "past" : "future") + ", beyond the " + std::to_string(tolerance_s) +
        " s tolerance (" + (timestamp < now ? "a replay?" : "a clock out of step?") + ")");
  return Status::Ok();
}

Metadata ReadMetadata(const Json& j) {
  Metadata m;
  for (const auto& [k, v] : j["metadata"].object()) m[k] = v.ToText();
  return m;
}

Price PriceFromJson(const Json& j) {
  Price p;
  p.id = j["id"].as_string();
  p.product_id =
      j["product"].is_object() ? j["product"]["id"].as_string() : j["product"].as_string();
  p.currency = j["currency"].as_string();
  p.unit_amount_minor = j["unit_amount"].as_int();
  p.interval = j["recurring"]["interval"].as_string();
  p.interval_count = static_cast<int>(j["recurring"]["interval_count"].as_int(1));
  p.active = j["active"].as_bool(true);
  p.nickname = j["nickname"].as_string();
  p.metadata = ReadMetadata(j);
  p.created = j["created"].as_int();
  return p;
}

SubscriptionItem ItemFromJson(const Json& j) {
  SubscriptionItem i;
  i.id = j["id"].as_string();
  if (j["price"].is_object()) {  // Stripe returns the item's price inline
    i.price = PriceFromJson(j["price"]);
    i.price_id = i.price.id;
  } else {
    i.price_id = j["price"].as_string();
  }
  i.quantity = j["quantity"].as_int(1);
  i.metadata = ReadMetadata(j);
  return i;
}

const char* ProrationBehavior(Proration proration) {
  return proration == Proration::kNone ? "none" : "create_prorations";
}

Subscription SubscriptionFromJson(const Json& j) {
  Subscription s;
  s.id = j["id"].as_string();
  s.account_id =
      j["customer"].is_object() ? j["customer"]["id"].as_string() : j["customer"].as_string();
  s.status = j["status"].as_string();
  for (const auto& item : j["items"]["data"].array()) s.items.push_back(ItemFromJson(item));
  s.start_date = j["start_date"].as_int();
  s.current_period_start = j["current_period_start"].as_int();
  s.current_period_end = j["current_period_end"].as_int();
  s.cancel_at = j["cancel_at"].as_int();
  s.cancel_at_period_end = j["cancel_at_period_end"].as_bool();
  s.canceled_at = j["canceled_at"].as_int();
  const Json& latest = j["latest_invoice"];
  s.latest_invoice_id = latest.is_object() ? latest["id"].as_string() : latest.as_string();
  s.latest_invoice_status = latest["status"].as_string();  // only when expanded
  s.metadata = ReadMetadata(j);
  // Held until a later start date (StartSubscription): scheduled, and the service starts then.
  if (auto at = s.metadata.find(kStartAtKey); at != s.metadata.end()) {
    const int64_t start = std::atoll(at->second.c_str());
    if (start > 0) s.start_date = start;
    if (s.status == "trialing") s.status = "scheduled";
  } else if (s.status == "trialing") {
    s.status = "pending";  // held (created with start_active=false) or in a trial: not billing yet
  }
  return s;
}

Invoice InvoiceFromJson(const Json& j) {
  Invoice i;
  i.id = j["id"].as_string();
  i.account_id = j["customer"].as_string();
  i.subscription_id = j["subscription"].as_string();
  i.number = j["number"].as_string();
  i.status = j["status"].as_string();
  i.amount_due = j["amount_due"].as_int();
  i.amount_paid = j["amount_paid"].as_int();
  i.amount_remaining = j["amount_remaining"].as_int();
  i.currency = j["currency"].as_string();
  i.created = j["created"].as_int();
  i.due_date = j["due_date"].as_int();
  const Json& at = j["status_transitions"];
  i.issued_at = at["finalized_at"].as_int();
  i.paid_at = at["paid_at"].as_int();
  i.hosted_url = j["hosted_invoice_url"].as_string();
  i.pdf_url = j["invoice_pdf"].as_string();
  i.attempt_count = static_cast<int>(j["attempt_count"].as_int());
  i.credited = j["pre_payment_credit_notes_amount"].as_int() +
               j["post_payment_credit_notes_amount"].as_int();
  // Expanded or not, the charge is the payment attempt behind the invoice.
  if (j["charge"].is_object()) {
    i.payment = ChargeFromJson(j["charge"]);
    i.charge_id = i.payment->id;
  } else {
    i.charge_id = j["charge"].as_string();
  }
  i.metadata = ReadMetadata(j);
  return i;
}

namespace {
// An expandable field's id, expanded or not.
std::string IdOf(const Json& field) {
  return field.is_object() ? field["id"].as_string() : field.as_string();
}
}  // namespace

Payment ChargeFromJson(const Json& j) {
  Payment p;
  p.id = j["id"].as_string();
  p.kind = Payment::Kind::kPayment;
  p.account_id = IdOf(j["customer"]);
  p.invoice_id = IdOf(j["invoice"]);
  p.amount_minor = j["amount"].as_int();
  p.refunded_minor = j["amount_refunded"].as_int();
  p.currency = j["currency"].as_string();
  p.status = j["status"].as_string();
  p.failure_message = j["failure_message"].as_string();
  p.created = j["created"].as_int();
  return p;
}

Payment RefundFromJson(const Json& j) {
  Payment p;
  p.id = j["id"].as_string();
  p.kind = Payment::Kind::kRefund;
  p.payment_id = IdOf(j["charge"]);
  if (j["charge"].is_object()) {
    p.account_id = IdOf(j["charge"]["customer"]);
    p.invoice_id = IdOf(j["charge"]["invoice"]);
  }
  p.amount_minor = -j["amount"].as_int();
  p.currency = j["currency"].as_string();
  p.status = j["status"].as_string();
  p.failure_message = j["failure_reason"].as_string();
  p.created = j["created"].as_int();
  return p;
}

Payment CreditNoteFromJson(const Json& j) {
  Payment p;
  p.id = j["id"].as_string();
  p.kind = Payment::Kind::kCreditNote;
  p.account_id = IdOf(j["customer"]);
  p.invoice_id = IdOf(j["invoice"]);
  p.payment_id = IdOf(j["refund"]);  // the refund it made, when it refunds
  p.amount_minor = -j["total"].as_int();
  p.currency = j["currency"].as_string();
  p.status = j["status"].as_string();
  p.number = j["number"].as_string();
  p.pdf_url = j["pdf"].as_string();
  p.created = j["created"].as_int();
  return p;
}

Result<BillingEvent> ParseEvent(const std::string& payload) {
  auto parsed = Json::Parse(payload);
  if (!parsed.ok()) return parsed.status().WithContext("webhook payload");
  const Json& e = *parsed;
  if (e["object"].as_string() != "event" || e["id"].as_string().empty() ||
      e["type"].as_string().empty())
    return Status::InvalidArgument("webhook payload is not a Stripe event (object, id, type)");
  BillingEvent out;
  out.id = e["id"].as_string();
  out.raw_type = e["type"].as_string();
  out.created = e["created"].as_int();
  out.object = e["data"]["object"];
  out.object_id = out.object["id"].as_string();
  out.idempotency_key = e["request"]["idempotency_key"].as_string();
  const std::string& t = out.raw_type;
  using T = BillingEvent::Type;
  if (t == "invoice.created")
    out.type = T::kInvoiceCreated;
  else if (t == "invoice.finalized")
    out.type = T::kInvoiceFinalized;
  else if (t == "invoice.paid" || t == "invoice.payment_succeeded")
    out.type = T::kInvoicePaid;
  else if (t == "invoice.payment_failed")
    out.type = T::kInvoicePaymentFailed;
  else if (t == "invoice.voided" || t == "invoice.marked_uncollectible" || t == "invoice.updated")
    out.type = T::kInvoiceChanged;
  if (t.rfind("invoice.", 0) == 0)
    out.invoice = InvoiceFromJson(out.object);
  else if (t.rfind("customer.subscription.", 0) == 0)
    out.type = T::kSubscriptionChanged;
  else if (t == "customer.created" || t == "customer.updated")
    out.type = T::kCustomerChanged;
  else if (t == "customer.deleted")
    out.type = T::kCustomerDeleted;
  else if (t.rfind("product.", 0) == 0 || t.rfind("price.", 0) == 0)
    out.type = T::kCatalogChanged;
  else if (t == "charge.refunded" || t == "charge.refund.updated" || t == "refund.created" ||
           t == "refund.updated")
    out.type = T::kRefunded;
  else if (t.rfind("credit_note.", 0) == 0)
    out.type = T::kCreditNoteIssued;
  if (out.type == T::kRefunded)
    out.payment = out.object["object"].as_string() == "charge" ? ChargeFromJson(out.object)
                                                               : RefundFromJson(out.object);
  else if (out.type == T::kCreditNoteIssued)
    out.payment = CreditNoteFromJson(out.object);
  out.account_id = out.type == T::kCustomerChanged || out.type == T::kCustomerDeleted
                       ? out.object_id
                       : out.object["customer"].as_string();
  return out;
}

}  // namespace stripe
}  // namespace tandem::connector::billing
