// Billing callbacks: the webhook endpoint's two halves.
//  Receive: verify the signature and timestamp, store the event in the inbox keyed by its id
//  (a duplicate is acknowledged and ignored), answer at once.
//  Apply (a worker): invoice events become Billing_Invoice__c records under the account
//  (upserted by external id) and set the account's billing status and balance; refund and
//  credit-note events re-read the invoice and record its refunds and credit notes as
//  Billing_Payment__c rows with a negative amount and their Kind__c; customer
//  events set the billing status, and a deleted customer closes it and drops the link;
//  subscription events set the linked service inventory record's status and dates. An event older
//  than the state already applied to its object is skipped, so out-of-order delivery ends in the
//  newest state. Events caused by Tandem's own writes (idempotency key "tandem:...") are recognised
//  and not written back.
// Thread-safety: Receive may be called concurrently; ApplyPending from one worker at a time
// per process (several processes may run it: the inbox claim is by state).
#pragma once

#include <string>

#include "actions/sync.h"

namespace tandem::actions {

struct ReceiveResult {
  int http_status = 200;  // 200 stored or duplicate; 400 malformed; 401 bad signature
  bool duplicate = false;
  std::string event_id;
  std::string message;
};

struct ApplyReport {
  int applied = 0, skipped_stale = 0, ignored_own = 0, ignored_other = 0, failed = 0;
};

class Callbacks {
 public:
  Callbacks(ActionDeps deps, std::string account_map = "account");

  ReceiveResult Receive(const std::string& payload, const std::string& signature_header);
  // The request header Receive's signature_header comes from (the billing system's).
  std::string SignatureHeader() const { return deps_.billing.WebhookSignatureHeader(); }
  // Called when a catalog-changed event is applied (the scheduler runs the catalog sync early).
  void OnCatalogChanged(std::function<void()> hook) { on_catalog_changed_ = std::move(hook); }
  // Called when a billing system that is polled says something changed (serve polls at once).
  void OnPollHint(std::function<void()> hook) { on_poll_hint_ = std::move(hook); }
  // Applies up to `limit` pending inbox events; failures stay pending until 5 attempts.
  Result<ApplyReport> ApplyPending(int limit = 100);

 private:
  // Applies one event; the version it brings the object to goes to *applied_version, for the
  // caller to write with the event's "done" (one transaction).
  Status Apply(const connector::billing::BillingEvent& event, ApplyReport* report,
               std::vector<store::CursorUpdate>* applied_version);
  // Subscription events: billing's state onto the linked service inventory record.
  Status ApplySubscription(const connector::billing::BillingEvent& event, ApplyReport* report);
  // Invoice and customer events: the account's invoices, status and balance.
  Status ApplyAccount(const connector::billing::BillingEvent& event, bool invoice,
                      ApplyReport* report);
  // Refund and credit-note events: the invoice they concern and every payment, refund and
  // credit note recorded against it, re-read from billing; the account's balance.
  Status ApplyMoneyBack(const connector::billing::BillingEvent& event, ApplyReport* report,
                        std::vector<store::CursorUpdate>* applied_version);
  // Billing_Balance__c (what the open invoices still ask for) and Billing_Currency__c.
  Status SetBalance(const std::string& billing_account, const std::string& currency,
                    Json* account_fields);

  ActionDeps deps_;
  const std::string account_map_;
  std::function<void()> on_catalog_changed_;
  std::function<void()> on_poll_hint_;
};

}  // namespace tandem::actions
