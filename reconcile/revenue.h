// Money-level reconciliation (`tandem reconcile --object revenue`): per account and currency,
// what the CRM says is sold against what billing charges, as monthly amounts in minor units.
//
// Sold: the service inventory (Service_Subscription__c: Unit_Price__c × Quantity__c every
// Billing_Interval_Count__c Billing_Interval__c, in Currency__c; Status__c Active, Past Due or
// Unpaid) and its recurring add-ons (Service_Add_On__c Amount__c, in the subscription's period
// and currency). Billed: billing's subscriptions of the account's customer (active, past_due or
// unpaid), item by item: unit amount × quantity every interval_count interval. The base line
// is billing's first item; an add-on is the item its Billing_Item_Id__c names. Every line is
// normalized to a month (money.h) and compared line by line; the account's totals per currency
// follow as an account_total row. One-time fees are not monthly revenue: they are counted in
// a note, never compared (an invoiced fee is `--object invoice`'s).
//
// It streams: pass 1 lists billing's subscriptions (100 per call) into the store's match keys
// under the run's id, keyed by customer; pass 2 walks the account links by keyset, 200 at a
// time, reads their inventory (1 SOQL call) and add-ons (1 per 200 subscriptions) and their
// customers' stored subscriptions, and compares. Memory holds one page of accounts.
//
// --fix repairs through work orders where the subscription map's `repair:` list names the kind:
// keyed tasks of the work-order task library (change_price, change_quantity,
// record_subscription; change_add_on; add_add_on, record_add_on) that bring billing to what
// was sold. A repair's work order is "revenue:SUBSCRIPTION:LINE:SOLD VALUES"; its task keys add
// a generation and the task: a rerun while it is pending adds nothing, and the same line found
// wrong again after it was done gets the next generation (new keys, never a done key reused).
// Thread-safety: one Run at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "actions/sync.h"
#include "reconcile/report.h"

namespace tandem::reconcile {

// The object name of the revenue findings (and of `--object revenue`).
inline constexpr char kRevenue[] = "revenue";

// Runs repair work orders (task groups) until their tasks are done or failed, or until it
// gives up (tasks still pending are reported as queued, for the work-order workers). The app
// wires the work-order engine here: reconcile enqueues tasks of kinds its task library runs,
// it does not depend on workorders. Failure: the store or the engine failed.
using RunWorkOrders = std::function<Status(const std::vector<std::string>& groups)>;

class RevenueReconciler {
 public:
  // `run_work_orders` may be empty: repairs are then enqueued and reported as queued.
  RevenueReconciler(actions::ActionDeps deps, Report& report, RunWorkOrders run_work_orders);

  // Failure: a remote or store failure that stops the run (the report holds what was found
  // until then); InvalidArgument when the mapping has no Account customer map. Differences
  // are not failures.
  Status Run(bool fix, size_t batch = 200);

 private:
  actions::ActionDeps deps_;
  Report& report_;
  RunWorkOrders run_work_orders_;
};

}  // namespace tandem::reconcile
