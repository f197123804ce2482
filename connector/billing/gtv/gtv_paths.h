// Every Gotransverse (GTV) API 2.0 path the adapter calls, in one table. Most lifecycle paths
// are inferred from API 1.x's verbs (docs/gotransverse.md lists which were verified against
// GTV's documents and which were not): a check against a real tenant corrects them here.
#pragma once

#include <string>

namespace tandem::connector::billing::gtv {

struct GtvPaths {
  // Reference data an account needs (verified).
  static constexpr const char* kBillCycles = "/billing/2/bill-cycles";
  static constexpr const char* kAccountCategories = "/billing/2/billing-account-categories";
  static constexpr const char* kCustomFields = "/billing/2/custom-fields";  // inferred path
  // Accounts (create, list, read: verified; PUT: inferred).
  static constexpr const char* kAccounts = "/billing/2/billing-accounts";
  static std::string Account(const std::string& id) { return std::string(kAccounts) + "/" + id; }
  static std::string ChangeService(const std::string& account) {  // 1.x changeService
    return Account(account) + "/change-service";
  }
  // Catalog (product create: verified; prices: inferred).
  static constexpr const char* kProducts = "/billing/2/products";
  static std::string Product(const std::string& id) { return std::string(kProducts) + "/" + id; }
  static std::string ProductCommand(const std::string& id, const char* verb) {
    return Product(id) + "/" + verb;  // activate | deactivate (1.x verbs)
  }
  static std::string ProductPrices(const std::string& product) {
    return Product(product) + "/product-prices";
  }
  static constexpr const char* kPrices = "/billing/2/product-prices";
  static std::string Price(const std::string& id) { return std::string(kPrices) + "/" + id; }
  // Orders: draft → confirm (the operation: verified via Nextian; the paths: inferred).
  static constexpr const char* kOrders = "/billing/2/orders";
  static std::string Order(const std::string& id) { return std::string(kOrders) + "/" + id; }
  static std::string Confirm(const std::string& order) { return Order(order) + "/confirm"; }
  static std::string OrderItem(const std::string& order, const std::string& item) {
    return Order(order) + "/order-items/" + item;
  }
  // Services (list: verified; commands: 1.x verbs in 2.0 spelling, inferred).
  static constexpr const char* kServices = "/billing/2/services";
  static std::string Service(const std::string& id) { return std::string(kServices) + "/" + id; }
  static std::string ServiceCommand(const std::string& id, const char* verb) {
    return Service(id) + "/" + verb;  // change-quantity | change-price | renew | deactivate
  }
  // Charges (1.x adjustments), usage (verified), invoices (verified), payments (inferred).
  static constexpr const char* kAdjustments = "/billing/2/adjustments";
  static constexpr const char* kUsageBulk = "/billing/2/usage-events/bulk";
  static constexpr const char* kInvoices = "/billing/2/invoices";
  static std::string Invoice(const std::string& id) { return std::string(kInvoices) + "/" + id; }
  static constexpr const char* kPayments = "/billing/2/payments";
  static std::string Payment(const std::string& id) { return std::string(kPayments) + "/" + id; }
};

}  // namespace tandem::connector::billing::gtv
