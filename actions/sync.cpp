#include "actions/sync.h"

#include <set>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::actions {
namespace {

constexpr size_t kReadBatch = 200;   // ids per SOQL call (keeps the query well under 100 KB)
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

Status Actions::ReadRecords(const mapping::ObjectMap& map, const std::vector<std::string>& ids,
                            std::map<std::string, Json>* records) {
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map);
  for (size_t start = 0; start < ids.size(); start += kReadBatch) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kReadBatch)));
    auto soql = connector::crm::SoqlBuilder(map.crm, fields).WhereIn("Id", chunk).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
      (*records)[r["Id"].as_string()] = r;
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Actions::Synced Actions::SyncOne(const mapping::ObjectMap& map, const std::string& id,
                                 const Json& record, const store::Link* link, SyncMode mode) {
  Synced out;
  mapping::Mapped mapped = mapping::ApplyToBilling(map, record);
  if (!mapped.ok()) {
    out.outcome = Outcome::Failed(id, mapped.failed_field, mapped.reason);
    return out;
  }
  out.hash = mapped.hash;
  connector::billing::BillingAccount account = connector::billing::PayloadToAccount(mapped.payload);
  account.external_key = id;
  // A value emptied in the CRM is emptied in billing (an update leaves unsent fields).
  for (const auto& f : map.fields)
    if (f.direction != mapping::Direction::kToCrm &&
        mapping::GetPath(mapped.payload, f.billing).ToText().empty())
      account.clear.push_back(f.billing);
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
                                        Key(map, id, "update:" + mapped.hash));
  if (!link || saved.status().IsNotFound()) {
    // Keyed by the record alone: a create whose link was lost replays, never doubles.
    // When the linked billing record is gone, the key names it: the replacement is
    // created once, and not answered by the replay of the first create.
    saved = deps_.billing.CreateAccount(
        account, Key(map, id, !link ? "create" : "recreate:" + link->billing_id));
    created = saved.ok();
    if (saved.status().IsConflict()) {
      // The key was used with other data (the record changed after a lost link):
      // find the customer by its CRM id and update it.
      auto found = deps_.billing.FindAccountByExternalKey(id);
      if (found.ok() && found->has_value()) {
        saved = deps_.billing.UpdateAccount((*found)->id, account,
                                            Key(map, id, "update:" + mapped.hash));
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
                                 SyncMode mode) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  auto logger = log::Get("actions.sync");
  SyncReport report;
  report.outcomes.resize(crm_ids.size());

  // Valid, distinct ids only; a hostile or malformed id fails alone.
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (size_t i = 0; i < crm_ids.size(); ++i) {
    if (!connector::crm::IsSalesforceId(crm_ids[i]))
      report.outcomes[i] = Outcome::Failed(crm_ids[i], "Id", "not a Salesforce record id");
    else if (seen.insert(crm_ids[i]).second)
      ids.push_back(crm_ids[i]);
  }
  std::map<std::string, Json> records;
  TANDEM_RETURN_IF_ERROR(ReadRecords(map, ids, &records));
  auto links_or = deps_.store.FindLinksByCrmIds(map.name, ids);
  if (!links_or.ok()) return links_or.status();
  std::map<std::string, store::Link> links;
  for (const auto& l : *links_or) links[l.crm_id] = l;

  const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
  std::map<std::string, Outcome> by_id;
  std::vector<store::Link> new_links;
  std::vector<store::AuditEntry> audit;
  std::vector<Json> write_back;
  // The billing calls, as many at a time as billing's rate limit and latency call for, up
  // to the configured cap (each record's alone, so any order is right); what they answer is
  // recorded below in input order.
  std::vector<Synced> synced(ids.size());
  const int cap = options_.billing_in_flight;
  ParallelForLimited(
      ids.size(), cap, [&] { return std::min(cap, deps_.billing.PreferredInFlight()); },
      [&](size_t i) {
        const std::string& id = ids[i];
        auto rec = records.find(id);
        auto link = links.find(id);
        if (rec == records.end())
          synced[i].outcome = Outcome::Failed(id, "Id", "no " + map.crm + " with this id");
        else
          synced[i] =
              SyncOne(map, id, rec->second, link == links.end() ? nullptr : &link->second, mode);
      });
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    if (records.find(id) == records.end()) {
      by_id[id] = std::move(synced[i].outcome);
      continue;
    }
    Outcome& outcome = synced[i].outcome;
    const std::string& billing_id = synced[i].billing_id;
    const Json& decided = synced[i].decided;
    if (outcome.kind == Outcome::Kind::kCreated || outcome.kind == Outcome::Kind::kUpdated)
      new_links.push_back(
          store::Link{map.name, id, billing_id, synced[i].account_number, synced[i].hash, now_ms});
    audit.push_back(store::AuditEntry{now_ms, actor_, map.name, id, "sync",
                                      Outcome::KindName(outcome.kind),
                                      outcome.failed() ? outcome.reason : outcome.remote_id});
    if (outcome.kind != Outcome::Kind::kUnchanged) {
      Json wb = Json::MakeObject();
      wb.Set("Id", id);
      if (!map.link.status.empty()) wb.Set(map.link.status, outcome.failed() ? "Error" : "Synced");
      if (!map.link.time.empty()) wb.Set(map.link.time, FormatRfc3339(deps_.clock.Now()));
      if (!map.link.error.empty())
        wb.Set(map.link.error, outcome.failed() ? Json(outcome.reason.substr(0, 1000)) : Json());
      if (!outcome.failed()) {
        // What billing decides (its currency, ...) reaches the CRM with the link: a billing
        // system that fixes an account's currency at creation (GTV) is in step at once.
        for (const auto& [field, value] : decided.object())
          if (!value.is_null()) wb.Set(field, value);
        if (!map.link.billing_id.empty()) wb.Set(map.link.billing_id, billing_id);
        if (!map.link.account_number.empty())
          wb.Set(map.link.account_number, synced[i].account_number);
      }
      if (wb.size() > 1) write_back.push_back(std::move(wb));
    }
    by_id[id] = std::move(outcome);
  }
  // Progress is recorded before the CRM hears of it: a crash here re-syncs as unchanged.
  TANDEM_RETURN_IF_ERROR(deps_.store.RecordSync(new_links, audit));

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
      ++report.writeback_failed;
    }
  }

  if (!unconfirmed.empty()) TANDEM_RETURN_IF_ERROR(deps_.store.UpsertLinks(unconfirmed));

  // The retry list: a record that failed (billing, its data, or the write-back) is tried again
  // later; one that went through leaves it, and so does an id that names no record (deleted in
  // the CRM: no later sync can find it; the audit keeps the failure).
  std::vector<std::pair<std::string, std::string>> retry;
  std::vector<std::string> resolved;
  for (const auto& id : ids) {
    const Outcome& o = by_id[id];
    if (records.find(id) != records.end() && (o.failed() || !o.reason.empty()))
      retry.emplace_back(id, o.reason);
    else
      resolved.push_back(id);
  }
  if (Status noted =
          deps_.store.NoteSyncOutcomes(map.name, retry, resolved, options_.retry, now_ms);
      !noted.ok())
    logger->error("sync {}: the retry list was not updated: {}", map.name, noted.ToString());

  for (size_t i = 0; i < crm_ids.size(); ++i) {
    auto it = by_id.find(crm_ids[i]);
    if (it != by_id.end()) report.outcomes[i] = it->second;
    switch (report.outcomes[i].kind) {
      case Outcome::Kind::kCreated:
        ++report.created;
        break;
      case Outcome::Kind::kUpdated:
        ++report.updated;
        break;
      case Outcome::Kind::kUnchanged:
        ++report.unchanged;
        break;
      default:
        ++report.failed;
    }
  }
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
  auto links = deps_.store.FindLinksByCrmIds(map.name, crm_ids);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> billing_ids;
  for (const auto& l : *links) billing_ids[l.crm_id] = l.billing_id;
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
  auto links = deps_.store.FindLinksByCrmIds(map.name, ids);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> billing_ids;
  for (const auto& l : *links) billing_ids[l.crm_id] = l.billing_id;
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
