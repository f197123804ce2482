// Step 3: the manual actions per mapped object — sync, open, query — all bulkified.
// sync: read the CRM records (SOQL by id, 200 per call), map them, create or update them in
// billing with an idempotency key derived from the record (and its content hash), record the
// link and the audit row together, and write the link fields back in Collections of 200.
// A record whose mapped fields did not change since its last sync makes no billing call.
// A record that fails (or whose link fields could not be written back) is listed for a retry
// on a back-off schedule; one that succeeds leaves that list (store/sync_retries.h).
// Tandem's write-back touches only link fields, which are never mapped: it cannot echo back.
// Thread-safety: an Actions object may be used from several threads (its dependencies are).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "connector/billing/billing_system.h"
#include "connector/crm/crm_client.h"
#include "mapping/mapping.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/outcome.h"

namespace tandem::actions {

struct ActionDeps {
  connector::crm::CrmClient& crm;
  connector::billing::BillingSystem& billing;
  store::Store& store;
  const mapping::Mapping& mapping;
  const Clock& clock;
};

struct SyncReport {
  std::vector<Outcome> outcomes;  // in input order, one per requested id
  int created = 0, updated = 0, unchanged = 0, failed = 0;
  int writeback_failed = 0;  // billing is right but the CRM's link fields were not written
};

struct OpenResult {
  std::string crm_id;
  std::string billing_id;  // empty: not linked yet
  std::string url;
  std::string error;
};

struct FieldDiff {
  std::string field;          // the billing path
  std::string crm_value;      // what the CRM record maps to
  std::string billing_value;  // what billing holds now
};

// link: a CRM record and the billing record an admin says it is.
struct LinkPair {
  std::string crm_id;
  std::string billing_id;
};

// One record's answer to link or unlink: `outcome` "linked", "unlinked" or "unchanged", or
// `error` saying why not (nothing was changed for it then).
struct LinkResult {
  std::string crm_id;
  std::string billing_id;
  std::string outcome;
  std::string error;
};

// One account's invoices and payments re-read from billing and written to the CRM.
struct InvoiceRefresh {
  std::string crm_id;
  std::string billing_id;
  int invoices = 0, payments = 0;
  std::string error;
};

struct QueryResult {
  std::string crm_id;
  std::string billing_id;
  Json billing_state;            // the billing record as billing returns it (mapped paths)
  std::vector<FieldDiff> diffs;  // empty: in step
  std::string error;
};

// Told of each slice of a sync as it is recorded (up to 200 input positions, in input order):
// the position of its first id and its outcomes and counts. Returning false stops the sync
// once the slices already in hand (at most two: one recorded, one being written to billing)
// are recorded; Sync then returns the report so far (later positions without an outcome).
// It is called on one of the sync's threads, one slice at a time.
using SyncProgress = std::function<bool(size_t first, const SyncReport& slice)>;

// kIfChanged skips a record whose mapped fields are as last synced; kForce writes it anyway
// (reconciliation repairing a billing record changed behind Tandem's back).
enum class SyncMode { kIfChanged, kForce };

struct ActionOptions {
  // At most this many billing calls in flight in a sync (each blocks for billing's latency;
  // the client's rate limit keeps the rate); fewer when billing's PreferredInFlight says so:
  // app/runtime.cpp sets it from billing.in_flight.
  int billing_in_flight = 1;
  // When a failed record is synced again by `tandem serve` (store/sync_retries.h).
  store::RetryPolicy retry;
};

class Actions {
 public:
  Actions(ActionDeps deps, std::string actor, ActionOptions options = {});

  // Failure (whole call): InvalidArgument for an unknown object map or one whose billing
  // object cannot be synced by hand; per-record problems are Outcomes. A failure to read the
  // CRM or to record progress ends the call; slices recorded before it stay recorded.
  // A pipeline of 200-id slices: while billing's writes for one slice are in flight, the next
  // slice is read from the CRM and the previous one's link fields are written back, so the
  // CRM's latency does not idle billing's rate limit.
  // `key_salt` goes into the billing update keys: a link writes billing again even when an
  // earlier update of the same content is still remembered under its key (Stripe, 24 h).
  Result<SyncReport> Sync(const std::string& object, const std::vector<std::string>& crm_ids,
                          SyncMode mode = SyncMode::kIfChanged, const SyncProgress& progress = {},
                          const std::string& key_salt = "");
  // The to-billing fields where the CRM record and the billing record disagree.
  static std::vector<FieldDiff> Diff(const mapping::ObjectMap& map, const Json& crm_record,
                                     const Json& billing_payload);
  Result<std::vector<OpenResult>> Open(const std::string& object,
                                       const std::vector<std::string>& crm_ids);
  Result<std::vector<QueryResult>> Query(const std::string& object,
                                         const std::vector<std::string>& crm_ids);

  // link (actions/link.cpp): pairs each CRM record with a billing record billing already has,
  // never creating one. Refused per record: an id that is not a record, a billing record that
  // does not exist, carries another CRM id, or is linked to another record under any object
  // map, a CRM record linked to another billing record (unlink it first). Then, as a sync
  // would: the link and its audit row ("link") recorded, billing given the CRM's values and the
  // CRM id (the CRM is the master), the CRM's link fields written.
  Result<std::vector<LinkResult>> Link(const std::string& object,
                                       const std::vector<LinkPair>& pairs);
  // unlink: forgets each record's pairing — the link (audit row "unlink"), billing's tag of the
  // CRM id (where billing lets it go: Stripe; the result says when it kept it: GTV), the CRM's
  // link fields, the record's place on the retry list. Billing keeps its record; a record not
  // linked is "unchanged" (its CRM link fields are cleared if they still name a billing id).
  Result<std::vector<LinkResult>> Unlink(const std::string& object,
                                         const std::vector<std::string>& crm_ids);
  // invoices (object maps of CRM Accounts only): each linked record's invoices and their payments,
  // refunds and credit notes read from billing and written to the CRM as the callbacks write them
  // (keyed by billing id, so a second refresh changes nothing): for an account whose webhooks were
  // missed.
  Result<std::vector<InvoiceRefresh>> RefreshInvoices(const std::string& object,
                                                      const std::vector<std::string>& crm_ids);

 private:
  Result<const mapping::ObjectMap*> SyncableMap(const std::string& object) const;
  // The billing id each of `crm_ids` (those that are Salesforce ids) is linked to, by CRM id.
  Result<std::map<std::string, std::string>> LinkedBillingIds(
      const mapping::ObjectMap& map, const std::vector<std::string>& crm_ids) const;
  // Reads the records by id, 200 per SOQL call; `records` maps id → record.
  Status ReadRecords(const mapping::ObjectMap& map, const std::vector<std::string>& ids,
                     std::map<std::string, Json>* records);

  // One record's billing side of a sync: what it is, written or found unchanged.
  struct Synced {
    Outcome outcome;
    std::string billing_id, account_number, hash;
    Json decided = Json::MakeObject();  // the CRM fields billing decides, as it answered
  };
  // Thread-safe (billing calls only): Sync runs it for several records at once.
  Synced SyncOne(const mapping::ObjectMap& map, const std::string& id, const Json& record,
                 const store::Link* link, SyncMode mode, const std::string& key_salt);

  ActionDeps deps_;
  const std::string actor_;
  const ActionOptions options_;
};

}  // namespace tandem::actions
