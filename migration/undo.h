// `tandem migrate undo JOB`: takes back what one migration job did, for the consultant's
// rehearsal (load into a test setup, check, undo, load again). The job's audit rows (actor
// "migration:JOB") name every pair it created or linked; for each:
//   - a billing customer it created: the CRM's link fields cleared, the link dropped, the
//     customer removed (Stripe deletes it, GTV deactivates it);
//   - a CRM record it created (billing-to-crm): the link dropped, the billing customer
//     untagged, the CRM record deleted;
//   - a pair it linked (both existed): the CRM's link fields cleared, the link dropped, the
//     billing customer untagged. Values the job gave a matched customer are not restored.
// Nothing else is touched. A pair changed since the job is left and reported: linked to
// another record, synced again after the job ended, a billing customer with invoices or
// subscriptions, a CRM record edited after the job.
// Each step can be taken again, so an undo that is stopped (or killed) is simply run again:
// a pair whose link is gone is finished from what billing and the CRM still show.
// Thread-safety: one undo at a time per job.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "migration/migrator.h"

namespace tandem::migration {

struct UndoOptions {
  std::string job_id;
  bool dry_run = false;  // report what would be undone; change nothing
  std::string report;    // the CSV written; empty: the job's output folder / undo.csv
};

struct UndoSummary {
  std::string report;
  int64_t pairs = 0;            // pairs the job created or linked
  int64_t removed_billing = 0;  // billing customers taken back (subscriptions: canceled)
  int64_t removed_crm = 0;      // CRM records deleted
  int64_t unlinked = 0;         // matched pairs unlinked
  int64_t already = 0;          // undone before (an earlier undo)
  int64_t left = 0;             // changed since the job: left as they are
  int64_t failed = 0;           // a remote refused or failed: run the undo again
};

// Called after each page of pairs with how many were handled.
using UndoProgress = std::function<void(int64_t done, int64_t total)>;

// NotFound for no such migration job; InvalidArgument for a dry run's job (it created
// nothing); a store failure ends it (run it again). Pairs left or failed are in the report
// and the summary, not failures of the call. The job's state becomes "undone" when every pair
// is undone.
Result<UndoSummary> UndoMigration(MigrationDeps deps, const UndoOptions& options,
                                  const UndoProgress& progress = {});

}  // namespace tandem::migration
