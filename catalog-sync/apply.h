// Step 6: pull the catalog from billing into the CRM. Reads what changed since the stored
// cursor (everything on the first run or with `full`), reads the matching Product2 and
// PricebookEntry records, plans (planner.h), and — unless it is a dry run — upserts by
// external id in Collections of 200 (standard price book), then moves the cursor. The
// cursor moves only when every write succeeded, so a run that fails half-way is resumed by
// the next one; upserts by external id make the repeat harmless.
// Thread-safety: one Run at a time per store (the scheduler holds an advisory lock).
#pragma once

#include "catalog-sync/planner.h"
#include "connector/crm/crm_client.h"
#include "store/store.h"
#include "util/clock.h"

namespace tandem::catalog_sync {

struct CatalogDeps {
  connector::crm::CrmClient& crm;
  connector::billing::BillingSystem& billing;
  store::Store& store;
  const mapping::Mapping& mapping;
  const Clock& clock;
  // Price books besides the standard one that get an entry for every price (by name; they
  // must exist in the CRM). Default: none.
  std::vector<std::string> pricebooks = {};
};

struct RunOptions {
  bool dry_run = false;  // plan only: nothing written to the CRM or the store
  bool full = false;     // ignore the cursor: compare the whole catalog
};

struct RunSummary {
  Plan plan;
  int written = 0;  // records upserted
  int failed = 0;
  std::vector<std::string> errors;  // "Product2 prod_1: FIELD: message"
  int64_t billing_reads = 0;
  std::string cursor;  // where the next run starts
};

class CatalogSync {
 public:
  explicit CatalogSync(CatalogDeps deps);
  Result<RunSummary> Run(const RunOptions& options);

 private:
  Result<std::string> StandardPricebook();
  // Price book name → id ("" for the standard book); NotFound names a missing book.
  Result<std::map<std::string, std::string>> Pricebooks();
  CatalogDeps deps_;
};

}  // namespace tandem::catalog_sync
