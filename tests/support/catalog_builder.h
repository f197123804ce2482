// The catalog tests and benchmarks stand on: products and prices in billing, and the price
// book, Product2 and PricebookEntry records that sell them in the CRM (what the work-order
// planner reads). Each function makes its records at once and returns what the clients
// answered. Header-only: the benchmarks use it too, and they build without the tests.
#pragma once

#include <cstdint>
#include <string>

#include "connector/billing/billing_system.h"
#include "connector/crm/crm_client.h"
#include "util/json.h"
#include "util/result.h"

namespace tandem::testing {

// A product in billing, made with idempotency key `key`; `kind` as billing has it ("base",
// "add_on", "fee").
inline Result<connector::billing::Product> CreateBillingProduct(
    connector::billing::BillingSystem& billing, const std::string& name, const std::string& key,
    const std::string& kind = "base") {
  connector::billing::Product p;
  p.name = name;
  p.kind = kind;
  return billing.CreateProduct(p, key);
}

// A price of `product_id` in billing, made with idempotency key `key`; `interval` "month",
// "year", or "" for a one-time price.
inline Result<connector::billing::Price> CreateBillingPrice(
    connector::billing::BillingSystem& billing, const std::string& product_id,
    const std::string& currency, int64_t amount_minor, const std::string& interval,
    const std::string& key) {
  connector::billing::Price price;
  price.product_id = product_id;
  price.currency = currency;
  price.unit_amount_minor = amount_minor;
  price.interval = interval;
  return billing.CreatePrice(price, key);
}

// The CRM's standard price book (a new sandbox has none).
inline Result<std::string> CreatePricebook(connector::crm::CrmClient& crm) {
  Json book = Json::MakeObject();
  book.Set("Name", "Standard Price Book");
  return crm.Create("Pricebook2", book);
}

// A Product2; a field left empty is not set.
struct Product2Fields {
  std::string name;
  std::string code;  // ProductCode
  std::string family;
  std::string kind;             // Product_Kind__c: "Base", "Add-On", "Fee"
  std::string billing_product;  // Billing_Product_Id__c
};

inline Result<std::string> CreateProduct2(connector::crm::CrmClient& crm, const Product2Fields& f) {
  Json p2 = Json::MakeObject();
  p2.Set("Name", f.name);
  if (!f.code.empty()) p2.Set("ProductCode", f.code);
  if (!f.family.empty()) p2.Set("Family", f.family);
  if (!f.kind.empty()) p2.Set("Product_Kind__c", f.kind);
  if (!f.billing_product.empty()) p2.Set("Billing_Product_Id__c", f.billing_product);
  return crm.Create("Product2", p2);
}

// `product2` in `pricebook` at `unit_price`, sold as billing's `billing_price`; `currency`
// (CurrencyIsoCode) "" is not set.
inline Result<std::string> CreatePricebookEntry(connector::crm::CrmClient& crm,
                                                const std::string& pricebook,
                                                const std::string& product2, double unit_price,
                                                const std::string& billing_price,
                                                const std::string& currency = "") {
  Json entry = Json::MakeObject();
  entry.Set("Pricebook2Id", pricebook);
  entry.Set("Product2Id", product2);
  entry.Set("UnitPrice", unit_price);
  if (!currency.empty()) entry.Set("CurrencyIsoCode", currency);
  entry.Set("Billing_Price_Id__c", billing_price);
  return crm.Create("PricebookEntry", entry);
}

// A product both sides know: what an order item names in the CRM and what billing charges.
struct CatalogProduct {
  std::string product_crm, entry_crm;  // Product2 and PricebookEntry
  std::string price_billing;
  std::string product_billing;
};

// A product sold in euros as catalog sync would leave it: billing's product and price (keys
// "p-CODE" and "price-CODE"; monthly, a "Fee" one-time), and its Product2 (linked by
// Billing_Product_Id__c) and entry in `pricebook` at the same price.
inline Result<CatalogProduct> CreateCatalogProduct(connector::crm::CrmClient& crm,
                                                   connector::billing::BillingSystem& billing,
                                                   const std::string& pricebook,
                                                   const std::string& name, const std::string& code,
                                                   const std::string& family,
                                                   const std::string& kind, int64_t amount_minor) {
  auto product = CreateBillingProduct(billing, name, "p-" + code);
  if (!product.ok()) return product.status();
  auto price = CreateBillingPrice(billing, product->id, "eur", amount_minor,
                                  kind == "Fee" ? "" : "month", "price-" + code);
  if (!price.ok()) return price.status();
  CatalogProduct c;
  auto product2 = CreateProduct2(crm, {name, code, family, kind, product->id});
  if (!product2.ok()) return product2.status();
  c.product_crm = *product2;
  auto entry = CreatePricebookEntry(crm, pricebook, c.product_crm,
                                    static_cast<double>(amount_minor) / 100, price->id, "EUR");
  if (!entry.ok()) return entry.status();
  c.entry_crm = *entry;
  c.price_billing = price->id;
  c.product_billing = product->id;
  return c;
}

}  // namespace tandem::testing
