// The CRM records that mirror billing state: invoices and their payments under the account
// (Billing_Invoice__c, Billing_Payment__c) and the service inventory's subscription fields.
// One writer for every path that sets them — callbacks, work orders, reconciliation — so a
// record written by one path compares equal when another reads it.
// Thread-safety: pure functions, except RecordInvoice which calls the CRM (thread-safe).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "connector/billing/billing_system.h"
#include "connector/crm/crm_client.h"
#include "mapping/mapping.h"

namespace tandem::actions {

inline constexpr char kInvoiceObject[] = "Billing_Invoice__c";
inline constexpr char kInvoiceKey[] = "Billing_Invoice_Id__c";
inline constexpr char kPaymentObject[] = "Billing_Payment__c";
inline constexpr char kPaymentKey[] = "Billing_Payment_Id__c";
inline constexpr char kSubscriptionObject[] = "Service_Subscription__c";
inline constexpr char kSubscriptionKey[] = "Billing_Subscription_Id__c";

// Minor units → the major-unit amount the CRM shows (JPY 0 decimals, KWD 3).
double MajorAmount(int64_t minor, const std::string& currency);

// Billing_Invoice__c fields (without the external id) for an invoice under a CRM account.
// `version` orders writes (the event's time for callbacks).
Json InvoiceFields(const connector::billing::Invoice& invoice, const std::string& crm_account_id,
                   int64_t version);

// Billing_Payment__c fields (without the external id and Invoice__c) of a payment, refund or
// credit note: Kind__c, Amount__c (negative for refunds and credit notes, see
// connector::billing::Payment), Status__c (a fully refunded payment says Refunded),
// Payment_Date__c.
Json PaymentFields(const connector::billing::Payment& payment, const std::string& crm_account_id);

// The payment attempt behind an invoice, when it has one that settled or failed: its fields,
// from invoice.payment when the read brought it (so a refund shows), else from the invoice.
// Null when there is none.
Json PaymentFields(const connector::billing::Invoice& invoice, const std::string& crm_account_id);

// The rows one invoice puts in the CRM: the invoice's fields, and each payment row (its billing
// id and fields, without Invoice__c): the invoice's payment unless `payments` lists it, then
// `payments`.
struct InvoiceRows {
  Json invoice;
  std::vector<std::pair<std::string, Json>> payments;
};
InvoiceRows InvoiceRecords(const connector::billing::Invoice& invoice,
                           const std::string& crm_account_id, int64_t version,
                           const std::vector<connector::billing::Payment>& payments = {});

// Upserts the invoice, then its payment under it, then `payments` (refunds, credit notes and
// the payment again as billing has it now: ListInvoicePayments), each keyed by its billing id
// (Billing_Payment_Id__c), so a write repeated changes nothing. Returns the invoice's CRM id.
Result<std::string> RecordInvoice(connector::crm::CrmClient& crm,
                                  const connector::billing::Invoice& invoice,
                                  const std::string& crm_account_id, int64_t version,
                                  const std::vector<connector::billing::Payment>& payments = {});

// The service inventory's view of a subscription (status, start, end) through the
// subscription map's to-CRM fields; a canceled or ending subscription ends when billing says.
Json SubscriptionStateFields(const mapping::ObjectMap* map,
                             const connector::billing::Subscription& subscription);

}  // namespace tandem::actions
