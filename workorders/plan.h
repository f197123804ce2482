// Steps 4–5: an activated CRM Order as Tandem reads it, and its plan — the tasks each item's
// template lists, as store task specs with deterministic keys (also their billing
// idempotency keys) and dependencies (each task waits for the one before it in its item's
// chain; the account sync, shared by the order, comes first). Planning twice yields the same
// keys, so enqueueing an order again adds nothing.
// Thread-safety: pure functions, except ReadOrder (the CrmClient is thread-safe).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "connector/crm/crm_client.h"
#include "mapping/mapping.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/json.h"
#include "workorders/templates.h"

namespace tandem::workorders {

struct OrderItem {
  std::string id;
  std::string operation;  // the item's own Operation_Type__c, normalized; "" = the order's
  int64_t quantity = 1;
  double unit_price = 0;             // sold, after discount
  std::optional<double> list_price;  // PricebookEntry.UnitPrice: the catalog's
  std::string currency = "USD";
  bool currency_in_book = false;  // the entry has a CurrencyIsoCode (multi-currency orgs only)
  std::string product_id, product_name, product_code, product_family;
  std::string product_kind = "base";  // base | add_on | fee
  std::string billing_price_id;       // PricebookEntry.Billing_Price_Id__c
  int64_t term_months = 0;            // OrderItem.Term_Months__c, else the subscription's
  // The service subscription the item changes (change / re-rate / re-term / cancel / renew /
  // replace, and add-ons).
  std::string subscription_crm_id, subscription_billing_id;
  std::string subscription_end;  // End_Date__c, YYYY-MM-DD
  double recurring_amount = 0;   // Recurring_Amount__c (per period)
};

struct Order {
  std::string id, number, account_id, status, operation;
  std::string effective_date;     // YYYY-MM-DD
  std::string automation_status;  // Automation_Status__c
  std::string system_modstamp;
  std::vector<OrderItem> items;
  // What the mapping's `order` map puts on the subscriptions the order creates (metadata);
  // `unmapped` says why the map could not map this order (the plan then fails with it).
  Json billing_fields = Json::MakeObject();
  std::string unmapped;
};

// Reads the orders and their items (2 SOQL calls for any number of orders: a poll's page of
// 200 costs what one order does), and the fields `order_map` (the mapping's `order` object
// map, when there is one) maps to the billing subscription. An id with no Order is absent
// from the result; InvalidArgument for a malformed id.
Result<std::map<std::string, Order>> ReadOrders(connector::crm::CrmClient& crm,
                                                const std::vector<std::string>& order_ids,
                                                const mapping::ObjectMap* order_map = nullptr);
// One order: NotFound when there is no such order.
Result<Order> ReadOrder(connector::crm::CrmClient& crm, const std::string& order_id,
                        const mapping::ObjectMap* order_map = nullptr);

struct PlannedTask {
  store::TaskSpec spec;
  std::string item_id;        // "" for the order's account sync
  std::string template_name;  // which template produced it
};

// The tasks for an order. InvalidArgument naming each item no template matches (the order
// is then failed as a whole: half an order is worse than none).
// `planned_at` (epoch s) is kept in the payload: time-dependent request fields derive from
// it, so every attempt of a task sends the same request under its idempotency key.
Result<std::vector<PlannedTask>> PlanOrder(const Order& order, const Templates& templates,
                                           int64_t planned_at = 0);

// "  1. [New "Virtual Server"] item 802…: create_subscription (depends on …)" per task.
std::string DescribePlan(const std::vector<PlannedTask>& plan);

using ::tandem::AddMonths;  // util/clock.h
using ::tandem::DateToEpoch;
using ::tandem::MonthsBetween;

}  // namespace tandem::workorders
