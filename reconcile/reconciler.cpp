#include "reconcile/reconciler.h"

#include <set>

#include "actions/billing_records.h"
#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "reconcile/compare.h"
#include "util/log.h"

namespace tandem::reconcile {
namespace {

using connector::billing::BillingAccount;
using connector::billing::Invoice;
using connector::billing::Subscription;

bool IsCustomerMap(const mapping::ObjectMap& m) { return m.billing == "account"; }
// Subscriptions are reconciled where the CRM keeps their billing id (the service inventory).
bool IsSubscriptionMap(const mapping::ObjectMap& m) {
  return m.billing == "subscription" && !m.link.billing_id.empty();
}

// What pass 1 stores of a billing record: what pass 2 compares, and the CRM id it claims.
Json StoredAccount(const BillingAccount& a) {
  Json j = Json::MakeObject();
  j.Set("payload", connector::billing::AccountToPayload(a));
  j.Set("claim", a.external_key);
  j.Set("label", a.name);
  return j;
}

Json StoredSubscription(const Subscription& s) {
  Json j = Json::MakeObject();
  j.Set("payload", connector::billing::SubscriptionToPayload(s));
  j.Set("claim", "");
  j.Set("label", s.status);
  return j;
}

}  // namespace

std::vector<std::string> ReconcilableObjects(const mapping::Mapping& mapping) {
  std::vector<std::string> out;
  for (const auto& m : mapping.objects)
    if (IsCustomerMap(m) || IsSubscriptionMap(m)) out.push_back(m.name);
  out.push_back("invoice");
  out.push_back(kRevenue);
  return out;
}

struct Reconciler::Page {
  std::vector<std::pair<std::string, Json>> records;  // billing id, stored form
};

Reconciler::Reconciler(actions::ActionDeps deps, actions::Actions& actions, Report& report,
                       RunWorkOrders run_work_orders)
    : deps_(deps),
      actions_(actions),
      report_(report),
      run_work_orders_(std::move(run_work_orders)) {}

bool Reconciler::MayFix(const mapping::ObjectMap& map, const char* kind) const {
  return options_.fix && map.repair.count(kind) > 0;
}

Status Reconciler::Found(Finding f) { return report_.Add(f); }

Status Reconciler::Resolve(const Finding& f, const Status& result) {
  return report_.Resolve(f, result.ok() ? "fixed" : "fix failed: " + result.ToString());
}

Status Reconciler::ReadCrm(const std::string& object, const std::vector<std::string>& fields,
                           const std::string& field, const std::vector<std::string>& values,
                           std::map<std::string, Json>* by_value) {
  for (size_t start = 0; start < values.size(); start += options_.batch) {
    const std::vector<std::string> chunk(
        values.begin() + static_cast<long>(start),
        values.begin() + static_cast<long>(std::min(values.size(), start + options_.batch)));
    auto soql = connector::crm::SoqlBuilder(object, fields).WhereIn(field, chunk).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
      (*by_value)[r[field].ToText()] = r;
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Result<std::map<std::string, Json>> Reconciler::StoredBilling(const std::string& billing_object,
                                                              const std::vector<std::string>& ids) {
  auto keys = deps_.store.FindMatchKeys(run_id_, "billing:" + billing_object, ids);
  if (!keys.ok()) return keys.status();
  std::map<std::string, Json> out;
  for (const auto& k : *keys) {
    auto parsed = Json::Parse(k.ref);
    if (!parsed.ok()) return parsed.status().WithContext("stored billing record " + k.key);
    out[k.key] = std::move(parsed).value();
  }
  return out;
}

Status Reconciler::SyncAndResolve(const mapping::ObjectMap& map,
                                  const std::vector<Finding>& findings) {
  if (findings.empty()) return Status::Ok();
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& f : findings)
    if (seen.insert(f.crm_id).second) ids.push_back(f.crm_id);
  auto synced = actions_.Sync(map.name, ids, actions::SyncMode::kForce);
  std::map<std::string, Status> by_id;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!synced.ok()) {
      by_id[ids[i]] = synced.status();
      continue;
    }
    const Outcome& o = synced->outcomes[i];
    by_id[ids[i]] = o.failed() ? Status::RemoteError(o.reason) : Status::Ok();
  }
  for (const auto& f : findings) TANDEM_RETURN_IF_ERROR(Resolve(f, by_id[f.crm_id]));
  return Status::Ok();
}

Status Reconciler::Run(const ReconcileOptions& options) {
  options_ = options;
  if (options_.batch == 0) options_.batch = 200;
  const std::vector<std::string> known = ReconcilableObjects(deps_.mapping);
  std::set<std::string> selected;
  for (const auto& o : options_.objects) {
    const mapping::ObjectMap* m = deps_.mapping.Find(o);
    const std::string name = o == "invoice" || o == kRevenue || !m ? o : m->name;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("cannot reconcile '" + o + "': choose from " + list);
    }
    selected.insert(name);
  }
  if (selected.empty()) {
    selected.insert(known.begin(), known.end());
    selected.erase(kRevenue);
  }
  run_id_ = "reconcile:" + std::to_string(ToEpochMillis(deps_.clock.Now()));
  auto logger = log::Get("reconcile");

  Status st = Status::Ok();
  for (const std::string billing_object : {"account", "subscription"}) {
    std::vector<const mapping::ObjectMap*> maps;
    bool any = false;
    for (const auto& m : deps_.mapping.objects) {
      if (m.billing != billing_object || !(IsCustomerMap(m) || IsSubscriptionMap(m))) continue;
      maps.push_back(&m);
      any = any || selected.count(m.name);
    }
    if (!any) continue;
    logger->info("reconciling billing {}s with {}", billing_object, maps.front()->crm);
    st = ScanBilling(billing_object, maps);
    for (const auto* m : maps) {
      if (!st.ok() || !selected.count(m->name)) continue;
      st = CheckLinks(*m);
      if (st.ok()) st = ScanCrmClaims(*m);
    }
    if (!st.ok()) break;
  }
  if (st.ok() && selected.count("invoice")) st = ScanInvoices();
  if (st.ok() && selected.count(kRevenue))
    st = RevenueReconciler(deps_, report_, run_work_orders_).Run(options_.fix, options_.batch);
  Status dropped = deps_.store.DropMatchKeys(run_id_);
  if (!dropped.ok()) logger->warn("dropping the run's working set: {}", dropped.ToString());
  return st;
}

// --- pass 1: billing ---

Status Reconciler::ScanBilling(const std::string& billing_object,
                               const std::vector<const mapping::ObjectMap*>& maps) {
  Page page;
  auto add = [&](const std::string& id, Json stored) -> Status {
    page.records.emplace_back(id, std::move(stored));
    return page.records.size() >= options_.batch ? FlushBillingPage(billing_object, maps, &page)
                                                 : Status::Ok();
  };
  Status listed = billing_object == "account"
                      ? deps_.billing.ListAccounts(
                            [&](const BillingAccount& a) { return add(a.id, StoredAccount(a)); })
                      : deps_.billing.ListSubscriptions([&](const Subscription& s) {
                          return add(s.id, StoredSubscription(s));
                        });
  TANDEM_RETURN_IF_ERROR(listed);
  return FlushBillingPage(billing_object, maps, &page);
}

Status Reconciler::FlushBillingPage(const std::string& billing_object,
                                    const std::vector<const mapping::ObjectMap*>& maps,
                                    Page* page) {
  if (page->records.empty()) return Status::Ok();
  std::vector<store::MatchKey> keys;
  std::vector<std::string> ids;
  for (const auto& [id, stored] : page->records) {
    keys.push_back(store::MatchKey{id, stored.Dump()});
    ids.push_back(id);
  }
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(run_id_, "billing:" + billing_object, keys));

  std::set<std::string> linked;
  for (const auto* map : maps) {
    auto links = deps_.store.FindLinksByBillingIds(map->name, ids);
    if (!links.ok()) return links.status();
    for (const auto& l : *links) linked.insert(l.billing_id);
  }
  std::vector<const std::pair<std::string, Json>*> unlinked;
  for (const auto& r : page->records)
    if (!linked.count(r.first)) unlinked.push_back(&r);
  report_.Checked(maps.front()->name, static_cast<int64_t>(unlinked.size()));

  // Each unlinked record, looked up in the CRM by the CRM id it carries and by the CRM's
  // billing-id field: billing id → (map, CRM id).
  std::map<std::string, std::pair<const mapping::ObjectMap*, std::string>> found;
  for (const auto* map : maps) {
    std::vector<std::string> claims, bids;
    std::map<std::string, std::string> claim_to_bid;
    for (const auto* r : unlinked) {
      bids.push_back(r->first);
      const std::string claim = r->second["claim"].as_string();
      if (connector::crm::IsSalesforceId(claim)) {
        claims.push_back(claim);
        claim_to_bid[claim] = r->first;
      }
    }
    std::map<std::string, Json> by_id, by_bid;
    TANDEM_RETURN_IF_ERROR(ReadCrm(map->crm, {"Id"}, "Id", claims, &by_id));
    for (const auto& [crm_id, rec] : by_id) {
      // The CRM returns 18-character ids; the claim may be the 15-character form.
      for (const auto& [claim, bid] : claim_to_bid)
        if (crm_id.compare(0, claim.size(), claim) == 0 && !found.count(bid))
          found[bid] = {map, crm_id};
    }
    if (!map->link.billing_id.empty()) {
      TANDEM_RETURN_IF_ERROR(
          ReadCrm(map->crm, {"Id", map->link.billing_id}, map->link.billing_id, bids, &by_bid));
      for (const auto& [bid, rec] : by_bid)
        if (!found.count(bid)) found[bid] = {map, rec["Id"].as_string()};
    }
  }

  std::map<const mapping::ObjectMap*, std::vector<Finding>> to_sync;
  for (const auto* r : unlinked) {
    auto it = found.find(r->first);
    if (it == found.end()) {
      Finding f{maps.front()->name, kMissingInCrm, "", r->first, "", "", "", "", ""};
      f.detail = billing_object == "account"
                     ? "billing account '" + r->second["label"].as_string() +
                           "' has no CRM record: billed, unknown to the CRM"
                     : "billed subscription (" + r->second["label"].as_string() +
                           ") has no service inventory record in the CRM";
      TANDEM_RETURN_IF_ERROR(Found(std::move(f)));
      continue;
    }
    const mapping::ObjectMap& map = *it->second.first;
    const std::string& crm_id = it->second.second;
    Finding f{map.name, kUnlinked, crm_id, r->first, "", "", "", "", ""};
    auto other = deps_.store.FindLinkByCrmId(map.name, crm_id);
    if (!other.ok()) return other.status();
    if (other->has_value()) {
      f.detail = "the CRM record is linked to billing " + (*other)->billing_id +
                 ": this billing record looks like a duplicate";
      TANDEM_RETURN_IF_ERROR(Found(std::move(f)));
      continue;
    }
    f.detail = "both records exist and name each other, but Tandem has no link";
    TANDEM_RETURN_IF_ERROR(Found(f));
    if (!MayFix(map, kUnlinked)) continue;
    Status linked_now = deps_.store.UpsertLinks(
        {store::Link{map.name, crm_id, r->first, "", "", ToEpochMillis(deps_.clock.Now())}});
    // A customer is then synced, so the two agree and the CRM shows the link.
    if (linked_now.ok() && IsCustomerMap(map) && map.master == "crm")
      to_sync[&map].push_back(f);
    else
      TANDEM_RETURN_IF_ERROR(Resolve(f, linked_now));
  }
  for (const auto& [map, findings] : to_sync)
    TANDEM_RETURN_IF_ERROR(SyncAndResolve(*map, findings));
  page->records.clear();
  return Status::Ok();
}

// --- pass 2: links ---

Status Reconciler::CheckLinks(const mapping::ObjectMap& map) {
  const std::vector<std::string> fields = CrmFieldsToCompare(map);
  std::string after;
  for (;;) {
    auto links = deps_.store.ListLinks(map.name, after, static_cast<int>(options_.batch));
    if (!links.ok()) return links.status();
    if (links->empty()) break;
    after = links->back().crm_id;
    std::vector<std::string> crm_ids, bids;
    for (const auto& l : *links) {
      crm_ids.push_back(l.crm_id);
      bids.push_back(l.billing_id);
    }
    // The billing records of this page that another map links too.
    std::map<std::string, std::string> also_linked;  // billing id → "map CRM id"
    for (const auto& other : deps_.mapping.objects) {
      if (other.name == map.name || other.billing != map.billing) continue;
      auto theirs = deps_.store.FindLinksByBillingIds(other.name, bids);
      if (!theirs.ok()) return theirs.status();
      for (const auto& t : *theirs) also_linked[t.billing_id] = other.name + " " + t.crm_id;
    }
    std::map<std::string, Json> crm;
    TANDEM_RETURN_IF_ERROR(ReadCrm(map.crm, fields, "Id", crm_ids, &crm));
    auto billing = StoredBilling(map.billing, bids);
    if (!billing.ok()) return billing.status();

    std::vector<Finding> to_sync, dropped, updated;
    std::vector<std::string> drop;
    std::vector<Json> updates;
    for (const auto& l : *links) {
      auto c = crm.find(l.crm_id);
      auto b = billing->find(l.billing_id);
      if (c == crm.end() || b == billing->end()) {
        Finding f{map.name, kOrphanedLink, l.crm_id, l.billing_id, "", "", "", "", ""};
        f.detail = c == crm.end() && b == billing->end() ? "both records are gone"
                   : c == crm.end()                      ? "the CRM record was deleted"
                                                         : "the billing record was deleted";
        TANDEM_RETURN_IF_ERROR(Found(f));
        if (!MayFix(map, kOrphanedLink)) continue;
        if (c == crm.end()) {
          drop.push_back(l.crm_id);
          dropped.push_back(f);
        } else if (IsCustomerMap(map) && map.master == "crm") {
          to_sync.push_back(f);  // the sync creates the billing record anew
        }
        continue;
      }
      // After the orphan check: a link whose record is gone is dropped all the same.
      if (auto twice = also_linked.find(l.billing_id); twice != also_linked.end()) {
        Finding f{map.name, kLinkedTwice, l.crm_id, l.billing_id, "", "", "", "", ""};
        f.detail = "billing " + l.billing_id + " is linked by " + map.name + " " + l.crm_id +
                   " and by " + twice->second +
                   ": each one's sync overwrites the other's fields; not compared, not "
                   "repaired (one of the two links is wrong)";
        TANDEM_RETURN_IF_ERROR(Found(std::move(f)));
        continue;
      }
      const PairDrift drift = ComparePair(map, c->second, b->second["payload"], l.billing_id);
      for (const auto& d : drift.to_billing) {
        Finding f{map.name,        kFieldDrift, l.crm_id, l.billing_id, d.field, d.crm_value,
                  d.billing_value, "",          ""};
        f.detail = map.master == "crm" ? "the CRM is the master: billing gets the CRM's value"
                                       : "billing is the master: not repaired from the CRM";
        TANDEM_RETURN_IF_ERROR(Found(f));
        if (MayFix(map, kFieldDrift) && map.master == "crm") to_sync.push_back(f);
      }
      Json update = Json::MakeObject();
      update.Set("Id", l.crm_id);
      for (const auto& d : drift.to_crm) {
        Finding f{map.name,
                  kFieldDrift,
                  l.crm_id,
                  l.billing_id,
                  d.field,
                  d.have,
                  d.want.ToText(),
                  "billing decides this field: the CRM gets billing's value",
                  ""};
        TANDEM_RETURN_IF_ERROR(Found(f));
        if (MayFix(map, kFieldDrift)) {
          update.Set(d.field, d.want);
          updated.push_back(f);
        }
      }
      if (update.size() > 1) updates.push_back(std::move(update));
    }
    report_.Checked(map.name, static_cast<int64_t>(links->size()));

    if (!drop.empty()) {
      // Their CRM records are gone: nothing will sync them again.
      Status st = deps_.store.DeleteLinks(map.name, drop, {});
      for (const auto& f : dropped) TANDEM_RETURN_IF_ERROR(Resolve(f, st));
    }
    if (!updates.empty()) {
      auto saved = deps_.crm.UpdateMany(map.crm, updates);
      std::map<std::string, Status> by_id;
      for (size_t i = 0; i < updates.size(); ++i) {
        const std::string id = updates[i]["Id"].as_string();
        by_id[id] = !saved.ok()           ? saved.status()
                    : (*saved)[i].success ? Status::Ok()
                                          : Status::RemoteError((*saved)[i].ErrorText());
      }
      for (const auto& f : updated) TANDEM_RETURN_IF_ERROR(Resolve(f, by_id[f.crm_id]));
    }
    TANDEM_RETURN_IF_ERROR(SyncAndResolve(map, to_sync));
  }
  return Status::Ok();
}

// --- pass 3: CRM records that say they are billed ---

Status Reconciler::ScanCrmClaims(const mapping::ObjectMap& map) {
  if (map.link.billing_id.empty()) return Status::Ok();
  const std::string& field = map.link.billing_id;
  connector::crm::SoqlBuilder query(map.crm, {"Id", field});
  // Every inventory record stands for something sold; an account only once it was billed.
  if (IsCustomerMap(map)) query.WhereLiteral(field, "!=", "null");
  auto soql = query.OrderBy("Id").Build();
  if (!soql.ok()) return soql.status();

  std::vector<Json> page;
  std::vector<Finding> to_create;  // repaired after the scan: writes would move its cursor
  auto flush = [&]() -> Status {
    if (page.empty()) return Status::Ok();
    std::vector<std::string> ids, bids;
    for (const auto& r : page) {
      ids.push_back(r["Id"].as_string());
      if (!r[field].as_string().empty()) bids.push_back(r[field].as_string());
    }
    auto links = deps_.store.FindLinksByCrmIds(map.name, ids);
    if (!links.ok()) return links.status();
    std::set<std::string> linked;
    for (const auto& l : *links) linked.insert(l.crm_id);
    auto billing = StoredBilling(map.billing, bids);
    if (!billing.ok()) return billing.status();
    auto claimed = deps_.store.FindLinksByBillingIds(map.name, bids);
    if (!claimed.ok()) return claimed.status();
    std::map<std::string, std::string> owner;
    for (const auto& l : *claimed) owner[l.billing_id] = l.crm_id;
    for (const auto& r : page) {
      const std::string id = r["Id"].as_string(), bid = r[field].as_string();
      if (linked.count(id)) continue;  // pass 2 compared it
      Finding f{map.name, kMissingInBilling, id, bid, "", "", "", "", ""};
      if (bid.empty()) {
        f.detail = "sold (in the CRM) but never billed: no billing id";
      } else if (billing->count(bid)) {
        auto o = owner.find(bid);
        if (o == owner.end()) continue;  // pass 1 reported it as unlinked
        f.kind = kUnlinked;
        f.detail = "names billing " + bid + ", which is linked to CRM record " + o->second;
        TANDEM_RETURN_IF_ERROR(Found(std::move(f)));
        continue;
      } else {
        f.detail = "the CRM names billing " + bid + ", which billing does not have";
      }
      TANDEM_RETURN_IF_ERROR(Found(f));
      if (MayFix(map, kMissingInBilling) && IsCustomerMap(map) && map.master == "crm")
        to_create.push_back(f);
    }
    page.clear();
    return Status::Ok();
  };
  TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
    page.push_back(r);
    return page.size() >= options_.batch ? flush() : Status::Ok();
  }));
  TANDEM_RETURN_IF_ERROR(flush());
  for (size_t start = 0; start < to_create.size(); start += options_.batch) {
    const std::vector<Finding> chunk(
        to_create.begin() + static_cast<long>(start),
        to_create.begin() + static_cast<long>(std::min(to_create.size(), start + options_.batch)));
    TANDEM_RETURN_IF_ERROR(SyncAndResolve(map, chunk));
  }
  return Status::Ok();
}

// --- invoices and payments ---

Status Reconciler::ScanInvoices() {
  std::vector<Invoice> page;
  TANDEM_RETURN_IF_ERROR(deps_.billing.ListInvoices("", [&](const Invoice& in) {
    page.push_back(in);
    return page.size() >= options_.batch ? FlushInvoicePage(&page) : Status::Ok();
  }));
  return FlushInvoicePage(&page);
}

Status Reconciler::FlushInvoicePage(std::vector<Invoice>* page) {
  if (page->empty()) return Status::Ok();
  const mapping::ObjectMap* account_map = deps_.mapping.Find("account");
  if (!account_map) {
    for (const auto& m : deps_.mapping.objects)
      if (IsCustomerMap(m) && !account_map) account_map = &m;
  }
  if (!account_map) return Status::InvalidArgument("the mapping has no customer object map");
  std::vector<std::string> customers, invoice_ids, charge_ids;
  for (const auto& in : *page) customers.push_back(in.account_id);
  auto links = deps_.store.FindLinksByBillingIds(account_map->name, customers);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> crm_account;
  for (const auto& l : *links) crm_account[l.billing_id] = l.crm_id;
  for (const auto& in : *page) {
    if (!crm_account.count(in.account_id)) continue;  // its customer is reported, not its bills
    invoice_ids.push_back(in.id);
    if (!in.charge_id.empty()) charge_ids.push_back(in.charge_id);
  }
  std::map<std::string, Json> crm_invoices, crm_payments;
  // Every field the one writer (actions/billing_records.h) sets, so nothing it writes goes
  // unchecked.
  std::vector<std::string> invoice_fields = {"Id", actions::kInvoiceKey};
  const Json written = actions::InvoiceFields({}, "", 0);
  for (const auto& [field, value] : written.object())
    if (field != "Name" && field != "Event_Version__c") invoice_fields.push_back(field);
  TANDEM_RETURN_IF_ERROR(ReadCrm(actions::kInvoiceObject, invoice_fields, actions::kInvoiceKey,
                                 invoice_ids, &crm_invoices));
  std::vector<std::string> payment_fields = {"Id", actions::kPaymentKey};
  const Json payment_written = actions::PaymentFields(connector::billing::Payment{}, "");
  for (const auto& [field, value] : payment_written.object())
    if (field != "Name") payment_fields.push_back(field);
  TANDEM_RETURN_IF_ERROR(ReadCrm(actions::kPaymentObject, payment_fields, actions::kPaymentKey,
                                 charge_ids, &crm_payments));
  int64_t invoices = 0, payments = 0;
  for (const auto& in : *page) {
    auto account = crm_account.find(in.account_id);
    if (account == crm_account.end()) continue;
    ++invoices;
    std::vector<Finding> findings;
    // Compares what the CRM record should hold with what it holds.
    auto compare = [&](const char* object, const std::string& billing_id, Json want,
                       const std::map<std::string, Json>& crm_side, const std::string& label) {
      auto have = crm_side.find(billing_id);
      if (have == crm_side.end()) {
        findings.push_back(Finding{object, kMissingInCrm, "", billing_id, "", "", "",
                                   label + " is in billing, not in the CRM", ""});
        return;
      }
      want.Erase("Name");
      want.Erase("Event_Version__c");
      for (const auto& [field, value] : want.object())
        if (!SameValue(value, have->second[field]))
          findings.push_back(Finding{object, kFieldDrift, have->second["Id"].as_string(),
                                     billing_id, field, have->second[field].ToText(),
                                     value.ToText(), "billing is the master of " + label, ""});
    };
    const std::string label = "invoice " + (in.number.empty() ? in.id : in.number);
    compare("invoice", in.id, actions::InvoiceFields(in, account->second, 0), crm_invoices, label);
    Json payment = actions::PaymentFields(in, account->second);
    if (!payment.is_null()) {
      ++payments;
      compare("payment", in.charge_id, payment, crm_payments, "the payment of " + label);
    }
    for (const auto& f : findings) TANDEM_RETURN_IF_ERROR(Found(f));
    if (findings.empty() || !options_.fix) continue;
    // Written as a callback would have written it.
    auto recorded = actions::RecordInvoice(deps_.crm, in, account->second,
                                           ToEpochMillis(deps_.clock.Now()) / 1000);
    for (const auto& f : findings) TANDEM_RETURN_IF_ERROR(Resolve(f, recorded.status()));
  }
  report_.Checked("invoice", invoices);
  report_.Checked("payment", payments);
  page->clear();
  return Status::Ok();
}

}  // namespace tandem::reconcile
