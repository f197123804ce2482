// Linking back: the CRM's side through Bulk API 2.0 — records created from billing, and the
// link fields (billing id, account number, status, time) with what billing decided about a
// record it created (GTV: currency, bill cycle, category) and the values the file gave that
// the CRM did not hold written into the CRM.
#include <algorithm>
#include <set>

#include "migration/run.h"

namespace tandem::migration::internal {

// One Bulk 2.0 job: creates (upsert by the billing-id field: a re-run after a crash updates
// what the first run created) or link-field updates by Id.
Status Run::BulkToCrm(std::vector<Row*>& rows, bool create) {
  if (rows.empty()) return Status::Ok();
  connector::crm::BulkRequest req;
  req.object = map_.crm;
  // A resumed chunk sends the rows it sent before (the same time in them), to the jobs it made.
  const std::string step = create ? "create" : "update";
  std::deque<std::string>& taken_up = resume_jobs_[step];
  const bool resuming = !taken_up.empty();
  if (!resuming && cp_.bulk_time.empty()) cp_.bulk_time = FormatRfc3339(deps_.clock.Now());
  const std::string now = cp_.bulk_time.empty() ? FormatRfc3339(deps_.clock.Now()) : cp_.bulk_time;
  if (resuming) req.resume_job_ids.assign(taken_up.begin(), taken_up.end());
  FillBulkRequest(rows, create, now, &req);
  req.on_job_created = [&](const std::string& job_id) {
    // Recorded before any polling: the checkpoint names the jobs of the chunk in flight.
    cp_.bulk_jobs.push_back(step + ":" + job_id);
    ++cp_.counts.bulk_jobs;
    job_.checkpoint = cp_.Dump();
    job_.updated_ms = NowMs();
    Status st = deps_.store.PutJob(job_);
    if (deps_.crash) deps_.crash->Hit("migration.bulk_job_created");
    return st;
  };
  auto result = deps_.crm.BulkIngest(req);
  // The jobs taken up again are done with, whatever their outcome.
  if (resuming) {
    const size_t used =
        std::min(taken_up.size(), result.ok() ? result->job_ids.size() : taken_up.size());
    taken_up.erase(taken_up.begin(), taken_up.begin() + static_cast<long>(used));
  }
  if (!result.ok()) {
    for (Row* r : rows)
      Fail(*r, "CRM bulk job failed: " + result.status().ToString(),
           &MigrationSummary::write_failed);
    return Status::Ok();
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& res = result->rows[i];
    if (res.success) {
      if (create) rows[i]->crm_id = res.id;
      if (!create && !rows[i]->file_differs.empty()) {
        std::string fields;
        for (const auto& f : rows[i]->file_differs) fields += (fields.empty() ? "" : ", ") + f;
        rows[i]->status += "; the CRM's " + fields + " set from the file";
      }
      continue;
    }
    if (create || rows[i]->plan == Plan::kMatched) {
      Fail(*rows[i], "CRM: " + res.error, &MigrationSummary::write_failed);
    } else {
      // Already linked before: the link stands; only the fields' refresh failed.
      rows[i]->status += " (link fields not written: " + res.error + ")";
    }
  }
  return Status::Ok();
}

// The job's columns (the records' own fields when creating, the Id when updating, and the
// link fields) and a row of values for each row; "#N/A" clears a field.
void Run::FillBulkRequest(const std::vector<Row*>& rows, bool create, const std::string& now,
                          connector::crm::BulkRequest* req) const {
  std::set<std::string> columns;
  if (create) {
    req->operation = connector::crm::BulkOperation::kUpsert;
    req->external_id_field = map_.link.billing_id;
    for (Row* r : rows)
      for (const auto& [k, v] : r->record.object())
        if (k != "Id") columns.insert(k);
  } else {
    req->operation = connector::crm::BulkOperation::kUpdate;
    columns.insert("Id");
  }
  for (const std::string* f :
       {&map_.link.billing_id, &map_.link.account_number, &map_.link.status, &map_.link.time})
    if (!f->empty()) columns.insert(*f);
  std::set<std::string> decided;  // billing-decided fields some row carries
  for (Row* r : rows)
    for (const auto& [k, v] : r->decided.object())
      if (!v.is_null() && !columns.count(k)) decided.insert(k);
  columns.insert(decided.begin(), decided.end());
  std::set<std::string> from_file;  // fields some row's file value sets in the CRM
  if (!create)
    for (Row* r : rows)
      for (const auto& f : r->file_differs)
        if (!columns.count(f)) from_file.insert(f);
  columns.insert(from_file.begin(), from_file.end());
  req->columns.assign(columns.begin(), columns.end());
  for (Row* r : rows) {
    std::vector<std::string> values;
    for (const auto& c : req->columns) {
      std::string v;
      if (decided.count(c)) {
        // An empty value leaves the field as it is: a row without it keeps the CRM's.
        values.push_back(r->decided[c].is_null() ? "" : r->decided[c].ToText());
        continue;
      }
      if (from_file.count(c)) {
        // Only the rows whose file differs write it; an empty value leaves the CRM's.
        const bool differs =
            std::find(r->file_differs.begin(), r->file_differs.end(), c) != r->file_differs.end();
        values.push_back(differs ? r->record[c].ToText() : "");
        continue;
      }
      if (c == "Id")
        v = r->crm_id;
      else if (c == map_.link.billing_id)
        v = r->billing_id;
      else if (c == map_.link.account_number)
        v = r->account_number.empty() ? r->billing_id : r->account_number;
      else if (c == map_.link.status)
        v = "Synced";
      else if (c == map_.link.time)
        v = now;
      else
        v = r->record[c].ToText();
      values.push_back(v.empty() ? "#N/A" : v);
    }
    req->rows.push_back(std::move(values));
  }
}

}  // namespace tandem::migration::internal
