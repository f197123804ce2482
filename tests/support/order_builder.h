// Activated Orders with their OrderItems in the CRM, as a sales rep leaves them for the
// order poller: one at a time (a REST call a record), or many through sObject Collections.
// Header-only, like catalog_builder.h (the benchmarks build without the tests).
#pragma once

#include <string>
#include <vector>

#include "connector/crm/crm_client.h"
#include "tests/support/catalog_builder.h"
#include "util/json.h"
#include "util/result.h"

namespace tandem::testing {

// An OrderItem; an empty field or a zero term is not set.
struct OrderLine {
  const CatalogProduct* product;
  int quantity = 1;
  double unit_price = 0;
  std::string operation;         // Operation_Type__c; "" = the order's
  std::string subscription_crm;  // Service_Subscription__c: what the line changes
  int term_months = 0;           // Term_Months__c
};

// An activated Order; an empty field is not set. The last two have default initializers, so
// a spec may leave them out of its braces (-Wmissing-field-initializers).
struct OrderSpec {
  std::string account;
  std::string effective_date;
  std::string operation;  // Operation_Type__c
  std::vector<OrderLine> lines;
  std::string order_number{};  // OrderNumber
  std::string pricebook{};     // Pricebook2Id
};

inline Json OrderRecord(const OrderSpec& spec) {
  Json order = Json::MakeObject();
  order.Set("AccountId", spec.account);
  order.Set("EffectiveDate", spec.effective_date);
  order.Set("Status", "Activated");
  if (!spec.order_number.empty()) order.Set("OrderNumber", spec.order_number);
  if (!spec.operation.empty()) order.Set("Operation_Type__c", spec.operation);
  if (!spec.pricebook.empty()) order.Set("Pricebook2Id", spec.pricebook);
  return order;
}

inline Json OrderItemRecord(const std::string& order_id, const OrderLine& line) {
  Json item = Json::MakeObject();
  item.Set("OrderId", order_id);
  item.Set("Product2Id", line.product->product_crm);
  item.Set("PricebookEntryId", line.product->entry_crm);
  item.Set("Quantity", line.quantity);
  item.Set("UnitPrice", line.unit_price);
  if (!line.operation.empty()) item.Set("Operation_Type__c", line.operation);
  if (!line.subscription_crm.empty()) item.Set("Service_Subscription__c", line.subscription_crm);
  if (line.term_months) item.Set("Term_Months__c", line.term_months);
  return item;
}

// One order and its items, a Create each. Returns the order's id, or the first failure.
inline Result<std::string> CreateOrder(connector::crm::CrmClient& crm, const OrderSpec& spec) {
  auto id = crm.Create("Order", OrderRecord(spec));
  if (!id.ok()) return id.status();
  for (const auto& line : spec.lines) {
    auto item = crm.Create("OrderItem", OrderItemRecord(*id, line));
    if (!item.ok()) return item.status();
  }
  return id;
}

// Many orders: one CreateMany for the orders, one for all their items (200 records a call).
// Returns the orders' ids in order; an error when a call failed or a record was refused.
inline Result<std::vector<std::string>> CreateOrders(connector::crm::CrmClient& crm,
                                                     const std::vector<OrderSpec>& specs) {
  std::vector<Json> orders;
  for (const auto& spec : specs) orders.push_back(OrderRecord(spec));
  auto created = crm.CreateMany("Order", orders);
  if (!created.ok()) return created.status();
  std::vector<std::string> ids;
  std::vector<Json> items;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& order = (*created)[i];
    if (!order.success) return Status::InvalidArgument("Order: " + order.ErrorText());
    ids.push_back(order.id);
    for (const auto& line : specs[i].lines) items.push_back(OrderItemRecord(order.id, line));
  }
  auto saved = crm.CreateMany("OrderItem", items);
  if (!saved.ok()) return saved.status();
  for (const auto& r : *saved)
    if (!r.success) return Status::InvalidArgument("OrderItem: " + r.ErrorText());
  return ids;
}

}  // namespace tandem::testing
