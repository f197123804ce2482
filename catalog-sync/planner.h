// Step 6, the pure half: from what billing's catalog says and what the CRM holds, the plan —
// which Product2 and PricebookEntry records to create, which fields to update (with the diff),
// which products to deactivate (never delete). Fields the mapping does not send to the CRM
// are CRM-owned enrichment and never appear in a plan.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "connector/billing/billing_system.h"
#include "mapping/mapping.h"
#include "util/json.h"

namespace tandem::catalog_sync {

struct FieldChange {
  std::string field, from, to;
};

struct RecordPlan {
  enum class Action { kCreate, kUpdate, kDeactivate } action = Action::kCreate;
  std::string external_id;           // the billing product or price id
  Json fields = Json::MakeObject();  // what to write (for updates: only what changed)
  std::vector<FieldChange> changes;  // for updates and deactivations: the diff
  std::string product_external_id;   // entries: their product's billing id
  std::string pricebook;             // entries: "" for the standard price book, else its name
};

struct Plan {
  std::vector<RecordPlan> products;
  std::vector<RecordPlan> entries;
  int unchanged_products = 0, unchanged_entries = 0;
  bool empty() const { return products.empty() && entries.empty(); }
};

// The external id of a price's entry in a price book: the price id in the standard book,
// "price_id@Book Name" in a configured one.
std::string EntryKey(const std::string& price_id, const std::string& pricebook);

// `crm_products` / `crm_entries`: CRM records keyed by their external ids (as read by the
// applier). Each price maps to a PricebookEntry (UnitPrice, IsActive, CurrencyIsoCode) in the
// standard price book and in every book of `pricebooks`.
Plan MakePlan(const mapping::ObjectMap& product_map,
              const std::vector<connector::billing::Product>& products,
              const std::vector<connector::billing::Price>& prices,
              const std::map<std::string, Json>& crm_products,
              const std::map<std::string, Json>& crm_entries,
              const std::vector<std::string>& pricebooks = {});

// Human-readable plan, one line per record ("create Product2 prod_1: Name='X'", ...).
std::string DescribePlan(const Plan& plan);

}  // namespace tandem::catalog_sync
