// Step 3's repair actions for an admin: link a CRM record to a billing record billing already
// has, unlink a wrong pairing, and re-read an account's invoices from billing.
#include <set>

#include "actions/billing_records.h"
#include "actions/sync.h"
#include "connector/crm/soql.h"
#include "util/log.h"

namespace tandem::actions {
namespace {

// Salesforce's 15- and 18-character forms of one id name the same record.
bool SameRecord(const std::string& a, const std::string& b) {
  return a.size() >= 15 && b.size() >= 15 && a.compare(0, 15, b, 0, 15) == 0;
}

}  // namespace

Result<std::vector<LinkResult>> Actions::Link(const std::string& object,
                                              const std::vector<LinkPair>& pairs) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  std::vector<std::string> ids;
  for (const auto& p : pairs)
    if (connector::crm::IsSalesforceId(p.crm_id)) ids.push_back(p.crm_id);
  std::map<std::string, Json> records;
  TANDEM_RETURN_IF_ERROR(ReadRecords(map, ids, &records));
  // Whether any object map links CRM record `crm_id` (its 15- or 18-character form).
  auto linked_anywhere = [&](const std::string& crm_id) -> Result<bool> {
    for (const auto& other : deps_.mapping.objects) {
      if (other.billing != map.billing) continue;
      for (const std::string& form : {crm_id, crm_id.substr(0, 15)}) {
        auto l = deps_.store.FindLinkByCrmId(other.name, form);
        if (!l.ok()) return l.status();
        if (l->has_value()) return true;
      }
    }
    return false;
  };
  std::vector<LinkResult> out;
  std::vector<store::Link> links;
  std::vector<store::AuditEntry> audit;
  std::vector<std::string> to_sync;
  std::set<std::string> named_crm, named_billing;
  const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
  for (const auto& p : pairs) {
    LinkResult r{p.crm_id, p.billing_id, "", ""};
    bool linked_already = false, synced_already = false;
    // The first reason this pair cannot be linked; empty when it can.
    auto refusal = [&]() -> Result<std::string> {
      if (!connector::crm::IsSalesforceId(p.crm_id))
        return std::string("not a Salesforce record id");
      if (records.find(p.crm_id) == records.end()) return "no " + map.crm + " with this id";
      if (p.billing_id.empty()) return std::string("billing_id is required");
      if (!named_crm.insert(p.crm_id).second || !named_billing.insert(p.billing_id).second)
        return std::string("named twice in this call");
      auto mine = deps_.store.FindLinkByCrmId(map.name, p.crm_id);
      if (!mine.ok()) return mine.status();
      linked_already = *mine && (*mine)->billing_id == p.billing_id;
      synced_already = linked_already && !(*mine)->content_hash.empty();
      if (linked_already) return std::string();
      if (*mine) return "already linked to billing " + (*mine)->billing_id + ": unlink it first";
      // One billing record, one CRM record: under any object map (a contact must never take
      // over its company's customer).
      for (const auto& other : deps_.mapping.objects) {
        if (other.billing != map.billing) continue;
        auto held = deps_.store.FindLinkByBillingId(other.name, p.billing_id);
        if (!held.ok()) return held.status();
        if (*held)
          return "billing " + p.billing_id + " is linked to " + other.crm + " " + (*held)->crm_id;
      }
      auto account = deps_.billing.GetAccount(p.billing_id);
      if (account.status().IsNotFound()) return "no billing " + map.billing + " " + p.billing_id;
      if (!account.ok()) return account.status();
      // A tag naming another record that is linked is that record's; a stale one (the record
      // was unlinked where billing keeps tags, GTV, or is gone) is taken over.
      if (!account->external_key.empty() && !SameRecord(account->external_key, p.crm_id)) {
        auto holder = linked_anywhere(account->external_key);
        if (!holder.ok()) return holder.status();
        if (*holder) return "billing " + p.billing_id + " carries CRM id " + account->external_key;
      }
      return std::string();
    };
    auto refused = refusal();
    if (!refused.ok()) return refused.status();  // the store or billing failed: stop
    if (!refused->empty()) {
      r.error = *refused;
    } else if (synced_already) {
      r.outcome = "unchanged";
    } else if (linked_already) {
      // Linked by an earlier call whose sync did not finish: it is brought in step now.
      r.outcome = "linked";
      to_sync.push_back(p.crm_id);
    } else {
      r.outcome = "linked";
      // No content hash: the sync below writes the CRM's values to billing.
      links.push_back(store::Link{map.name, p.crm_id, p.billing_id, "", "", now_ms});
      audit.push_back(
          store::AuditEntry{now_ms, actor_, map.name, p.crm_id, "link", "linked", p.billing_id});
      to_sync.push_back(p.crm_id);
    }
    out.push_back(std::move(r));
  }
  TANDEM_RETURN_IF_ERROR(deps_.store.RecordSync(links, audit));
  if (to_sync.empty()) return out;
  // As a sync: billing takes the CRM's values and id, the CRM its link fields. A record billing
  // refuses stays linked and on the retry list, as any failed sync.
  // Keys of their own: an update of the same content before an unlink may still be remembered
  // by billing, and its replay would not tag the record again.
  auto synced = Sync(map.name, to_sync, SyncMode::kForce, {}, ":link:" + std::to_string(now_ms));
  if (!synced.ok()) return synced.status();
  std::map<std::string, const Outcome*> by_id;
  for (const auto& o : synced->outcomes) by_id[o.record_id] = &o;
  for (auto& r : out) {
    auto it = by_id.find(r.crm_id);
    if (r.outcome != "linked" || it == by_id.end()) continue;
    if (it->second->failed())
      r.error = "linked; billing not brought in step yet (retried): " + it->second->reason;
    else if (!it->second->reason.empty())
      r.error = "linked; " + it->second->reason;
  }
  return out;
}

Result<std::vector<LinkResult>> Actions::Unlink(const std::string& object,
                                                const std::vector<std::string>& crm_ids) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  std::vector<std::string> valid;
  for (const auto& id : crm_ids)
    if (connector::crm::IsSalesforceId(id)) valid.push_back(id);
  auto linked = LinkedBillingIds(map, valid);
  if (!linked.ok()) return linked.status();
  const std::map<std::string, std::string>& billing_of = *linked;
  // A record not linked whose CRM fields still name a billing id (an earlier unlink whose clear
  // failed) is cleared again.
  std::map<std::string, Json> records;
  if (!map.link.billing_id.empty()) TANDEM_RETURN_IF_ERROR(ReadRecords(map, valid, &records));
  std::vector<LinkResult> out;
  std::vector<std::string> dropped;
  std::vector<store::AuditEntry> audit;
  std::vector<Json> write_back;
  const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
  std::set<std::string> seen;
  for (const auto& id : crm_ids) {
    LinkResult r{id, "", "", ""};
    auto it = billing_of.find(id);
    const bool first = seen.insert(id).second;
    auto rec = records.find(id);
    const std::string shown = rec == records.end() ? "" : rec->second[map.link.billing_id].ToText();
    if (!connector::crm::IsSalesforceId(id)) {
      r.error = "not a Salesforce record id";
      out.push_back(std::move(r));
      continue;
    }
    if (!first || (it == billing_of.end() && shown.empty())) {
      r.outcome = "unchanged";
      out.push_back(std::move(r));
      continue;
    }
    r.outcome = "unlinked";
    if (it != billing_of.end()) {
      r.billing_id = it->second;
      // Billing forgets the CRM id first: a later sync of this record must not find it there.
      connector::billing::BillingAccount untag;
      untag.clear = {connector::billing::kExternalKeyPath};
      auto untagged = deps_.billing.UpdateAccount(
          it->second, untag,
          "tandem:" + map.name + ":" + id + ":unlink:" + it->second + ":" + std::to_string(now_ms));
      if (!untagged.ok() && !untagged.status().IsNotFound()) {
        r.outcome.clear();
        r.error = "billing " + it->second + " kept the CRM id: " + untagged.status().ToString();
        out.push_back(std::move(r));
        continue;
      }
      if (untagged.ok() && !untagged->external_key.empty())
        r.error = "unlinked; billing " + it->second + " keeps CRM id " + untagged->external_key +
                  " (it cannot be changed there): link the record again to use that record";
      dropped.push_back(id);
      audit.push_back(
          store::AuditEntry{now_ms, actor_, map.name, id, "unlink", "unlinked", it->second});
    } else {
      r.billing_id = shown;
    }
    Json wb = Json::MakeObject();
    wb.Set("Id", id);
    for (const std::string* field :
         {&map.link.billing_id, &map.link.account_number, &map.link.status, &map.link.error})
      if (!field->empty()) wb.Set(*field, Json());
    if (!map.link.time.empty()) wb.Set(map.link.time, FormatRfc3339(deps_.clock.Now()));
    if (wb.size() > 1) write_back.push_back(std::move(wb));
    out.push_back(std::move(r));
  }
  // The link and its audit row go together (the audit row also makes the record's next create
  // a new customer, not Stripe's replay of its first); a record unlinked leaves the retry list
  // (a retry would create it again in billing).
  TANDEM_RETURN_IF_ERROR(deps_.store.DeleteLinks(map.name, dropped, audit));
  if (Status noted = deps_.store.NoteSyncOutcomes(map.name, {}, dropped, options_.retry, now_ms);
      !noted.ok())
    return noted;
  std::map<std::string, LinkResult*> by_id;
  for (auto& r : out) by_id.emplace(r.crm_id, &r);
  if (write_back.empty()) return out;
  auto results = deps_.crm.UpdateMany(map.crm, write_back);  // Collections of 200
  for (size_t k = 0; k < write_back.size(); ++k) {
    if (results.ok() && (*results)[k].success) continue;
    by_id[write_back[k]["Id"].as_string()]->error =
        "unlinked; the CRM's link fields were not cleared (unlink again to clear them): " +
        (results.ok() ? (*results)[k].ErrorText() : results.status().ToString());
  }
  return out;
}

Result<std::vector<InvoiceRefresh>> Actions::RefreshInvoices(
    const std::string& object, const std::vector<std::string>& crm_ids) {
  auto map_or = SyncableMap(object);
  if (!map_or.ok()) return map_or.status();
  const mapping::ObjectMap& map = **map_or;
  if (map.crm != "Account")
    return Status::InvalidArgument("invoices belong to Accounts: object map '" + map.name +
                                   "' is of " + map.crm);
  auto linked = LinkedBillingIds(map, crm_ids);
  if (!linked.ok()) return linked.status();
  const std::map<std::string, std::string>& billing_of = *linked;
  std::vector<InvoiceRefresh> out;
  // Every account's invoices are read from billing first, then written to the CRM together:
  // the invoices in one UpsertMany, then their payments under the invoices' CRM ids in another
  // (Collections of 200), as the callbacks write them.
  struct Read {
    size_t account;  // its position in `out`
    std::string invoice_id;
    InvoiceRows rows;
  };
  std::vector<Read> reads;
  for (const auto& id : crm_ids) {
    InvoiceRefresh r;
    r.crm_id = id;
    auto it = billing_of.find(id);
    if (!connector::crm::IsSalesforceId(id)) {
      r.error = "not a Salesforce record id";
    } else if (it == billing_of.end()) {
      r.error = "not synced to billing yet";
    } else {
      r.billing_id = it->second;
      // Written as now read: newer than any event applied before it.
      const int64_t version = ToEpochMillis(deps_.clock.Now()) / 1000;
      const size_t first = reads.size();
      Status listed = deps_.billing.ListInvoices(
          it->second, [&](const connector::billing::Invoice& invoice) -> Status {
            std::vector<connector::billing::Payment> payments;
            TANDEM_RETURN_IF_ERROR(deps_.billing.ListInvoicePayments(
                invoice, [&](const connector::billing::Payment& p) {
                  payments.push_back(p);
                  return Status::Ok();
                }));
            reads.push_back(
                Read{out.size(), invoice.id, InvoiceRecords(invoice, id, version, payments)});
            return Status::Ok();
          });
      if (!listed.ok()) {
        r.error = listed.ToString();
        reads.resize(first);  // an account read in part is not written
      }
    }
    out.push_back(std::move(r));
  }
  auto failed = [&](const Read& read, const std::string& what, const std::string& why) {
    std::string& error = out[read.account].error;
    if (error.empty()) error = what + " " + read.invoice_id + " not written: " + why;
  };
  std::vector<Json> invoices;
  for (const auto& read : reads) {
    Json row = read.rows.invoice;
    row.Set(kInvoiceKey, read.invoice_id);
    invoices.push_back(std::move(row));
  }
  if (invoices.empty()) return out;
  auto saved = deps_.crm.UpsertMany(kInvoiceObject, kInvoiceKey, invoices);
  std::vector<Json> payments;
  std::vector<const Read*> payment_of;
  for (size_t k = 0; k < reads.size(); ++k) {
    if (!saved.ok() || !(*saved)[k].success) {
      failed(reads[k], "invoice", saved.ok() ? (*saved)[k].ErrorText() : saved.status().ToString());
      continue;
    }
    ++out[reads[k].account].invoices;
    for (const auto& [payment_id, fields] : reads[k].rows.payments) {
      Json row = fields;
      row.Set(kPaymentKey, payment_id);
      row.Set("Invoice__c", (*saved)[k].id);
      payments.push_back(std::move(row));
      payment_of.push_back(&reads[k]);
    }
  }
  if (payments.empty()) return out;
  auto paid = deps_.crm.UpsertMany(kPaymentObject, kPaymentKey, payments);
  for (size_t k = 0; k < payments.size(); ++k) {
    if (paid.ok() && (*paid)[k].success)
      ++out[payment_of[k]->account].payments;
    else
      failed(*payment_of[k], "a payment of invoice",
             paid.ok() ? (*paid)[k].ErrorText() : paid.status().ToString());
  }
  return out;
}

}  // namespace tandem::actions
