// Step 5's daily renewal scan: service subscriptions marked Auto_Renew__c whose term ends
// within the window are renewed without a quote — a renew task and a record task per
// subscription, keyed by the subscription and the end date it renews from, so a scan run
// twice (or on two processes) renews once.
// Thread-safety: one scan at a time.
#pragma once

#include "workorders/engine.h"

namespace tandem::workorders {

class RenewalScan {
 public:
  RenewalScan(connector::crm::CrmClient& crm, store::Store& store, const Clock& clock)
      : crm_(crm), store_(store), clock_(clock) {}

  // Enqueues renewals due within `window_days`; returns how many were new.
  Result<int> RunOnce(int window_days = 30);

 private:
  connector::crm::CrmClient& crm_;
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace tandem::workorders
