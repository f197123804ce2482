// Billing callbacks: the webhook endpoint's two halves.
//  Receive: verify the signature and timestamp, store the event in the inbox keyed by its id
//  (a duplicate is acknowledged and ignored), answer at once.
//  Apply (a worker), a batch of pending events at a time: invoice events become
//  Billing_Invoice__c records under the account (upserted by external id) and set the
//  account's billing status and balance; refund and credit-note events re-read the invoice and
//  record its refunds and credit notes as Billing_Payment__c rows with a negative amount and
//  their Kind__c; customer events set the billing status, and a deleted customer closes it and
//  drops the link; subscription events set the linked service inventory record's status and
//  dates. An event older than the state already applied to its object (or than another event
//  about it in the same batch) is skipped, so out-of-order delivery ends in the newest state.
//  Events caused by Tandem's own writes (idempotency key "tandem:...") are recognised and not
//  written back.
// Calls: the batch's CRM writes go out as Collections of 200 (invoices, then their payments,
// then one update per account and per service inventory record), a few at once; a balance
// comes from the events' own data (store/balances.h) once the account's open invoices are
// known, else from one listing of them. So a bill run's 1,000 invoice events cost about 15 CRM
// calls and no billing call. Customer, subscription and money-back events still read billing's
// state now, one object each (a late delivery must not undo a newer write).
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
  // Applies up to `limit` pending inbox events as one batch; failures stay pending until 5
  // attempts. The whole-call error is the store's (the events stay pending).
  Result<ApplyReport> ApplyPending(int limit = 1000);

 private:
  class Batch;  // one ApplyPending run (callbacks.cpp)

  ActionDeps deps_;
  const std::string account_map_;
  std::function<void()> on_catalog_changed_;
  std::function<void()> on_poll_hint_;
};

}  // namespace tandem::actions
