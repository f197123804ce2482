// The sign-off extract (`tandem migrate extract`): every linked pair of one customer object map
// as CSV — the CRM id, the billing id and account number, each to-billing field as the CRM
// record maps it and as billing holds it, and whether the pair is in step (compared as
// reconcile compares it, reconcile/compare.h). What a consultant hands the customer after a load.
//
// It streams: billing's customers are listed 100 per call, the page's links found in the store,
// its CRM records read 200 per SOQL call; one page is held at a time. Links whose billing
// record billing no longer lists are counted, not written (reconcile reports them).
// Thread-safety: one call at a time per store and clients.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "actions/sync.h"

namespace tandem::reconcile {

struct ExtractSummary {
  int64_t pairs = 0;        // rows written
  int64_t differing = 0;    // of them, not in step
  int64_t crm_missing = 0;  // of them, whose CRM record is gone (its columns empty)
  int64_t not_listed = 0;   // links whose billing record billing did not list
};

// Called after each page with the pairs written so far.
using ExtractProgress = std::function<void(int64_t pairs)>;

// InvalidArgument for an object map that is not a customer map; a remote or store failure
// ends the extract (the CSV holds the pairs written before it).
Result<ExtractSummary> ExtractLinkedPairs(actions::ActionDeps deps, const std::string& object,
                                          std::ostream& out, const ExtractProgress& progress = {});

}  // namespace tandem::reconcile
