#include "workorders/renewals.h"

#include "connector/crm/soql.h"

namespace tandem::workorders {

Result<int> RenewalScan::RunOnce(int window_days) {
  const int64_t now_ms = ToEpochMillis(clock_.Now());
  const std::string horizon =
      FormatRfc3339(FromEpochMillis(now_ms + int64_t{window_days} * 86'400'000)).substr(0, 10);
  auto soql =
      connector::crm::SoqlBuilder(
          "Service_Subscription__c",
          {"Id", "Name", "Account__c", "Product__c", "Billing_Subscription_Id__c", "Start_Date__c",
           "End_Date__c", "Term_Months__c", "Quantity__c", "Recurring_Amount__c"})
          .WhereLiteral("Auto_Renew__c", "=", "true")
          .WhereEquals("Status__c", "Active")
          .WhereLiteral("End_Date__c", "<=", horizon)
          .Build();
  if (!soql.ok()) return soql.status();
  int added = 0;
  Status st = crm_.Query(*soql, [&](const Json& r) -> Status {
    const std::string billing_id = r["Billing_Subscription_Id__c"].ToText();
    const std::string end = r["End_Date__c"].ToText();
    if (billing_id.empty() || end.empty()) return Status::Ok();
    const double quantity = r["Quantity__c"].as_number(1) > 0 ? r["Quantity__c"].as_number(1) : 1;
    Json p = Json::MakeObject();
    p.Set("order_id", "");
    p.Set("account_id", r["Account__c"].as_string());
    p.Set("effective_date", end);
    p.Set("operation", "renew");
    p.Set("template", "Auto-renewal");
    p.Set("item_id", "");
    p.Set("quantity", quantity);
    p.Set("unit_price", r["Recurring_Amount__c"].as_number() / quantity);
    p.Set("product_id", r["Product__c"].as_string());
    p.Set("product_name", r["Name"].ToText());
    p.Set("term_months", static_cast<int64_t>(r["Term_Months__c"].as_number(12)));
    p.Set("subscription_crm_id", r["Id"].as_string());
    p.Set("subscription_id", billing_id);
    p.Set("subscription_end", end);
    p.Set("subscription_start", r["Start_Date__c"].ToText());  // the day its terms end on
    // Keyed by the end date it renews from: the next term's renewal is another key.
    const std::string group = "renewal:" + r["Id"].as_string() + ":" + end;
    const std::string prefix = "tandem:renew:" + billing_id + ":" + end + ":";
    store::TaskSpec renew{prefix + "1:renew", group, "renew", p.Dump(), "", 5, now_ms};
    store::TaskSpec record{prefix + "2:record_subscription",
                           group,
                           "record_subscription",
                           p.Dump(),
                           renew.key,
                           5,
                           now_ms};
    for (const auto& spec : {renew, record}) {
      auto ok = store_.EnqueueTask(spec, now_ms);
      if (!ok.ok()) return ok.status();
      if (*ok && spec.kind == "renew") ++added;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return added;
}

}  // namespace tandem::workorders
