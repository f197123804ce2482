#include "actions/sync.h"

#include <atomic>
#include <future>
#include <set>
#include <system_error>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::actions {
namespace {

constexpr size_t kWriteBatch = 200;  // records per Collections call

std::string Key(const mapping::ObjectMap& map, const std::string& id, const std::string& op) {
  return "tandem:" + map.name + ":" + id + ":" + op;
}

}  // namespace

Actions::Actions(ActionDeps deps, std::string actor, ActionOptions options)
    : deps_(deps), actor_(std::move(actor)), options_(options) {}

Result<const mapping::ObjectMap*> Actions::SyncableMap(const std::string& object) const {
  const mapping::ObjectMap* map = deps_.mapping.Find(object);
  if (!map) return Status::NotFound("no object map '" + object + "' in " + deps_.mapping.source);
  if (map->billing != "account")
    return Status::InvalidArgument("object map '" + map->name + "' maps to billing " +
                                   map->billing +
                                   ", which is synced by work orders or the catalog, not by hand");
  return map;
}

Result<std::map<std::string, std::string>> Actions::LinkedBillingIds(
    const mapping::ObjectMap& map, const std::vector<std::string>& crm_ids) const {
  std::vector<std::string> valid;
  for (const auto& id : crm_ids)
    if (connector::crm::IsSalesforceId(id)) valid.push_back(id);
  auto links = deps_.store.FindLinksByCrmIds(map.name, valid);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> out;
  for (const auto& l : *links) out[l.crm_id] = l.billing_id;
  return out;
}

Status Actions::ReadRecords(const mapping::ObjectMap& map, const std::vector<std::string>& ids,
                            std::map<std::string, Json>* records) {
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map);
  for (size_t start = 0; start < ids.size(); start += connector::crm::kIdsPerRead) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + connector::crm::kIdsPerRead)));
    TANDEM_RETURN_IF_ERROR(deps_.crm.QueryByIds(map.crm, fields, chunk, [&](const Json& r) {
      (*records)[r["Id"].as_string()] = r;
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Actions::Synced Actions::SyncOne(const mapping::ObjectMap& map, const std::string& id,
                                 const Json& record, const store::Link* link, SyncMode mode,
                                 const std::string& key_salt) {
  Synced out;
  mapping::Mapped mapped = mapping::ApplyToBilling(map, record);
  if (!mapped.ok()) {
    out.outcome = Outcome::Failed(id, mapped.failed_field, mapped.reason);
    return out;
  }
  out.hash = mapped.hash;
  connector::billing::BillingAccount account = connector::billing::PayloadToAccount(mapped.payload);
  account.external_key = id;
  account.clear = mapping::EmptiedBillingPaths(map, mapped.payload);
  if (link && link->content_hash == mapped.hash && mode == SyncMode::kIfChanged) {
    out.outcome = Outcome::Unchanged(id, link->billing_id);
    out.billing_id = link->billing_id;
    out.account_number = link->account_number;
    return out;
  }
  Result<connector::billing::BillingAccount> saved = Status::NotFound("");
  bool created = false;
  if (link)
    saved = deps_.billing.UpdateAccount(link->billing_id, account,
                                        Key(map, id, "update:" + mapped.hash + key_salt));
  if (!link || saved.status().IsNotFound()) {
    // Keyed by the record alone: a create whose link was lost replays, never doubles.
    // When the linked billing record is gone, the key names it: the replacement is
    // created once, and not answered by the replay of the first create. A record whose link
    // was removed (unlinked, its load undone, its customer deleted) keys by how many times:
    // the first create's key would have billing replay the customer it left.
    std::string what = link ? "recreate:" + link->billing_id : "create";
    if (!link) {
      auto unlinked = deps_.store.CountUnlinked(map.name, id);
      if (!unlinked.ok()) {
        out.outcome = Outcome::Failed(id, "", unlinked.status().ToString());
        out.outcome.retryable = true;
        return out;
      }
      if (*unlinked > 0) what += ":after-unlink-" + std::to_string(*unlinked);
    }
    saved = deps_.billing.CreateAccount(account, Key(map, id, what));
    created = saved.ok();
    if (saved.status().IsConflict()) {
      // The key was used with other data (the record changed after a lost link):
      // find the customer by its CRM id and update it.
      auto found = deps_.billing.FindAccountByExternalKey(id);
      if (found.ok() && found->has_value()) {
        saved = deps_.billing.UpdateAccount((*found)->id, account,
                                            Key(map, id, "update:" + mapped.hash + key_salt));
        created = false;
      }
    }
  }
  if (!saved.ok()) {
    out.outcome = Outcome::Failed(id, "", saved.status().ToString());
    out.outcome.retryable = saved.status().IsTransient();
    return out;
  }
  out.billing_id = saved->id;
  // A customer just made owes nothing: its balance can follow billing's invoice events from
  // here without listing its invoices (actions/callbacks.h). Best effort: unmarked, the first
  // event lists them.
  if (created) (void)deps_.store.MarkBalanceComplete(saved->id, ToEpochMillis(deps_.clock.Now()));
  out.account_number = connector::billing::AccountNumber(*saved);
  out.decided = mapping::BillingDecidedFields(map, connector::billing::AccountToPayload(*saved));
  out.outcome =
      created ? Outcome::Created(id, out.billing_id) : Outcome::Updated(id, out.billing_id);
  return out;
}

Result<SyncReport> Actions::Sync(const std::string& object, const std::vector<std::string>& crm_ids,
                                 SyncMode mode, const SyncProgress& progress,
                                 const std::string& key_salt) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  auto logger = log::Get("actions.sync");
  SyncReport report;
  report.outcomes.resize(crm_ids.size());

  // Slices of input positions; a valid id belongs to the slice of its first occurrence, and a
  // hostile or malformed id fails alone.
  struct Slice {
    size_t begin = 0, end = 0;
    std::vector<std::string> ids;  // valid, distinct, first seen in this slice
    std::map<std::string, Json> records;
    std::map<std::string, store::Link> links;
    std::vector<Synced> synced;
  };
  std::vector<Slice> slices;
  std::set<std::string> seen;
  for (size_t begin = 0; begin < crm_ids.size(); begin += connector::crm::kIdsPerRead) {
    Slice slice;
    slice.begin = begin;
    slice.end = std::min(crm_ids.size(), begin + connector::crm::kIdsPerRead);
    for (size_t i = begin; i < slice.end; ++i) {
      if (!connector::crm::IsSalesforceId(crm_ids[i]))
        report.outcomes[i] = Outcome::Failed(crm_ids[i], "Id", "not a Salesforce record id");
      else if (seen.insert(crm_ids[i]).second)
        slice.ids.push_back(crm_ids[i]);
    }
    slices.push_back(std::move(slice));
  }

  auto read = [&](Slice& slice) -> Status {
    if (slice.ids.empty()) return Status::Ok();
    TANDEM_RETURN_IF_ERROR(ReadRecords(map, slice.ids, &slice.records));
    auto links_or = deps_.store.FindLinksByCrmIds(map.name, slice.ids);
    if (!links_or.ok()) return links_or.status();
    for (const auto& l : *links_or) slice.links[l.crm_id] = l;
    return Status::Ok();
  };

  // The billing calls, as many at a time as billing's rate limit and latency call for, up to
  // the configured cap (each record's alone, so any order is right); what they answer is
  // recorded in input order.
  auto bill = [&](Slice& slice) {
    slice.synced.resize(slice.ids.size());
    const int cap = options_.billing_in_flight;
    ParallelForLimited(
        slice.ids.size(), cap, [&] { return std::min(cap, deps_.billing.PreferredInFlight()); },
        [&](size_t i) {
          const std::string& id = slice.ids[i];
          auto rec = slice.records.find(id);
          auto link = slice.links.find(id);
          if (rec == slice.records.end())
            slice.synced[i].outcome = Outcome::Failed(id, "Id", "no " + map.crm + " with this id");
          else
            slice.synced[i] =
                SyncOne(map, id, rec->second, link == slice.links.end() ? nullptr : &link->second,
                        mode, key_salt);
        });
  };

  // Records a billed slice — links and audit, then the CRM's link fields, then the retry list —
  // and gives its outcomes. One slice at a time, in order (a duplicate id takes the outcome of
  // its first occurrence, recorded by then).
  std::map<std::string, Outcome> by_id;
  std::atomic<bool> stop{false};
  auto record = [&](Slice& slice) -> Status {
    const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
    std::vector<store::Link> new_links;
    std::vector<store::AuditEntry> audit;
    std::vector<Json> write_back;
    for (size_t i = 0; i < slice.ids.size(); ++i) {
      const std::string& id = slice.ids[i];
      if (slice.records.find(id) == slice.records.end()) {
        by_id[id] = std::move(slice.synced[i].outcome);
        continue;
      }
      Synced& synced = slice.synced[i];
      Outcome& outcome = synced.outcome;
      if (outcome.kind == Outcome::Kind::kCreated || outcome.kind == Outcome::Kind::kUpdated)
        new_links.push_back(store::Link{map.name, id, synced.billing_id, synced.account_number,
                                        synced.hash, now_ms});
      audit.push_back(store::AuditEntry{now_ms, actor_, map.name, id, "sync",
                                        Outcome::KindName(outcome.kind),
                                        outcome.failed() ? outcome.reason : outcome.remote_id});
      if (outcome.kind != Outcome::Kind::kUnchanged) {
        Json wb = Json::MakeObject();
        wb.Set("Id", id);
        if (!map.link.status.empty())
          wb.Set(map.link.status, outcome.failed() ? "Error" : "Synced");
        if (!map.link.time.empty()) wb.Set(map.link.time, FormatRfc3339(deps_.clock.Now()));
        if (!map.link.error.empty())
          wb.Set(map.link.error, outcome.failed() ? Json(outcome.reason.substr(0, 1000)) : Json());
        if (!outcome.failed()) {
          // What billing decides (its currency, ...) reaches the CRM with the link: a billing
          // system that fixes an account's currency at creation (GTV) is in step at once.
          for (const auto& [field, value] : synced.decided.object())
            if (!value.is_null()) wb.Set(field, value);
          if (!map.link.billing_id.empty()) wb.Set(map.link.billing_id, synced.billing_id);
          if (!map.link.account_number.empty())
            wb.Set(map.link.account_number, synced.account_number);
        }
        if (wb.size() > 1) write_back.push_back(std::move(wb));
      }
      by_id[id] = std::move(outcome);
    }
    // Progress is recorded before the CRM hears of it: a crash here re-syncs as unchanged.
    TANDEM_RETURN_IF_ERROR(deps_.store.RecordSync(new_links, audit));

    SyncReport part;
    std::map<std::string, const store::Link*> stored;
    for (const auto& l : new_links) stored[l.crm_id] = &l;
    std::vector<store::Link> unconfirmed;
    for (size_t start = 0; start < write_back.size(); start += kWriteBatch) {
      std::vector<Json> chunk(
          write_back.begin() + static_cast<long>(start),
          write_back.begin() + static_cast<long>(std::min(write_back.size(), start + kWriteBatch)));
      auto results = deps_.crm.UpdateMany(map.crm, chunk);
      for (size_t k = 0; k < chunk.size(); ++k) {
        if (results.ok() && (*results)[k].success) continue;
        const std::string why =
            results.ok() ? (*results)[k].ErrorText() : results.status().ToString();
        logger->warn("writing link fields to {} {} failed: {}", map.crm, chunk[k]["Id"].as_string(),
                     why);
        // Billing holds the record and the link is stored; forgetting the synced content makes
        // the next sync send it again (a keyed replay) and write the fields then.
        if (auto s = stored.find(chunk[k]["Id"].as_string()); s != stored.end()) {
          unconfirmed.push_back(*s->second);
          unconfirmed.back().content_hash.clear();
        }
        Outcome& o = by_id[chunk[k]["Id"].as_string()];
        o.reason = (o.reason.empty() ? "" : o.reason + "; ") + "CRM write-back failed: " + why;
        ++part.writeback_failed;
      }
    }
    if (!unconfirmed.empty()) TANDEM_RETURN_IF_ERROR(deps_.store.UpsertLinks(unconfirmed));

    // The retry list: a record that failed (billing, its data, or the write-back) is tried
    // again later; one that went through leaves it, and so does an id that names no record
    // (deleted in the CRM: no later sync can find it; the audit keeps the failure).
    std::vector<std::pair<std::string, std::string>> retry;
    std::vector<std::string> resolved;
    for (const auto& id : slice.ids) {
      const Outcome& o = by_id[id];
      if (slice.records.find(id) != slice.records.end() && (o.failed() || !o.reason.empty()))
        retry.emplace_back(id, o.reason);
      else
        resolved.push_back(id);
    }
    if (Status noted =
            deps_.store.NoteSyncOutcomes(map.name, retry, resolved, options_.retry, now_ms);
        !noted.ok())
      logger->error("sync {}: the retry list was not updated: {}", map.name, noted.ToString());

    for (size_t i = slice.begin; i < slice.end; ++i) {
      auto it = by_id.find(crm_ids[i]);
      if (it != by_id.end()) report.outcomes[i] = it->second;
      part.outcomes.push_back(report.outcomes[i]);
      switch (report.outcomes[i].kind) {
        case Outcome::Kind::kCreated:
          ++part.created;
          break;
        case Outcome::Kind::kUpdated:
          ++part.updated;
          break;
        case Outcome::Kind::kUnchanged:
          ++part.unchanged;
          break;
        default:
          ++part.failed;
      }
    }
    report.created += part.created;
    report.updated += part.updated;
    report.unchanged += part.unchanged;
    report.failed += part.failed;
    report.writeback_failed += part.writeback_failed;
    const size_t first = slice.begin;
    slice = Slice{};  // its records are done with: a long sync holds two or three slices
    if (progress && !progress(first, part)) stop = true;
    return Status::Ok();
  };

  // The pipeline: slice k+1 is read and slice k-1 recorded while slice k's billing writes are
  // in flight. Whatever ends the sync early, a slice billed is recorded before returning. A
  // stop asked while slice k-1 was recorded is honoured once slice k (billed by then) is
  // recorded: always one fixed point, whatever the threads' timing.
  std::future<Status> reading, recording;
  auto launch = [](auto&& fn, Slice& slice) {
    try {
      return std::async(std::launch::async, fn, std::ref(slice));
    } catch (const std::system_error&) {
      // No thread to be had (a pids limit): the step runs when its result is asked for.
      return std::async(std::launch::deferred, fn, std::ref(slice));
    }
  };
  auto settle = [&](Status first_error) {
    if (recording.valid()) {
      const Status st = recording.get();
      if (first_error.ok()) first_error = st;
    }
    if (reading.valid()) reading.wait();  // begun before the end was known: not used
    return first_error;
  };
  if (!slices.empty()) reading = launch(read, slices[0]);
  for (size_t k = 0; k < slices.size(); ++k) {
    const Status was_read = reading.get();
    if (!was_read.ok()) return settle(was_read);
    if (k + 1 < slices.size() && !stop) reading = launch(read, slices[k + 1]);
    bill(slices[k]);
    if (recording.valid()) {
      const Status recorded = recording.get();
      if (!recorded.ok()) {
        // Slice k is billed: recorded too if the store lets it be, then the first error.
        (void)record(slices[k]);
        return settle(recorded);
      }
    }
    const bool stopping = stop;  // asked while slice k-1 was recorded (or before)
    recording = launch(record, slices[k]);
    if (stopping) break;
  }
  TANDEM_RETURN_IF_ERROR(settle(Status::Ok()));
  logger->info("sync {}: {} created, {} updated, {} unchanged, {} failed", map.name, report.created,
               report.updated, report.unchanged, report.failed);
  return report;
}

std::vector<FieldDiff> Actions::Diff(const mapping::ObjectMap& map, const Json& crm_record,
                                     const Json& billing_payload) {
  std::vector<FieldDiff> diffs;
  const mapping::Mapped mapped = mapping::ApplyToBilling(map, crm_record);
  for (const auto& f : map.fields) {
    if (f.direction == mapping::Direction::kToCrm) continue;
    const std::string want = mapping::GetPath(mapped.payload, f.billing).ToText();
    const std::string have = mapping::GetPath(billing_payload, f.billing).ToText();
    if (want != have) diffs.push_back(FieldDiff{f.billing, want, have});
  }
  return diffs;
}

Result<std::vector<OpenResult>> Actions::Open(const std::string& object,
                                              const std::vector<std::string>& crm_ids) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  auto linked = LinkedBillingIds(map, crm_ids);
  if (!linked.ok()) return linked.status();
  const std::map<std::string, std::string>& billing_ids = *linked;
  std::vector<OpenResult> out;
  for (const auto& id : crm_ids) {
    OpenResult r;
    r.crm_id = id;
    auto it = billing_ids.find(id);
    if (it == billing_ids.end()) {
      r.error = "not synced to billing yet";
    } else {
      r.billing_id = it->second;
      r.url = deps_.billing.RecordUrl("account", it->second);
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<QueryResult>> Actions::Query(const std::string& object,
                                                const std::vector<std::string>& crm_ids) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  std::vector<std::string> ids;
  for (const auto& id : crm_ids)
    if (connector::crm::IsSalesforceId(id)) ids.push_back(id);
  std::map<std::string, Json> records;
  TANDEM_RETURN_IF_ERROR(ReadRecords(map, ids, &records));
  auto linked = LinkedBillingIds(map, ids);
  if (!linked.ok()) return linked.status();
  const std::map<std::string, std::string>& billing_ids = *linked;
  std::vector<QueryResult> out;
  for (const auto& id : crm_ids) {
    QueryResult q;
    q.crm_id = id;
    auto rec = records.find(id);
    auto link = billing_ids.find(id);
    if (!connector::crm::IsSalesforceId(id))
      q.error = "not a Salesforce record id";
    else if (rec == records.end())
      q.error = "no " + map.crm + " with this id";
    else if (link == billing_ids.end())
      q.error = "not synced to billing yet";
    if (!q.error.empty()) {
      out.push_back(std::move(q));
      continue;
    }
    q.billing_id = link->second;
    auto account = deps_.billing.GetAccount(link->second);
    if (!account.ok()) {
      q.error = account.status().ToString();
      out.push_back(std::move(q));
      continue;
    }
    q.billing_state = connector::billing::AccountToPayload(*account);
    q.diffs = Diff(map, rec->second, q.billing_state);
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace tandem::actions
