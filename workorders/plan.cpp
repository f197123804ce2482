#include "workorders/plan.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "connector/crm/soql.h"
#include "util/clock.h"
#include "util/parallel.h"

namespace tandem::workorders {
namespace {

// Tasks that change what billing charges now: with a later effective date they wait for it
// (the tasks after them in the chain wait too). A new subscription is created at once and
// billed from its date (start_subscription); a cancellation or a term is a date billing keeps.
bool WaitsForEffectiveDate(const std::string& kind) {
  return kind == "change_quantity" || kind == "change_price" || kind == "add_add_on" ||
         kind == "change_add_on" || kind == "remove_add_on" || kind == "replace" ||
         kind == "one_time_charge";
}

std::string Kind(const std::string& crm_kind) {
  if (crm_kind == "Add-On") return "add_on";
  if (crm_kind == "Fee") return "fee";
  return "base";
}

Status ReadOrderRows(connector::crm::CrmClient& crm, const std::string& soql,
                     const mapping::ObjectMap* order_map, std::map<std::string, Order>* orders) {
  return crm.Query(soql, [&](const Json& r) {
    Order& order = (*orders)[r["Id"].as_string()];
    if (order_map) {
      mapping::Mapped m = mapping::ApplyToBilling(*order_map, r);
      if (m.ok())
        order.billing_fields = m.payload;
      else
        order.unmapped = "the order map cannot map " + m.failed_field + ": " + m.reason;
    }
    order.id = r["Id"].as_string();
    order.number = r["OrderNumber"].ToText();
    order.account_id = r["AccountId"].as_string();
    order.status = r["Status"].ToText();
    order.operation = NormalizeOperation(r["Operation_Type__c"].ToText());
    order.effective_date = r["EffectiveDate"].ToText();
    order.automation_status = r["Automation_Status__c"].ToText();
    order.system_modstamp = r["SystemModstamp"].ToText();
    return Status::Ok();
  });
}

Status ReadItemRows(connector::crm::CrmClient& crm, const std::string& soql,
                    std::vector<std::pair<std::string, OrderItem>>* items) {
  return crm.Query(soql, [&](const Json& r) {
    OrderItem it;
    it.id = r["Id"].as_string();
    it.operation = NormalizeOperation(r["Operation_Type__c"].ToText());
    it.quantity = static_cast<int64_t>(r["Quantity"].as_number(1));
    it.unit_price = r["UnitPrice"].as_number();
    const Json& product = r["Product2"];
    it.product_id = r["Product2Id"].as_string();
    it.product_name = product["Name"].ToText();
    it.product_code = product["ProductCode"].ToText();
    it.product_family = product["Family"].ToText();
    it.product_kind = Kind(product["Product_Kind__c"].ToText());
    it.billing_price_id = r["PricebookEntry"]["Billing_Price_Id__c"].ToText();
    if (r["PricebookEntry"]["UnitPrice"].is_number())
      it.list_price = r["PricebookEntry"]["UnitPrice"].as_number();
    if (!r["PricebookEntry"]["CurrencyIsoCode"].ToText().empty()) {
      it.currency = r["PricebookEntry"]["CurrencyIsoCode"].ToText();
      it.currency_in_book = true;
    }
    const Json& sub = r["Service_Subscription__r"];
    it.subscription_crm_id = r["Service_Subscription__c"].as_string();
    it.subscription_billing_id = sub["Billing_Subscription_Id__c"].ToText();
    it.subscription_end = sub["End_Date__c"].ToText();
    it.recurring_amount = sub["Recurring_Amount__c"].as_number();
    it.term_months = static_cast<int64_t>(r["Term_Months__c"].as_number(0));
    if (it.term_months == 0)
      it.term_months = static_cast<int64_t>(sub["Term_Months__c"].as_number(0));
    items->emplace_back(r["OrderId"].as_string(), std::move(it));
    return Status::Ok();
  });
}

}  // namespace

Result<std::map<std::string, Order>> ReadOrders(connector::crm::CrmClient& crm,
                                                const std::vector<std::string>& order_ids,
                                                const mapping::ObjectMap* order_map) {
  for (const auto& id : order_ids)
    if (!connector::crm::IsSalesforceId(id))
      return Status::InvalidArgument("'" + id + "' is not an Order id");
  std::map<std::string, Order> orders;
  if (order_ids.empty()) return orders;
  std::vector<std::string> fields = {"Id",
                                     "OrderNumber",
                                     "AccountId",
                                     "Status",
                                     "Operation_Type__c",
                                     "EffectiveDate",
                                     "Automation_Status__c",
                                     "SystemModstamp"};
  if (order_map)
    for (const auto& f : mapping::CrmFieldsToRead(*order_map))
      if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
  auto q = connector::crm::SoqlBuilder("Order", fields).WhereIn("Id", order_ids).Build();
  if (!q.ok()) return q.status();
  // The items are asked for by the ids the caller names, in the same round trip as the Orders
  // (a poll page waited one CRM latency more when they went one after the other); an item of
  // an id that names no Order is dropped below.
  auto items = connector::crm::SoqlBuilder(
                   "OrderItem",
                   {"Id", "OrderId", "Quantity", "UnitPrice", "Operation_Type__c", "Term_Months__c",
                    "Product2Id", "Product2.Name", "Product2.ProductCode", "Product2.Family",
                    "Product2.Product_Kind__c", "PricebookEntry.Billing_Price_Id__c",
                    "PricebookEntry.CurrencyIsoCode", "PricebookEntry.UnitPrice",
                    "Service_Subscription__c", "Service_Subscription__r.Billing_Subscription_Id__c",
                    "Service_Subscription__r.End_Date__c", "Service_Subscription__r.Term_Months__c",
                    "Service_Subscription__r.Recurring_Amount__c"})
                   .WhereIn("OrderId", order_ids)
                   .OrderBy("Id")
                   .Build();
  if (!items.ok()) return items.status();
  std::vector<std::pair<std::string, OrderItem>> read_items;  // (its order's id, the item)
  Status orders_read = Status::Ok(), items_read = Status::Ok();
  ParallelFor(2, 2, [&](size_t which) {
    if (which == 0)
      orders_read = ReadOrderRows(crm, *q, order_map, &orders);
    else
      items_read = ReadItemRows(crm, *items, &read_items);
  });
  TANDEM_RETURN_IF_ERROR(orders_read);
  TANDEM_RETURN_IF_ERROR(items_read);
  for (auto& [order_id, item] : read_items) {
    auto order = orders.find(order_id);
    if (order != orders.end()) order->second.items.push_back(std::move(item));
  }
  return orders;
}

Result<Order> ReadOrder(connector::crm::CrmClient& crm, const std::string& order_id,
                        const mapping::ObjectMap* order_map) {
  auto orders = ReadOrders(crm, {order_id}, order_map);
  if (!orders.ok()) return orders.status();
  // The one record the query found (the CRM may answer a 15-character id with its 18).
  if (orders->empty()) return Status::NotFound("no Order " + order_id);
  return std::move(orders->begin()->second);
}

Result<std::vector<PlannedTask>> PlanOrder(const Order& order, const Templates& templates,
                                           int64_t planned_at) {
  std::vector<PlannedTask> plan;
  std::vector<std::string> problems;
  const std::string prefix = "tandem:wo:" + order.id + ":";
  const std::string sync_key = prefix + "account:sync_account";
  bool sync_planned = false;
  if (order.items.empty()) problems.push_back("the order has no items");
  if (!order.unmapped.empty()) problems.push_back(order.unmapped);
  const int64_t effective = DateToEpoch(order.effective_date);
  // When any item's template syncs the account, every item's chain starts after that sync:
  // a fee or add-on of the same order may need the customer it creates.
  bool needs_sync = false;
  for (const auto& item : order.items) {
    const std::string op = item.operation.empty() ? order.operation : item.operation;
    if (const Template* t =
            templates.Find(op, item.product_code, item.product_family, item.product_kind))
      for (const auto& k : t->tasks) needs_sync = needs_sync || k == "sync_account";
  }
  for (const auto& item : order.items) {
    const std::string op = item.operation.empty() ? order.operation : item.operation;
    if (op.empty()) {
      problems.push_back("item " + item.id + ": no Operation_Type__c on the item or the order");
      continue;
    }
    const Template* t =
        templates.Find(op, item.product_code, item.product_family, item.product_kind);
    if (!t) {
      problems.push_back("item " + item.id + ": no template in " + templates.source + " for " + op +
                         " of " + item.product_name + " (code '" + item.product_code +
                         "', family '" + item.product_family + "', kind " + item.product_kind +
                         ")");
      continue;
    }
    Json params = Json::MakeObject();
    params.Set("order_id", order.id);
    params.Set("order_number", order.number);
    params.Set("account_id", order.account_id);
    params.Set("effective_date", order.effective_date);
    params.Set("operation", op);
    params.Set("template", t->name);
    params.Set("item_id", item.id);
    params.Set("quantity", item.quantity);
    params.Set("unit_price", item.unit_price);
    if (item.list_price) params.Set("list_price", *item.list_price);
    if (item.currency_in_book) params.Set("book_currency", item.currency);
    params.Set("currency", item.currency);
    params.Set("product_id", item.product_id);
    params.Set("product_name", item.product_name);
    params.Set("product_kind", item.product_kind);
    params.Set("price_id", item.billing_price_id);
    params.Set("term_months", item.term_months);
    params.Set("subscription_crm_id", item.subscription_crm_id);
    params.Set("subscription_id", item.subscription_billing_id);
    params.Set("subscription_end", item.subscription_end);
    params.Set("recurring_amount", item.recurring_amount);
    params.Set("early_termination_percent", templates.EarlyTerminationPercent(*t));
    params.Set("at_term_end", t->at_term_end);
    params.Set("proration", t->proration);
    params.Set("planned_at", planned_at);
    params.Set("order_fields", order.billing_fields);
    std::string previous = needs_sync ? sync_key : "";
    int index = 0;
    for (const auto& kind : t->tasks) {
      PlannedTask task;
      task.item_id = item.id;
      task.template_name = t->name;
      if (kind == "sync_account") {
        if (!sync_planned) {  // one per order, shared by its items
          sync_planned = true;
          PlannedTask sync;
          sync.template_name = t->name;
          sync.spec.key = sync_key;
          sync.spec.group_id = order.id;
          sync.spec.kind = kind;
          sync.spec.payload = params.Dump();
          plan.insert(plan.begin(), sync);  // first: every chain may wait for it
        }
        previous = sync_key;
        continue;
      }
      task.spec.key = prefix + item.id + ":" + std::to_string(++index) + ":" + kind;
      task.spec.group_id = order.id;
      task.spec.kind = kind;
      task.spec.payload = params.Dump();
      task.spec.depends_on = previous;
      if (effective > planned_at && WaitsForEffectiveDate(kind))
        task.spec.run_at_ms = effective * 1000;
      previous = task.spec.key;
      plan.push_back(std::move(task));
    }
  }
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return Status::InvalidArgument("order " + order.number + ": " + all);
  }
  return plan;
}

std::string DescribePlan(const std::vector<PlannedTask>& plan) {
  std::string out;
  int n = 0;
  for (const auto& t : plan) {
    out += "  " + std::to_string(++n) + ". [" + t.template_name + "] " +
           (t.item_id.empty() ? std::string("order") : "item " + t.item_id) + ": " + t.spec.kind;
    if (!t.spec.depends_on.empty()) {
      const std::string& d = t.spec.depends_on;
      out += "  (after " + d.substr(d.rfind(':') + 1) + ")";
    }
    if (t.spec.run_at_ms > 0)
      out += "  (waits for " + FormatRfc3339(FromEpochMillis(t.spec.run_at_ms)).substr(0, 10) + ")";
    out += "\n";
  }
  return out;
}

}  // namespace tandem::workorders
