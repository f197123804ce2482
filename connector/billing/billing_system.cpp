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

Result<SubscriptionItem> ItemSoldAt(const Price& catalog, int64_t quantity,
                                    int64_t sold_unit_minor) {
  SubscriptionItem item{"", catalog.id, quantity, {}};
  item.metadata[kCatalogPriceKey] = catalog.id;
  if (sold_unit_minor == catalog.unit_amount_minor) return item;
  if (catalog.interval.empty())
    return Status::InvalidArgument("price " + catalog.id +
                                   " is one-time: a recurring item cannot be sold from it");
  item.sold_price = true;
  item.price = catalog;
  item.price.id.clear();
  item.price.metadata.clear();
  item.price.unit_amount_minor = sold_unit_minor;
  return item;
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
