#include "connector/billing/billing_system.h"

namespace tandem::connector::billing {

const char* EventTypeName(BillingEvent::Type type) {
  switch (type) {
    case BillingEvent::Type::kInvoiceCreated:
      return "invoice_created";
    case BillingEvent::Type::kInvoiceFinalized:
      return "invoice_finalized";
    case BillingEvent::Type::kInvoicePaid:
      return "invoice_paid";
    case BillingEvent::Type::kInvoicePaymentFailed:
      return "invoice_payment_failed";
    case BillingEvent::Type::kInvoiceChanged:
      return "invoice_changed";
    case BillingEvent::Type::kSubscriptionChanged:
      return "subscription_changed";
    case BillingEvent::Type::kCustomerChanged:
      return "customer_changed";
    case BillingEvent::Type::kCustomerDeleted:
      return "customer_deleted";
    case BillingEvent::Type::kCatalogChanged:
      return "catalog_changed";
    case BillingEvent::Type::kRefunded:
      return "refunded";
    case BillingEvent::Type::kCreditNoteIssued:
      return "credit_note_issued";
    case BillingEvent::Type::kPollHint:
      return "poll_hint";
    case BillingEvent::Type::kOther:
      return "other";
  }
  return "other";
}

const char* PaymentKindName(Payment::Kind kind) {
  switch (kind) {
    case Payment::Kind::kPayment:
      return "payment";
    case Payment::Kind::kRefund:
      return "refund";
    case Payment::Kind::kCreditNote:
      return "credit_note";
  }
  return "payment";
}

}  // namespace tandem::connector::billing
