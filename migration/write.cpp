// Writing: billing creates, updates and tags, run concurrently under the billing client's rate
// limit, and the links and audit recorded before the CRM hears of them.
#include <atomic>
#include <mutex>

#include "connector/billing/account_payload.h"
#include "migration/run.h"
#include "util/parallel.h"

namespace tandem::migration::internal {

using connector::billing::BillingAccount;

Status Run::Write(std::vector<Row>& rows) {
  std::vector<Row*> creates, crm_creates;
  for (Row& r : rows) {
    if (r.plan == Plan::kCreateBilling) creates.push_back(&r);
    if (r.plan == Plan::kCreateCrm) crm_creates.push_back(&r);
  }
  if (options_.dry_run) {
    for (Row& r : rows)
      if (r.plan != Plan::kFailed) r.status = "dry run: would be " + r.status;
    return Status::Ok();
  }
  // 1. Billing creates, concurrent; each keyed by job and row, so a re-run replays it. The
  // progress moves as they finish (the rows that need none count at once).
  TANDEM_RETURN_IF_ERROR(RecordIntents(creates));
  const int64_t need_none = static_cast<int64_t>(rows.size() - creates.size());
  ReportWithinChunk(need_none, rows.size());
  std::atomic<int64_t> created{0};
  const int64_t every = std::max<int64_t>(1, static_cast<int64_t>(creates.size()) / 20);
  CreateInBilling(creates, [&] {
    const int64_t n = ++created;
    if (n % every == 0) ReportWithinChunk(need_none + n, rows.size());
  });
  TANDEM_RETURN_IF_ERROR(BillingOutage());
  if (deps_.crash) deps_.crash->Hit("migration.after_billing_writes");
  // 2. CRM creates (billing-to-crm), one Bulk 2.0 upsert job: each record starts from the
  // billing customer's values, the file's own over them.
  FillFromBilling(crm_creates);
  TANDEM_RETURN_IF_ERROR(BillingOutage());
  // A row whose billing customer could not be read makes no CRM record (it would have no link).
  crm_creates.erase(std::remove_if(crm_creates.begin(), crm_creates.end(),
                                   [](const Row* r) { return r->plan == Plan::kFailed; }),
                    crm_creates.end());
  TANDEM_RETURN_IF_ERROR(BulkToCrm(crm_creates, /*create=*/true));
  // 3. Billing learns the CRM id of what it already had (matched, or created in the CRM); its
  // answer carries billing's account number and what it decided about the record.
  TagBilling(rows);
  TANDEM_RETURN_IF_ERROR(BillingOutage());
  // 4. Links and audit, before the CRM's link fields are written.
  TANDEM_RETURN_IF_ERROR(RecordLinks(rows));
  if (deps_.crash) deps_.crash->Hit("migration.after_links");
  return Status::Ok();  // 5. LinkBack, with the chunk's end
}

Status Run::LinkBack(std::vector<Row>& rows) {
  if (!options_.dry_run) {
    // Link fields into the CRM (with what billing decided), one Bulk 2.0 update job.
    std::vector<Row*> updates;
    for (Row& r : rows)
      if (r.plan == Plan::kCreateBilling || r.plan == Plan::kMatched || NeedsLinkFields(r))
        updates.push_back(&r);
    TANDEM_RETURN_IF_ERROR(BulkToCrm(updates, /*create=*/false));
  }
  CountPlans(rows);
  return Status::Ok();
}

void Run::ReportWithinChunk(int64_t ready, size_t chunk_rows) {
  if (!progress_ || chunk_rows == 0) return;
  std::lock_guard<std::mutex> lock(progress_mu_);
  MigrationProgress p = at_checkpoint_;
  // From the chunk's own first row: the chunk before may not have reached its checkpoint yet.
  p.rows_done = chunk_base_ + std::min<int64_t>(ready, static_cast<int64_t>(chunk_rows));
  // Threads finish out of order: the bar never moves back.
  if (p.rows_done <= reported_within_chunk_) return;
  reported_within_chunk_ = p.rows_done;
  progress_(p);
}

void Run::FillFromBilling(std::vector<Row*>& creates) {
  std::mutex mu;
  RunConcurrently(creates, [&](Row& r) {
    if (billing_breaker_.open()) return;
    auto account = deps_.billing.GetAccount(r.billing_id);
    billing_breaker_.Record(account.status());
    std::lock_guard<std::mutex> lock(mu);
    if (!account.ok()) {
      Fail(r, "billing: " + account.status().ToString(), &MigrationSummary::write_failed);
      return;
    }
    const Json payload = connector::billing::AccountToPayload(*account);
    const Json from_billing = mapping::CrmValuesOf(map_, payload);
    for (const auto& [field, value] : from_billing.object())
      if (!r.record.Has(field) && describe_fields_.count(field)) r.record.Set(field, value);
    // Billing gets back what the file changed (the CRM is the master from now on): TagBilling.
    r.mapped = mapping::ApplyToBilling(map_, r.record);
    r.decided = mapping::BillingDecidedFields(map_, payload);
  });
}

void Run::CreateInBilling(std::vector<Row*>& creates, const std::function<void()>& on_done) {
  std::mutex mu;
  RunConcurrently(creates, [&](Row& r) {
    if (billing_breaker_.open()) return;  // the chunk is abandoned
    BillingAccount account = connector::billing::PayloadToAccount(r.mapped.payload);
    account.external_key = r.crm_id;
    auto saved = deps_.billing.CreateAccount(account, Key(r, "create"));
    billing_breaker_.Record(saved.status());
    on_done();
    std::lock_guard<std::mutex> lock(mu);
    if (!saved.ok()) {
      Fail(r, "billing: " + saved.status().ToString(), &MigrationSummary::write_failed);
      return;
    }
    r.billing_id = saved->id;
    r.account_number = connector::billing::AccountNumber(*saved);
    // What billing decided (GTV: currency, bill cycle, category) reaches the CRM with the
    // link fields, as a sync writes it: the load leaves the two in step.
    r.decided = mapping::BillingDecidedFields(map_, connector::billing::AccountToPayload(*saved));
  });
}

Status Run::BillingOutage() const {
  if (!billing_breaker_.open()) return Status::Ok();
  return Status::Unavailable("billing is failing (" + billing_breaker_.Reason() +
                             "): the job stopped before recording this chunk; resume it when "
                             "billing answers again (nothing is created twice)");
}

// Before billing's creates: which CRM records this job is about to create customers for, so
// that `migrate undo` finds a customer a killed job created but never recorded.
Status Run::RecordIntents(const std::vector<Row*>& creates,
                          const std::function<std::string(const Row&)>& detail) {
  if (creates.empty()) return Status::Ok();
  std::vector<store::AuditEntry> intents;
  const int64_t now = NowMs();
  for (const Row* r : creates)
    intents.push_back(store::AuditEntry{now, "migration:" + job_.id, map_.name, r->crm_id,
                                        "migrate", "creating", detail ? detail(*r) : ""});
  return deps_.store.AppendAudit(intents);
}

Status Run::RecordLinks(const std::vector<Row>& rows) {
  const int64_t now = NowMs();
  std::vector<store::Link> links;
  std::vector<store::AuditEntry> audit;
  const std::string actor = "migration:" + job_.id;
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed || r.plan == Plan::kAlreadyLinked) continue;
    // A created record's hash is its content; a matched one is synced from the CRM next time.
    links.push_back(
        store::Link{map_.name, r.crm_id, r.billing_id, r.account_number,
                    r.plan == Plan::kCreateBilling || r.billing_updated ? r.mapped.hash : "", now});
    audit.push_back(store::AuditEntry{now, actor, map_.name, r.crm_id, "migrate",
                                      r.plan == Plan::kMatched ? "linked" : "created",
                                      r.billing_id});
  }
  return deps_.store.RecordSync(links, audit);
}

void Run::TagBilling(std::vector<Row>& rows) {
  std::mutex mu;
  std::vector<Row*> tags;
  for (Row& r : rows)
    if (r.plan == Plan::kMatched || r.plan == Plan::kCreateCrm || NeedsLinkFields(r))
      tags.push_back(&r);
  RunConcurrently(tags, [&](Row& r) {
    if (billing_breaker_.open()) return;
    Result<BillingAccount> saved = Status::Internal("not read");
    if (r.plan == Plan::kAlreadyLinked) {
      // Tagged when it was linked; its link fields are written again (a run stopped before
      // them): with what billing decided, read now.
      saved = deps_.billing.GetAccount(r.billing_id);
    } else if ((r.plan == Plan::kMatched && ToBilling()) ||
               (r.plan == Plan::kCreateCrm && r.mapped.ok())) {
      // A customer billing had: it takes the CRM's values as a sync would give them (the CRM
      // is the master), so the two are in step when the load ends, not after a reconcile.
      BillingAccount account = connector::billing::PayloadToAccount(r.mapped.payload);
      account.external_key = r.crm_id;
      // A new CRM record empties nothing in billing: a field the file and the read-back both
      // lack (a condition's, a format's) is not the CRM saying "none".
      if (r.plan == Plan::kMatched)
        account.clear = mapping::EmptiedBillingPaths(map_, r.mapped.payload);
      saved = deps_.billing.UpdateAccount(r.billing_id, account, Key(r, "update:" + r.mapped.hash));
      if (saved.ok()) r.billing_updated = true;
    } else {
      BillingAccount fields;
      fields.external_key = r.crm_id;
      saved = deps_.billing.UpdateAccount(r.billing_id, fields, Key(r, "tag"));
    }
    billing_breaker_.Record(saved.status());
    std::lock_guard<std::mutex> lock(mu);
    if (!saved.ok()) {
      r.status += (r.plan == Plan::kAlreadyLinked ? " (billing's own fields not read: "
                                                  : " (billing not tagged with the CRM id: ") +
                  saved.status().ToString() + ")";
      return;
    }
    r.account_number = connector::billing::AccountNumber(*saved);
    r.decided = mapping::BillingDecidedFields(map_, connector::billing::AccountToPayload(*saved));
  });
}

// The summary's counts of what the chunk created, matched or found linked (dry run: would).
void Run::CountPlans(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    if (r.plan == Plan::kCreateBilling) ++cp_.counts.created_billing;
    if (r.plan == Plan::kCreateCrm) ++cp_.counts.created_crm;
    if (r.plan == Plan::kMatched) ++cp_.counts.matched;
    if (r.plan == Plan::kAlreadyLinked) ++cp_.counts.already_linked;
  }
}

void Run::RunConcurrently(std::vector<Row*>& rows, const std::function<void(Row&)>& fn) {
  // At most --concurrency at once (0: 64), and no more than billing asks for now.
  const int cap = options_.concurrency > 0 ? options_.concurrency : 64;
  ParallelForLimited(
      rows.size(), cap, [&] { return std::min(cap, deps_.billing.PreferredInFlight()); },
      [&](size_t i) { fn(*rows[i]); });
}

}  // namespace tandem::migration::internal
