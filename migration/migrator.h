// Step 7: the bulk initial load. A consultant's CSV (a CRM export, a billing export, or a
// list of pairs) is streamed chunk by chunk; every row is validated and mapped, matched
// against both systems (external id first, then normalized e-mail, domain and name) so that
// nothing is created twice, and then written: billing creates batched and concurrent under
// the billing client's rate limit, each keyed by job and row; CRM creates and link fields
// through Bulk API 2.0 jobs. Links and audit rows are recorded before the CRM hears of them.
// After every chunk the result files are flushed and a checkpoint is stored, so a job killed
// at any point resumes (`resume_job`) without doubling a record or a result line.
// Thread-safety: one Run at a time per Migrator.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "connector/billing/billing_system.h"
#include "connector/crm/crm_client.h"
#include "mapping/mapping.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/crash_point.h"
#include "util/random.h"
#include "util/result.h"

namespace tandem::migration {

enum class Direction {
  kCrmToBilling,  // rows are CRM records (Id column): create or match them in billing
  kBillingToCrm,  // rows are billing customers (billing-id column): create or match in the CRM
  kLinkOnly,      // rows name one side or both: find the other, link, create nothing
};
const char* DirectionName(Direction d);
// "crm-to-billing" | "billing-to-crm" | "link-only"; InvalidArgument otherwise.
Result<Direction> ParseDirection(const std::string& text);

struct MigrationDeps {
  connector::crm::CrmClient& crm;
  connector::billing::BillingSystem& billing;
  store::Store& store;
  const mapping::Mapping& mapping;
  const Clock& clock;
  Random& random;                // job ids
  CrashPoints* crash = nullptr;  // tests: die at named points
};

struct MigrationOptions {
  std::string object;      // an object map whose billing object is customer ("account", "contact")
  std::string file;        // the input CSV
  std::string column_map;  // a Data Loader .sdl (column=Field); empty: columns named as fields
  Direction direction = Direction::kCrmToBilling;
  bool dry_run = false;  // validate, match and report; write nothing
  // Every row is its own record: matched and checked for duplicates by ids only (a group's
  // subsidiaries sharing a domain). Per row: a DISTINCT column (true / yes / 1 / x).
  bool distinct = false;
  std::string output_dir;    // success.csv / error.csv; empty: migrations/<job id>
  size_t batch_size = 5000;  // rows per chunk (one checkpoint, one Bulk 2.0 job per chunk)
  std::string process;       // "host:pid" of the process running it (`migrate status` checks it)
  // Billing writes in flight at most; 0: as many as billing's rate limit and latency call for
  // (BillingSystem::PreferredInFlight), up to 64.
  int concurrency = 0;
  // Subscriptions billing-to-crm with no file: every live subscription (not canceled) of a
  // customer linked to the CRM, listed from billing into the job's folder
  // (billing-subscriptions.csv, the job's file from then on).
  bool all = false;
  std::string resume_job;                   // continue this job instead of starting one
  const std::atomic<bool>* stop = nullptr;  // set (Ctrl-C): finish the chunk, checkpoint, return
};

struct MigrationProgress {
  int64_t rows_done = 0, total = 0, succeeded = 0, failed = 0;
  int64_t done_before = 0;  // rows a resumed job had done before this run
};
using ProgressFn = std::function<void(const MigrationProgress&)>;

struct MigrationSummary {
  std::string job_id, output_dir, state;  // state: done | interrupted
  int64_t rows = 0, succeeded = 0, failed = 0;
  int64_t created_billing = 0, created_crm = 0;  // new records (dry run: would be)
  int64_t matched = 0;                           // linked to an existing record
  int64_t already_linked = 0;                    // linked before this job
  int64_t invalid = 0, duplicates = 0, ambiguous = 0, unmatched = 0, write_failed = 0;
  int64_t bulk_jobs = 0;
  std::string stopped_because;  // an interrupted job stopped by a remote's outage: why
};

class Migrator {
 public:
  explicit Migrator(MigrationDeps deps);

  // InvalidArgument for bad usage (unknown object, unreadable header, a column mapped to a
  // field the CRM does not have, a direction the object cannot take, a job that is not
  // resumable); IoError when files or the store fail. Row-level problems never fail the run:
  // they are in error.csv and counted in the summary.
  Result<MigrationSummary> Run(const MigrationOptions& options, const ProgressFn& progress);

 private:
  MigrationDeps deps_;
};

// The job as `tandem migrate status JOB` shows it. NotFound when there is none.
Result<store::Job> MigrationStatus(store::Store& store, const std::string& job_id);
// The `limit` migration jobs that moved last, newest first (`tandem migrate list`).
Result<std::vector<store::Job>> RecentMigrations(store::Store& store, int limit);

}  // namespace tandem::migration
