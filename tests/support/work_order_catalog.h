// What the per-operation work-order tests sell, over any billing system (Stripe's suite and
// GTV's): one price book with the server (30.00 a month), the bigger server (90.00), the
// backup add-on (5.00), the setup fee (150.00 once) and the SIP trunk (20.00; its
// cancellation template charges 75 % of the rest of the term); and orders of one account,
// numbered ORD-1, ORD-2, ... in that price book.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"

namespace tandem::testing {

class WorkOrderCatalog {
 public:
  void Make(connector::crm::CrmClient& crm, connector::billing::BillingSystem& billing,
            const std::string& account) {
    crm_ = &crm;
    account_ = account;
    pricebook = CreatePricebook(crm).value();
    auto make = [&](const char* name, const char* code, const char* family, const char* kind,
                    int64_t amount_minor) {
      auto p =
          CreateCatalogProduct(crm, billing, pricebook, name, code, family, kind, amount_minor);
      EXPECT_TRUE(p.ok()) << name << ": " << p.status().ToString();
      return p.value_or(CatalogProduct{});
    };
    server = make("Virtual Server", "VS-2", "Virtual Server", "Base", 3000);
    server_xl = make("Virtual Server XL", "VS-8", "Virtual Server", "Base", 9000);
    backup = make("Backup", "BK", "Add-Ons", "Add-On", 500);
    setup = make("Setup Fee", "SETUP", "Fees", "Fee", 15000);
    trunk = make("SIP Trunk", "SIP-10", "SIP Trunk", "Base", 2000);
  }

  // An activated order of the account, numbered in turn; "" (and a test failure) when the
  // CRM refused it.
  std::string Order(const std::string& operation, const std::string& effective,
                    const std::vector<OrderLine>& items) {
    OrderSpec spec{account_, effective, operation, items};
    spec.order_number = "ORD-" + std::to_string(++orders_);
    spec.pricebook = pricebook;
    auto id = CreateOrder(*crm_, spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.value_or("");
  }

  std::string pricebook;
  CatalogProduct server, server_xl, backup, setup, trunk;

 private:
  connector::crm::CrmClient* crm_ = nullptr;
  std::string account_;
  int orders_ = 0;
};

// The service subscription the order's first item points at ("" when none).
inline std::string ItemSubscription(connector::crm::CrmClient& crm, const std::string& order_id) {
  std::string sub;
  (void)crm.Query(
      "SELECT Service_Subscription__c FROM OrderItem WHERE OrderId = '" + order_id + "'",
      [&](const Json& r) {
        if (sub.empty()) sub = r["Service_Subscription__c"].as_string();
        return Status::Ok();
      });
  return sub;
}

}  // namespace tandem::testing
