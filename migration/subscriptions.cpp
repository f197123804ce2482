// Billing subscriptions into the CRM's service inventory (a subscription map's own path:
// no matching by customer keys; each row names the subscription).
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "migration/run.h"

namespace tandem::migration::internal {

namespace {

// The term in months: billing's own record of it (metadata term_months, as Tandem's work
// orders write it), else from the start to the end of the term; 0 for an open-ended one.
int64_t TermMonths(const connector::billing::Subscription& sub) {
  if (auto t = sub.metadata.find("term_months"); t != sub.metadata.end()) {
    char* end = nullptr;
    const long long v = std::strtoll(t->second.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0) return v;
  }
  if (sub.cancel_at <= 0 || sub.start_date <= 0 || sub.cancel_at <= sub.start_date) return 0;
  const double days = static_cast<double>(sub.cancel_at - sub.start_date) / 86400.0;
  return std::max<int64_t>(1, std::llround(days / (365.25 / 12)));
}

}  // namespace

Status Run::CrmProducts(const std::set<std::string>& billing_products,
                        std::map<std::string, std::pair<std::string, std::string>>* out) {
  const mapping::ObjectMap* products = nullptr;
  for (const auto& o : deps_.mapping.objects)
    if (o.billing == "product") products = &o;
  if (!products || billing_products.empty()) return Status::Ok();
  auto links = deps_.store.FindLinksByBillingIds(
      products->name, {billing_products.begin(), billing_products.end()});
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> billing_of;  // CRM id (15) → billing product
  std::vector<std::string> ids;
  for (const auto& l : *links) {
    billing_of[Id15(l.crm_id)] = l.billing_id;
    ids.push_back(l.crm_id);
  }
  for (size_t start = 0; start < ids.size(); start += kIdsPerQuery) {
    const std::vector<std::string> page(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kIdsPerQuery)));
    auto soql =
        connector::crm::SoqlBuilder(products->crm, {"Id", "Name"}).WhereIn("Id", page).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& p) {
      const std::string id = p["Id"].as_string();
      (*out)[billing_of[Id15(id)]] = {id, p["Name"].ToText()};
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

// Every item after the base line is an add-on of the service: one Service_Add_On__c each,
// upserted by its billing item id (a re-run or resume updates it), as a work order's
// record_add_on writes it, so that `reconcile --object revenue` compares them.
Status Run::RecordAddOns(
    const std::vector<Row*>& rows,
    const std::map<const Row*, connector::billing::Subscription>& subs,
    const std::map<std::string, std::pair<std::string, std::string>>& products) {
  std::vector<Json> records;
  std::vector<Row*> owner;
  for (Row* r : rows) {
    if (r->plan == Plan::kFailed || r->crm_id.empty()) continue;
    const auto& sub = subs.at(r);
    for (size_t i = 1; i < sub.items.size(); ++i) {
      const auto& item = sub.items[i];
      Json a = Json::MakeObject();
      auto product = products.find(item.price.product_id);
      a.Set("Name", product != products.end() && !product->second.second.empty()
                        ? product->second.second
                        : (item.price.nickname.empty() ? item.id : item.price.nickname));
      a.Set("Subscription__c", r->crm_id);
      a.Set("Kind__c", "Recurring");
      a.Set("Quantity__c", item.quantity);
      a.Set("Amount__c", ToMajorUnits(item.price.unit_amount_minor, item.price.currency) *
                             static_cast<double>(item.quantity));
      a.Set("Billing_Item_Id__c", item.id);
      a.Set("Billing_Price_Id__c", item.price.id.empty() ? item.price_id : item.price.id);
      records.push_back(std::move(a));
      owner.push_back(r);
    }
  }
  for (size_t start = 0; start < records.size(); start += kIdsPerQuery) {
    const size_t end = std::min(records.size(), start + kIdsPerQuery);
    const std::vector<Json> page(records.begin() + static_cast<long>(start),
                                 records.begin() + static_cast<long>(end));
    auto saved = deps_.crm.UpsertMany(kAddOnObject, "Billing_Item_Id__c", page);
    for (size_t i = start; i < end; ++i) {
      Row& r = *owner[i];
      if (r.plan == Plan::kFailed) continue;
      const std::string why = !saved.ok()                    ? saved.status().ToString()
                              : !(*saved)[i - start].success ? (*saved)[i - start].ErrorText()
                                                             : "";
      if (!why.empty())
        Fail(r, "add-on " + records[i]["Billing_Item_Id__c"].ToText() + " not recorded: " + why,
             &MigrationSummary::write_failed);
    }
  }
  return Status::Ok();
}

// Existing billing subscriptions into the CRM's service inventory: each row names one; its
// customer must already be linked (migrate accounts first). One Bulk 2.0 upsert per chunk by
// the subscription-id field, so a re-run or a resume updates what it created.
Status Run::RecordSubscriptions(std::vector<Row>& rows) {
  const mapping::ObjectMap* customers = nullptr;
  for (const auto& o : deps_.mapping.objects)
    if (o.billing == "account" && !o.link.billing_id.empty()) customers = &o;
  if (!customers) return Status::InvalidArgument("no customer map with link_fields.billing_id");
  std::vector<Row*> wanted;
  for (Row& r : rows)
    if (r.plan != Plan::kFailed) wanted.push_back(&r);
  std::mutex mu;
  std::map<const Row*, connector::billing::Subscription> subs;
  RunConcurrently(wanted, [&](Row& r) {
    auto sub = deps_.billing.GetSubscription(r.billing_id);
    std::lock_guard<std::mutex> lock(mu);
    if (!sub.ok()) {
      Fail(r, "billing subscription " + r.billing_id + ": " + sub.status().ToString(),
           sub.status().IsNotFound() ? &MigrationSummary::unmatched
                                     : &MigrationSummary::write_failed);
      return;
    }
    subs[&r] = *sub;
  });
  std::vector<std::string> customer_ids;
  for (const auto& [r, sub] : subs) customer_ids.push_back(sub.account_id);
  auto links = deps_.store.FindLinksByBillingIds(customers->name, customer_ids);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> account_of;
  for (const auto& l : *links) account_of[l.billing_id] = l.crm_id;
  // The CRM's Product2 for each billing product the items sell (catalog sync linked them).
  std::set<std::string> products;
  for (const auto& [r, sub] : subs)
    for (const auto& item : sub.items) products.insert(item.price.product_id);
  std::map<std::string, std::pair<std::string, std::string>> crm_product;  // → (Id, Name)
  TANDEM_RETURN_IF_ERROR(CrmProducts(products, &crm_product));
  std::vector<Row*> upserts;
  for (Row* r : wanted) {
    if (r->plan == Plan::kFailed) continue;
    const auto& sub = subs[r];
    auto account = account_of.find(sub.account_id);
    if (account == account_of.end()) {
      Fail(*r,
           "its customer " + sub.account_id + " is not linked to a CRM " + customers->crm +
               " (migrate the accounts first)",
           &MigrationSummary::unmatched);
      continue;
    }
    Json fields = mapping::ApplyToCrm(map_, connector::billing::SubscriptionToPayload(sub));
    for (const auto& [k, v] : r->record.object()) fields.Set(k, v);  // the file's own values
    fields.Set("Account__c", account->second);
    if (!fields.Has("Name")) fields.Set("Name", r->billing_id);
    // Loaded from billing, what was sold is what billing charges on the day of the load,
    // unless the file says otherwise: the base line (the first item) on the record, each
    // further item an add-on record (below), the product, the term and auto-renewal.
    std::vector<std::pair<std::string, Json>> sold;
    if (!sub.items.empty()) {
      const connector::billing::SubscriptionItem& base = sub.items.front();
      sold.emplace_back("Quantity__c", Json(base.quantity));
      if (!base.price.currency.empty()) {
        const double unit = ToMajorUnits(base.price.unit_amount_minor, base.price.currency);
        sold.emplace_back("Unit_Price__c", Json(unit));
        sold.emplace_back("Recurring_Amount__c", Json(unit * static_cast<double>(base.quantity)));
      }
      if (auto product = crm_product.find(base.price.product_id); product != crm_product.end())
        sold.emplace_back("Product__c", Json(product->second.first));
    }
    const int64_t term = TermMonths(sub);
    if (term > 0) sold.emplace_back("Term_Months__c", Json(term));
    if (auto renew = sub.metadata.find("auto_renew"); renew != sub.metadata.end())
      sold.emplace_back("Auto_Renew__c", Json(renew->second == "true"));
    else if (sub.cancel_at_period_end || sub.status == "canceled")
      sold.emplace_back("Auto_Renew__c", Json(false));
    // The file's own values win: a legacy contract price it carries is what was sold.
    for (const auto& [field, value] : sold)
      if (describe_fields_.count(field) && !r->record.Has(field)) fields.Set(field, value);
    r->record = fields;
    r->plan = Plan::kCreateCrm;
    r->status = "recorded in the CRM";
    upserts.push_back(r);
  }
  if (options_.dry_run) {
    for (Row* r : upserts) r->status = "dry run: would be " + r->status;
    cp_.counts.created_crm += static_cast<int64_t>(upserts.size());
    return Status::Ok();
  }
  TANDEM_RETURN_IF_ERROR(BulkToCrm(upserts, /*create=*/true));
  TANDEM_RETURN_IF_ERROR(RecordAddOns(upserts, subs, crm_product));
  const int64_t now = NowMs();
  std::vector<store::Link> new_links;
  std::vector<store::AuditEntry> audit;
  for (Row* r : upserts) {
    // A record made whose add-ons failed is failed (a re-run redoes them), but it is linked
    // and audited all the same: `migrate undo` must see it.
    if (r->crm_id.empty()) continue;
    if (r->plan != Plan::kFailed) ++cp_.counts.created_crm;
    new_links.push_back(store::Link{map_.name, r->crm_id, r->billing_id, "", "", now});
    audit.push_back(store::AuditEntry{now, "migration:" + job_.id, map_.name, r->crm_id, "migrate",
                                      "created", r->billing_id});
  }
  return deps_.store.RecordSync(new_links, audit);
}

}  // namespace tandem::migration::internal
