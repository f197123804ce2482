// Billing subscriptions into the CRM's service inventory (a subscription map's own path:
// no matching by customer keys; each row names the subscription).
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "connector/billing/account_payload.h"
#include "migration/run.h"

namespace tandem::migration::internal {

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
    // unless the file says otherwise.
    if (!sub.items.empty()) {
      const connector::billing::SubscriptionItem& base = sub.items.front();
      std::vector<std::pair<std::string, Json>> sold = {{"Quantity__c", Json(base.quantity)}};
      if (!base.price.currency.empty()) {
        const double unit = static_cast<double>(base.price.unit_amount_minor) /
                            std::pow(10.0, mapping::CurrencyDecimals(base.price.currency));
        sold.emplace_back("Unit_Price__c", Json(unit));
        sold.emplace_back("Recurring_Amount__c", Json(unit * static_cast<double>(base.quantity)));
      }
      // The file's own values win: a legacy contract price it carries is what was sold.
      for (const auto& [field, value] : sold)
        if (describe_fields_.count(field) && !r->record.Has(field)) fields.Set(field, value);
    }
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
  const int64_t now = NowMs();
  std::vector<store::Link> new_links;
  std::vector<store::AuditEntry> audit;
  for (Row* r : upserts) {
    if (r->plan == Plan::kFailed) continue;
    ++cp_.counts.created_crm;
    new_links.push_back(store::Link{map_.name, r->crm_id, r->billing_id, "", "", now});
    audit.push_back(store::AuditEntry{now, "migration:" + job_.id, map_.name, r->crm_id, "migrate",
                                      "created", r->billing_id});
  }
  return deps_.store.RecordSync(new_links, audit);
}

}  // namespace tandem::migration::internal
