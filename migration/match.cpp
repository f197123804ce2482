// Matching: both sides' records indexed by key in the store, then each row's plan — linked
// before, matched on the other side, or created there.
#include <algorithm>
#include <cstring>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "migration/match_keys.h"
#include "migration/run.h"

namespace tandem::migration::internal {
namespace {

using connector::billing::BillingAccount;

constexpr size_t kKeysPerWrite = 5000;  // index keys buffered before one store write

// Finds the other side's record by the row's keys. Returns "" with *error set when ambiguous.
std::string FindByKeys(const Row& r, const std::map<std::string, std::set<std::string>>& index,
                       const std::string& side, std::string* how, std::string* error) {
  for (const char* kind : {"email:", "domain:", "name:"}) {
    const std::string key = KeyOfKind(r.keys, kind);
    if (key.empty()) continue;
    auto it = index.find(key);
    if (it == index.end() || it->second.empty()) continue;
    const std::string what = std::string(kind).substr(0, std::strlen(kind) - 1);
    if (it->second.size() > 1) {
      std::string list;
      for (const auto& ref : it->second) list += (list.empty() ? "" : ", ") + ref;
      *error = "ambiguous: " + std::to_string(it->second.size()) + " " + side +
               " records share the " + what + " '" + key.substr(key.find(':') + 1) + "' (" + list +
               "); link one by hand or give its id";
      return "";
    }
    *how = "matched by " + what;
    return *it->second.begin();
  }
  return "";
}

}  // namespace

// Both sides' records as keys in the store (constant memory whatever their number):
// billing "id:", "crm:" (the CRM id it carries) and the customer keys; CRM "id:",
// "billing:" (the billing id it carries) and the customer keys.
Status Run::BuildIndexes() {
  if (map_.billing == "subscription") return Status::Ok();
  if (cp_.indexed) {
    // Resumed: what the interrupted chunk created in billing is not in the index, and the
    // idempotency keys that would replay those creates may have expired (Stripe keeps them
    // 24 hours). Index billing again (a key already there is kept once), so those rows match
    // the records that exist instead of creating them twice.
    return options_.resume_job.empty() ? Status::Ok() : IndexBilling();
  }
  TANDEM_RETURN_IF_ERROR(IndexBilling());
  if (options_.direction != Direction::kCrmToBilling) TANDEM_RETURN_IF_ERROR(IndexCrm());
  cp_.indexed = true;
  job_.checkpoint = cp_.Dump();
  job_.updated_ms = NowMs();
  return deps_.store.PutJob(job_);
}

Status Run::IndexBilling() {
  std::vector<store::MatchKey> buffer;
  int64_t n = 0;
  Status st = deps_.billing.ListAccounts([&](const BillingAccount& a) -> Status {
    if (a.closed) return Status::Ok();  // taken back (migrate undo) or ended: no match
    ++n;
    buffer.push_back({"id:" + a.id, a.id});
    if (!a.external_key.empty()) buffer.push_back({"crm:" + Id15(a.external_key), a.id});
    for (auto& k : CustomerKeys(connector::billing::AccountToPayload(a)))
      buffer.push_back({std::move(k), a.id});
    if (buffer.size() >= kKeysPerWrite) {
      TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "billing", buffer));
      buffer.clear();
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.WithContext("listing billing customers");
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "billing", buffer));
  logger_->info("job {}: indexed {} billing customers", job_.id, n);
  return Status::Ok();
}

Status Run::IndexCrm() {
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map_);
  if (!map_.link.billing_id.empty() &&
      std::find(fields.begin(), fields.end(), map_.link.billing_id) == fields.end())
    fields.push_back(map_.link.billing_id);
  auto soql = connector::crm::SoqlBuilder(map_.crm, fields).Build();
  if (!soql.ok()) return soql.status();
  std::vector<store::MatchKey> buffer;
  int64_t n = 0;
  Status st = deps_.crm.Query(*soql, [&](const Json& r) -> Status {
    ++n;
    const std::string id = r["Id"].as_string();
    buffer.push_back({"id:" + Id15(id), id});
    if (!map_.link.billing_id.empty() && !r[map_.link.billing_id].ToText().empty())
      buffer.push_back({"billing:" + r[map_.link.billing_id].ToText(), id});
    for (auto& k : CustomerKeys(mapping::ApplyToBilling(map_, r).payload))
      buffer.push_back({std::move(k), id});
    if (buffer.size() >= kKeysPerWrite) {
      TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "crm", buffer));
      buffer.clear();
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.WithContext("reading " + map_.crm + " records");
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "crm", buffer));
  logger_->info("job {}: indexed {} {} records", job_.id, n, map_.crm);
  return Status::Ok();
}

// Decides each valid row's plan: already linked, matched on the other side (by external id,
// then e-mail, domain, name — the strongest kind that finds anything decides), or created.
Status Run::Match(std::vector<Row>& rows) {
  MatchIndex ix;
  TANDEM_RETURN_IF_ERROR(FindLinks(rows, ix));
  TANDEM_RETURN_IF_ERROR(LookUpKeys(rows, ix));
  TANDEM_RETURN_IF_ERROR(FindCandidateLinks(ix));
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    MatchRow(r, ix);
  }
  return Status::Ok();
}

// Links first: anything linked before (an earlier job, or this one before a crash).
Status Run::FindLinks(const std::vector<Row>& rows, MatchIndex& ix) {
  std::vector<std::string> crm_ids, billing_ids;
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    if (!r.crm_id.empty()) crm_ids.push_back(r.crm_id);
    if (!r.billing_id.empty()) billing_ids.push_back(r.billing_id);
  }
  auto by_crm = deps_.store.FindLinksByCrmIds(map_.name, crm_ids);
  if (!by_crm.ok()) return by_crm.status();
  auto by_billing = deps_.store.FindLinksByBillingIds(map_.name, billing_ids);
  if (!by_billing.ok()) return by_billing.status();
  for (const auto& l : *by_crm) ix.link_of_crm[Id15(l.crm_id)] = l;
  for (const auto& l : *by_billing) ix.link_of_billing[l.billing_id] = l;
  return Status::Ok();
}

// Both sides' index entries for every key of the chunk.
Status Run::LookUpKeys(const std::vector<Row>& rows, MatchIndex& ix) {
  std::vector<std::string> billing_lookup, crm_lookup;
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    for (const auto& k : r.keys) {
      billing_lookup.push_back(k);
      crm_lookup.push_back(k);
    }
    if (!r.crm_id.empty()) billing_lookup.push_back("crm:" + Id15(r.crm_id));
    if (!r.billing_id.empty()) {
      billing_lookup.push_back("id:" + r.billing_id);
      crm_lookup.push_back("billing:" + r.billing_id);
    }
    if (!r.crm_id.empty()) crm_lookup.push_back("id:" + Id15(r.crm_id));
  }
  auto billing = deps_.store.FindMatchKeys(job_.id, "billing", billing_lookup);
  if (!billing.ok()) return billing.status();
  for (const auto& m : *billing) ix.billing_index[m.key].insert(m.ref);
  if (!ToBilling()) {
    auto crm = deps_.store.FindMatchKeys(job_.id, "crm", crm_lookup);
    if (!crm.ok()) return crm.status();
    for (const auto& m : *crm) ix.crm_index[m.key].insert(m.ref);
  }
  return Status::Ok();
}

// Matched records already linked to another record may not be linked again.
Status Run::FindCandidateLinks(MatchIndex& ix) {
  std::vector<std::string> candidate_billing, candidate_crm;
  for (const auto& [k, refs] : ix.billing_index)
    candidate_billing.insert(candidate_billing.end(), refs.begin(), refs.end());
  for (const auto& [k, refs] : ix.crm_index)
    candidate_crm.insert(candidate_crm.end(), refs.begin(), refs.end());
  auto linked_b = deps_.store.FindLinksByBillingIds(map_.name, candidate_billing);
  if (!linked_b.ok()) return linked_b.status();
  auto linked_c = deps_.store.FindLinksByCrmIds(map_.name, candidate_crm);
  if (!linked_c.ok()) return linked_c.status();
  for (const auto& l : *linked_b) ix.link_of_billing[l.billing_id] = l;
  for (const auto& l : *linked_c) ix.link_of_crm[Id15(l.crm_id)] = l;
  // A billing record another object map links (the company customer of a bill-to Contact's
  // own Account) is that record's: matching it would take it over, and a later sync would
  // rename the company after the person. It is never a candidate here.
  for (const auto& other : deps_.mapping.objects) {
    if (other.name == map_.name || other.billing != map_.billing) continue;
    auto linked = deps_.store.FindLinksByBillingIds(other.name, candidate_billing);
    if (!linked.ok()) return linked.status();
    for (const auto& l : *linked) ix.linked_by_other_map[l.billing_id] = l;
  }
  for (auto& [key, refs] : ix.billing_index) {
    if (key.rfind("id:", 0) == 0) continue;  // named by the row: refused in MatchBillingSide
    for (const auto& [id, link] : ix.linked_by_other_map) refs.erase(id);
  }
  return Status::Ok();
}

// One valid row, step by step; a step that fails the row ends it.
void Run::MatchRow(Row& r, MatchIndex& ix) {
  // 1. Linked before.
  if (MatchEarlierLink(r, ix)) return;
  std::string how;
  // 2. The billing side.
  if (!MatchBillingSide(r, ix, &how)) return;
  // 3. The CRM side.
  if (!MatchCrmSide(r, ix, &how)) return;
  if (LinkedElsewhere(r, ix, how)) return;
  // 4. The plan.
  DecidePlan(r, ix, how);
}

// A row whose CRM record or billing customer was linked before takes that link, unless the
// row names another record for the other side. Returns true when the row is decided.
bool Run::MatchEarlierLink(Row& r, MatchIndex& ix) {
  if (!r.crm_id.empty() && ix.link_of_crm.count(Id15(r.crm_id))) {
    const store::Link& l = ix.link_of_crm[Id15(r.crm_id)];
    if (!r.billing_id.empty() && r.billing_id != l.billing_id && !ToBilling()) {
      Fail(r, "the CRM record is linked to billing " + l.billing_id + ", not " + r.billing_id,
           &MigrationSummary::ambiguous);
      return true;
    }
    TakeLink(r, l, ix);
    return true;
  }
  if (!r.billing_id.empty() && ix.link_of_billing.count(r.billing_id)) {
    const store::Link& l = ix.link_of_billing[r.billing_id];
    if (!r.crm_id.empty() && Id15(r.crm_id) != Id15(l.crm_id)) {
      Fail(r,
           "billing " + r.billing_id + " is linked to CRM record " + l.crm_id + ", not " + r.crm_id,
           &MigrationSummary::ambiguous);
      return true;
    }
    TakeLink(r, l, ix);
    return true;
  }
  return false;
}

// A row linked before: it takes the link's ids; the CRM needs no write when its
// billing-id field already holds the id (crm-to-billing read it; otherwise the index has it).
void Run::TakeLink(Row& r, const store::Link& l, const MatchIndex& ix) const {
  r.crm_id = l.crm_id;
  r.billing_id = l.billing_id;
  r.account_number = l.account_number;
  if (!ToBilling()) {
    auto holds = ix.crm_index.find("billing:" + r.billing_id);
    if (holds != ix.crm_index.end() && holds->second.count(r.crm_id))
      r.crm_link_value = r.billing_id;
  }
  r.plan = Plan::kAlreadyLinked;
  r.status = "already linked";
}

// The billing customer: the one carrying the row's CRM id, else the one its keys find; a
// billing id the row gives must exist. Returns false when the row failed.
bool Run::MatchBillingSide(Row& r, const MatchIndex& ix, std::string* how) {
  std::string error;
  if (r.billing_id.empty()) {
    auto by_ext = ix.billing_index.find("crm:" + Id15(r.crm_id));
    if (!r.crm_id.empty() && by_ext != ix.billing_index.end() && !by_ext->second.empty()) {
      if (by_ext->second.size() > 1) {
        Fail(r,
             "ambiguous: " + std::to_string(by_ext->second.size()) +
                 " billing customers carry CRM id " + r.crm_id,
             &MigrationSummary::ambiguous);
        return false;
      }
      r.billing_id = *by_ext->second.begin();
      *how = "matched by CRM id";
    } else if (!r.crm_id.empty()) {
      r.billing_id = FindByKeys(r, ix.billing_index, "billing", how, &error);
    }
  } else {
    if (!ix.billing_index.count("id:" + r.billing_id)) {
      Fail(r, "no billing customer " + r.billing_id, &MigrationSummary::unmatched);
      return false;
    }
    if (auto other = ix.linked_by_other_map.find(r.billing_id);
        other != ix.linked_by_other_map.end()) {
      Fail(r,
           "billing " + r.billing_id + " is linked to " + other->second.object + " " +
               other->second.crm_id + " (another object map)",
           &MigrationSummary::unmatched);
      return false;
    }
    if (how->empty()) *how = "matched by billing id";
  }
  if (!error.empty()) {
    Fail(r, error, &MigrationSummary::ambiguous);
    return false;
  }
  return true;
}

// The CRM record: the one carrying the billing id, else the one the row's keys find; a CRM
// id the row gives must exist (crm-to-billing checked it already). Returns false when the
// row failed.
bool Run::MatchCrmSide(Row& r, const MatchIndex& ix, std::string* how) {
  if (r.crm_id.empty()) {
    auto by_ext = ix.crm_index.find("billing:" + r.billing_id);
    if (by_ext != ix.crm_index.end() && !by_ext->second.empty()) {
      if (by_ext->second.size() > 1) {
        Fail(r,
             "ambiguous: " + std::to_string(by_ext->second.size()) + " " + map_.crm +
                 " records carry billing id " + r.billing_id,
             &MigrationSummary::ambiguous);
        return false;
      }
      r.crm_id = *by_ext->second.begin();
      *how = "matched by billing id";
    } else {
      how->clear();
      std::string error;
      r.crm_id = FindByKeys(r, ix.crm_index, map_.crm, how, &error);
      if (!error.empty()) {
        Fail(r, error, &MigrationSummary::ambiguous);
        return false;
      }
    }
  } else if (!ToBilling() && !ix.crm_index.count("id:" + Id15(r.crm_id))) {
    Fail(r, "no " + map_.crm + " with Id " + r.crm_id + " in the CRM",
         &MigrationSummary::unmatched);
    return false;
  }
  return true;
}

// A match already linked elsewhere is a conflict for a person, not a second link. Returns
// true when the row failed so.
bool Run::LinkedElsewhere(Row& r, MatchIndex& ix, const std::string& how) {
  if (!r.billing_id.empty() && ix.link_of_billing.count(r.billing_id) &&
      Id15(ix.link_of_billing[r.billing_id].crm_id) != Id15(r.crm_id)) {
    Fail(r,
         "billing " + r.billing_id + " (" + how + ") is already linked to CRM record " +
             ix.link_of_billing[r.billing_id].crm_id,
         &MigrationSummary::ambiguous);
    return true;
  }
  if (!r.crm_id.empty() && ix.link_of_crm.count(Id15(r.crm_id)) &&
      ix.link_of_crm[Id15(r.crm_id)].billing_id != r.billing_id) {
    Fail(r,
         "CRM record " + r.crm_id + " (" + how + ") is already linked to billing " +
             ix.link_of_crm[Id15(r.crm_id)].billing_id,
         &MigrationSummary::ambiguous);
    return true;
  }
  return false;
}

// Both sides found: linked; one found: created on the other (link-only creates nothing).
void Run::DecidePlan(Row& r, MatchIndex& ix, const std::string& how) {
  if (!ToBilling() && !r.crm_id.empty() && !r.billing_id.empty()) {
    auto holds = ix.crm_index.find("billing:" + r.billing_id);
    if (holds != ix.crm_index.end() && holds->second.count(r.crm_id))
      r.crm_link_value = r.billing_id;
  }
  if (!r.crm_id.empty() && !r.billing_id.empty()) {
    r.plan = Plan::kMatched;
    r.status = how.empty() ? "linked" : how;
    r.tag_billing = true;
    // Reserve the pair within the chunk: a later row may not take either record again.
    ix.link_of_crm[Id15(r.crm_id)] = store::Link{map_.name, r.crm_id, r.billing_id, "", "", 0};
    ix.link_of_billing[r.billing_id] = ix.link_of_crm[Id15(r.crm_id)];
  } else if (options_.direction == Direction::kCrmToBilling) {
    r.plan = Plan::kCreateBilling;
    r.status = "created in billing";
  } else if (options_.direction == Direction::kBillingToCrm) {
    r.plan = Plan::kCreateCrm;
    r.status = "created in the CRM";
  } else {
    Fail(r,
         std::string("no match in ") + (r.crm_id.empty() ? "the CRM" : "billing") +
             (r.distinct       ? " (a DISTINCT row is matched by its ids only)"
              : r.keys.empty() ? " (the row has no name, e-mail or website to match on)"
                               : " (link-only creates nothing)"),
         &MigrationSummary::unmatched);
  }
}

}  // namespace tandem::migration::internal
