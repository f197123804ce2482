// Reconciliation: compares the CRM and billing record by record and reports what differs —
// records missing on one side, field drift per the mapping, links whose record is gone,
// invoices and payments billing has and the CRM lacks. `fix` repairs what each object map's
// `repair:` list allows, through the same actions a sync or a callback uses; invoices and
// payments (billing is their master) are always repaired when fixing.
//
// It streams: billing lists page by page (100 per call), the CRM is read by id 200 per SOQL
// call, links are walked by keyset; what must be remembered between the passes (the billing
// records seen) goes to the store under the run's id, so memory does not grow with the data.
// Passes, per billing object (customer, subscription):
//   1. billing: every record is stored; those no link knows are looked up in the CRM
//      (by the CRM id they carry and by the CRM's billing-id field): unlinked or missing_in_crm.
//   2. links: the CRM records by id, the billing records from pass 1: orphaned_link or the
//      field comparison (to-billing fields through the mapping, to-CRM fields as billing says).
//   3. CRM: records that carry a billing id (every service inventory record) and no link:
//      missing_in_billing when billing has no such record.
// Then invoices: each invoice of a linked customer against Billing_Invoice__c, its payment
// against Billing_Payment__c. And, only when named, "revenue": the money-level comparison of
// reconcile/revenue.h, whose repairs are work orders.
// Thread-safety: one Run at a time per Reconciler.
#pragma once

#include <string>
#include <vector>

#include "actions/sync.h"
#include "reconcile/report.h"
#include "reconcile/revenue.h"

namespace tandem::reconcile {

struct ReconcileOptions {
  // Object maps whose billing object is customer or subscription, "invoice" and "revenue";
  // empty: all but revenue (a money-level run is asked for by name).
  std::vector<std::string> objects;
  bool fix = false;
  size_t batch = 200;  // CRM ids per SOQL call and links per page
};

// The objects a run may name: the mapping's customer and subscription maps, "invoice" and
// "revenue".
std::vector<std::string> ReconcilableObjects(const mapping::Mapping& mapping);

class Reconciler {
 public:
  // `run_work_orders` runs the revenue repairs' work orders (empty: they stay queued).
  Reconciler(actions::ActionDeps deps, actions::Actions& actions, Report& report,
             RunWorkOrders run_work_orders = {});

  // Failure: InvalidArgument for an unknown object; a remote or store failure that stops the
  // run (the report holds what was found until then). Differences are not failures.
  Status Run(const ReconcileOptions& options);

 private:
  struct Page;
  Status ScanBilling(const std::string& billing_object,
                     const std::vector<const mapping::ObjectMap*>& maps);
  Status FlushBillingPage(const std::string& billing_object,
                          const std::vector<const mapping::ObjectMap*>& maps, Page* page);
  Status CheckLinks(const mapping::ObjectMap& map);
  Status ScanCrmClaims(const mapping::ObjectMap& map);
  Status ScanInvoices();
  Status FlushInvoicePage(std::vector<connector::billing::Invoice>* page);

  // Reads CRM records of `map` whose `field` is one of `values`, 200 per call.
  Status ReadCrm(const std::string& object, const std::vector<std::string>& fields,
                 const std::string& field, const std::vector<std::string>& values,
                 std::map<std::string, Json>* by_value);
  // The billing records pass 1 stored, by billing id.
  Result<std::map<std::string, Json>> StoredBilling(const std::string& billing_object,
                                                    const std::vector<std::string>& ids);
  bool MayFix(const mapping::ObjectMap& map, const char* kind) const;
  Status Found(Finding f);
  Status Resolve(const Finding& f, const Status& result);
  // Repairs through the actions: a forced sync of these CRM records.
  Status SyncAndResolve(const mapping::ObjectMap& map, const std::vector<Finding>& findings);

  actions::ActionDeps deps_;
  actions::Actions& actions_;
  Report& report_;
  RunWorkOrders run_work_orders_;
  ReconcileOptions options_;
  std::string run_id_;
};

}  // namespace tandem::reconcile
