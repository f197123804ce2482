#include "actions/billing_records.h"

#include <cmath>

#include "connector/billing/account_payload.h"
#include "util/clock.h"

namespace tandem::actions {
namespace {

bool PaymentFailed(const connector::billing::Invoice& in) {
  // A payment still processing (a bank debit, GTV's PROCESSING) has been attempted and has
  // not failed.
  if (in.payment && in.payment->status == "pending") return false;
  return in.status == "open" && in.attempt_count > 0;
}

std::string InvoiceStatusLabel(const connector::billing::Invoice& in) {
  if (PaymentFailed(in)) return "Payment Failed";
  if (in.status == "draft") return "Draft";
  if (in.status == "paid") return "Paid";
  if (in.status == "uncollectible") return "Uncollectible";
  if (in.status == "void") return "Void";
  return "Open";
}

}  // namespace

double MajorAmount(int64_t minor, const std::string& currency) {
  return ToMajorUnits(minor, currency);
}

namespace {

// A date as the CRM shows it (the UTC calendar day); null until billing has one.
Json Day(int64_t epoch_s) {
  return epoch_s > 0 ? Json(FormatRfc3339(FromEpochMillis(epoch_s * 1000)).substr(0, 10)) : Json();
}

const char* PaymentKindLabel(connector::billing::Payment::Kind kind) {
  using K = connector::billing::Payment::Kind;
  return kind == K::kRefund ? "Refund" : kind == K::kCreditNote ? "Credit Note" : "Payment";
}

// Status__c: Succeeded | Failed | Pending | Refunded | Void.
const char* PaymentStatusLabel(const connector::billing::Payment& p) {
  using K = connector::billing::Payment::Kind;
  const std::string& s = p.status;
  if (p.kind == K::kCreditNote) return s == "void" ? "Void" : "Succeeded";
  if (s == "succeeded") {
    const bool all_back =
        p.kind == K::kPayment && p.refunded_minor > 0 && p.refunded_minor >= p.amount_minor;
    return all_back ? "Refunded" : "Succeeded";
  }
  if (s == "failed" || s == "canceled") return "Failed";
  return "Pending";
}

Result<std::string> Upsert(connector::crm::CrmClient& crm, const char* object, const char* key,
                           const std::string& id, const Json& fields) {
  auto saved = crm.Upsert(object, key, id, fields);
  if (!saved.ok()) return saved.status();
  if (!saved->success)
    return Status::InvalidArgument(std::string(object) + " " + id + ": " + saved->ErrorText());
  return saved->id;
}

}  // namespace

Json InvoiceFields(const connector::billing::Invoice& in, const std::string& crm_account_id,
                   int64_t version) {
  Json record = Json::MakeObject();
  record.Set("Name", in.number.empty() ? in.id : in.number);
  record.Set("Account__c", crm_account_id);
  record.Set("Status__c", InvoiceStatusLabel(in));
  record.Set("Amount_Due__c", MajorAmount(in.amount_due, in.currency));
  record.Set("Amount_Paid__c", MajorAmount(in.amount_paid, in.currency));
  record.Set("Amount_Remaining__c", MajorAmount(in.amount_remaining, in.currency));
  record.Set("Currency__c", in.currency);
  record.Set("Issue_Date__c", Day(in.issued_at));
  record.Set("Due_Date__c", Day(in.due_date));
  record.Set("Paid_Date__c", Day(in.paid_at));
  record.Set("Hosted_Invoice_Url__c", in.hosted_url.empty() ? Json() : Json(in.hosted_url));
  record.Set("Invoice_Pdf_Url__c", in.pdf_url.empty() ? Json() : Json(in.pdf_url));
  record.Set("Event_Version__c", static_cast<double>(version));
  return record;
}

Json PaymentFields(const connector::billing::Payment& p, const std::string& crm_account_id) {
  Json payment = Json::MakeObject();
  payment.Set("Name", p.kind == connector::billing::Payment::Kind::kCreditNote && !p.number.empty()
                          ? p.number
                          : p.id);
  payment.Set("Account__c", crm_account_id);
  payment.Set("Kind__c", PaymentKindLabel(p.kind));
  payment.Set("Amount__c", MajorAmount(p.amount_minor, p.currency));
  payment.Set("Status__c", PaymentStatusLabel(p));
  payment.Set("Payment_Date__c", Day(p.created));
  return payment;
}

Json PaymentFields(const connector::billing::Invoice& in, const std::string& crm_account_id) {
  if (in.payment) return PaymentFields(*in.payment, crm_account_id);
  const bool paid = in.status == "paid";
  if (in.charge_id.empty() || !(paid || PaymentFailed(in))) return Json();
  // Without the payment itself: what the invoice tells of it.
  connector::billing::Payment p;
  p.id = in.charge_id;
  p.amount_minor = paid ? in.amount_paid : in.amount_due;
  p.currency = in.currency;
  p.status = paid ? "succeeded" : "failed";
  p.created = paid ? in.paid_at : 0;
  return PaymentFields(p, crm_account_id);
}

InvoiceRows InvoiceRecords(const connector::billing::Invoice& in, const std::string& crm_account_id,
                           int64_t version,
                           const std::vector<connector::billing::Payment>& payments) {
  InvoiceRows rows{InvoiceFields(in, crm_account_id, version), {}};
  bool charge_listed = false;
  for (const auto& p : payments) charge_listed = charge_listed || p.id == in.charge_id;
  Json payment = charge_listed ? Json() : PaymentFields(in, crm_account_id);
  if (!payment.is_null()) rows.payments.emplace_back(in.charge_id, std::move(payment));
  for (const auto& p : payments) rows.payments.emplace_back(p.id, PaymentFields(p, crm_account_id));
  return rows;
}

Result<std::string> RecordInvoice(connector::crm::CrmClient& crm,
                                  const connector::billing::Invoice& in,
                                  const std::string& crm_account_id, int64_t version,
                                  const std::vector<connector::billing::Payment>& payments) {
  InvoiceRows rows = InvoiceRecords(in, crm_account_id, version, payments);
  auto invoice_id = Upsert(crm, kInvoiceObject, kInvoiceKey, in.id, rows.invoice);
  if (!invoice_id.ok()) return invoice_id.status();
  for (auto& [payment_id, fields] : rows.payments) {
    fields.Set("Invoice__c", *invoice_id);
    auto saved = Upsert(crm, kPaymentObject, kPaymentKey, payment_id, fields);
    if (!saved.ok()) return saved.status();
  }
  return *invoice_id;
}

Json SubscriptionStateFields(const mapping::ObjectMap* map,
                             const connector::billing::Subscription& sub) {
  return map ? mapping::ApplyToCrm(*map, connector::billing::SubscriptionToPayload(sub))
             : Json::MakeObject();
}

}  // namespace tandem::actions
