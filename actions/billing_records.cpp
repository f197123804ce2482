#include "actions/billing_records.h"

#include <cmath>

#include "connector/billing/account_payload.h"
#include "util/clock.h"

namespace tandem::actions {
namespace {

bool PaymentFailed(const connector::billing::Invoice& in) {
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
  return static_cast<double>(minor) / std::pow(10.0, mapping::CurrencyDecimals(currency));
}

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
  // Dates as the CRM shows them (the UTC calendar day); null until billing has one.
  auto day = [](int64_t epoch_s) {
    return epoch_s > 0 ? Json(FormatRfc3339(FromEpochMillis(epoch_s * 1000)).substr(0, 10))
                       : Json();
  };
  record.Set("Issue_Date__c", day(in.issued_at));
  record.Set("Due_Date__c", day(in.due_date));
  record.Set("Paid_Date__c", day(in.paid_at));
  record.Set("Hosted_Invoice_Url__c", in.hosted_url.empty() ? Json() : Json(in.hosted_url));
  record.Set("Invoice_Pdf_Url__c", in.pdf_url.empty() ? Json() : Json(in.pdf_url));
  record.Set("Event_Version__c", static_cast<double>(version));
  return record;
}

Json PaymentFields(const connector::billing::Invoice& in, const std::string& crm_account_id) {
  const bool paid = in.status == "paid";
  if (in.charge_id.empty() || !(paid || PaymentFailed(in))) return Json();
  Json payment = Json::MakeObject();
  payment.Set("Name", in.charge_id);
  payment.Set("Account__c", crm_account_id);
  payment.Set("Amount__c", MajorAmount(paid ? in.amount_paid : in.amount_due, in.currency));
  payment.Set("Status__c", paid ? "Succeeded" : "Failed");
  return payment;
}

Result<std::string> RecordInvoice(connector::crm::CrmClient& crm,
                                  const connector::billing::Invoice& in,
                                  const std::string& crm_account_id, int64_t version) {
  auto saved =
      crm.Upsert(kInvoiceObject, kInvoiceKey, in.id, InvoiceFields(in, crm_account_id, version));
  if (!saved.ok()) return saved.status();
  if (!saved->success)
    return Status::InvalidArgument(std::string(kInvoiceObject) + " " + in.id + ": " +
                                   saved->ErrorText());
  Json payment = PaymentFields(in, crm_account_id);
  if (!payment.is_null()) {
    payment.Set("Invoice__c", saved->id);
    auto paid = crm.Upsert(kPaymentObject, kPaymentKey, in.charge_id, payment);
    if (!paid.ok()) return paid.status();
    if (!paid->success)
      return Status::InvalidArgument(std::string(kPaymentObject) + " " + in.charge_id + ": " +
                                     paid->ErrorText());
  }
  return saved->id;
}

Json SubscriptionStateFields(const mapping::ObjectMap* map,
                             const connector::billing::Subscription& sub) {
  return map ? mapping::ApplyToCrm(*map, connector::billing::SubscriptionToPayload(sub))
             : Json::MakeObject();
}

}  // namespace tandem::actions
