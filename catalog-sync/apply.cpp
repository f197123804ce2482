#include "catalog-sync/apply.h"

#include <mutex>
#include <set>

#include "connector/crm/soql.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::catalog_sync {
namespace {

constexpr char kCursor[] = "catalog";
constexpr size_t kIdsPerQuery = 200;
constexpr int kMaxQueriesInFlight = 16;  // threads a read may use

// Reads `object` records whose `key_field` is one of `keys`, 200 keys per SOQL call.
Status ReadByKeys(connector::crm::CrmClient& crm, const std::string& object,
                  const std::string& key_field, const std::vector<std::string>& fields,
                  const std::vector<std::string>& keys, std::map<std::string, Json>* out) {
  // The queries go in flight together, as many as the CRM connection says: each waits on the
  // CRM for hundreds of ms, and a catalog of 10,000 products is 50 of them.
  auto read = [&](size_t first, std::map<std::string, Json>* found) -> Status {
    const auto from = keys.begin() + static_cast<long>(first);
    const std::vector<std::string> chunk(
        from, from + static_cast<long>(std::min(kIdsPerQuery, keys.size() - first)));
    auto q = connector::crm::SoqlBuilder(object, fields).WhereIn(key_field, chunk).Build();
    if (!q.ok()) return q.status();
    return crm.Query(*q, [&](const Json& r) {
      (*found)[r[key_field].as_string()] = r;
      return Status::Ok();
    });
  };
  std::mutex mu;
  Status failed;
  const size_t queries = (keys.size() + kIdsPerQuery - 1) / kIdsPerQuery;
  ParallelForLimited(
      queries, kMaxQueriesInFlight, [&] { return crm.PreferredInFlight(); },
      [&](size_t c) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!failed.ok()) return;  // the read fails whole: ask no more
        }
        std::map<std::string, Json> found;
        const Status st = read(c * kIdsPerQuery, &found);
        std::lock_guard<std::mutex> lock(mu);
        if (!st.ok() && failed.ok()) failed = st;
        for (auto& [key, record] : found) (*out)[key] = std::move(record);
      });
  return failed;
}

}  // namespace

CatalogSync::CatalogSync(CatalogDeps deps) : deps_(deps) {}

Result<std::string> CatalogSync::StandardPricebook() {
  std::string id;
  TANDEM_RETURN_IF_ERROR(deps_.crm.Query(
      "SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1", [&](const Json& r) {
        id = r["Id"].as_string();
        return Status::Ok();
      }));
  if (!id.empty()) return id;
  // Every real org has one; an empty sandbox may not.
  Json book = Json::MakeObject();
  book.Set("Name", "Standard Price Book");
  book.Set("IsStandard", true);
  book.Set("IsActive", true);
  return deps_.crm.Create("Pricebook2", book);
}

Result<std::map<std::string, std::string>> CatalogSync::Pricebooks() {
  std::map<std::string, std::string> out;
  auto standard = StandardPricebook();
  if (!standard.ok()) return standard.status();
  out[""] = *standard;
  if (deps_.pricebooks.empty()) return out;
  auto q = connector::crm::SoqlBuilder("Pricebook2", {"Id", "Name"})
               .WhereIn("Name", deps_.pricebooks)
               .Build();
  if (!q.ok()) return q.status();
  TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*q, [&](const Json& r) {
    out[r["Name"].as_string()] = r["Id"].as_string();
    return Status::Ok();
  }));
  for (const auto& name : deps_.pricebooks)
    if (!out.count(name))
      return Status::NotFound("price book '" + name + "' (catalog.pricebooks) is not in the CRM");
  return out;
}

Result<RunSummary> CatalogSync::Run(const RunOptions& options) {
  auto logger = log::Get("catalog_sync");
  const mapping::ObjectMap* map = deps_.mapping.Find("product");
  if (!map) return Status::InvalidArgument("the mapping has no 'product' object map");
  std::string cursor;
  if (!options.full) {
    auto stored = deps_.store.GetCursor(kCursor);
    if (!stored.ok()) return stored.status();
    cursor = stored->value_or("");
  }
  auto changes = deps_.billing.ListCatalogChanges(cursor);
  if (!changes.ok()) return changes.status();
  RunSummary summary;
  summary.billing_reads = changes->reads;
  summary.cursor = changes->cursor;

  // What the CRM holds for everything that changed.
  std::vector<std::string> product_ids, price_ids;
  std::set<std::string> seen;
  for (const auto& p : changes->products) {
    if (seen.insert(p.id).second) product_ids.push_back(p.id);
    // Add-ons and fees point at their parent product: its CRM id is needed too.
    if (!p.parent_product_id.empty() && seen.insert(p.parent_product_id).second)
      product_ids.push_back(p.parent_product_id);
  }
  for (const auto& p : changes->prices) {
    price_ids.push_back(EntryKey(p.id, ""));
    for (const auto& book : deps_.pricebooks) price_ids.push_back(EntryKey(p.id, book));
    if (seen.insert(p.product_id).second) product_ids.push_back(p.product_id);
  }
  std::vector<std::string> product_fields = {"Id", "Billing_Product_Id__c", "ProductCode",
                                             "IsActive", "Parent_Product__c"};
  for (const auto& f : map->fields)
    if (f.direction != mapping::Direction::kToBilling &&
        std::find(product_fields.begin(), product_fields.end(), f.crm) == product_fields.end())
      product_fields.push_back(f.crm);
  std::map<std::string, Json> crm_products, crm_entries;
  if (!product_ids.empty())
    TANDEM_RETURN_IF_ERROR(ReadByKeys(deps_.crm, "Product2", "Billing_Product_Id__c",
                                      product_fields, product_ids, &crm_products));
  if (!price_ids.empty())
    TANDEM_RETURN_IF_ERROR(ReadByKeys(
        deps_.crm, "PricebookEntry", "Billing_Price_Id__c",
        {"Id", "Billing_Price_Id__c", "UnitPrice", "IsActive", "CurrencyIsoCode", "Product2Id"},
        price_ids, &crm_entries));
  summary.plan = MakePlan(*map, changes->products, changes->prices, crm_products, crm_entries,
                          deps_.pricebooks);
  if (options.dry_run) return summary;

  const int64_t now_ms = ToEpochMillis(deps_.clock.Now());
  std::vector<store::AuditEntry> audit;
  auto note = [&](const std::string& object, const RecordPlan& r,
                  const connector::crm::SaveResult& res) {
    const char* action = r.action == RecordPlan::Action::kCreate   ? "create"
                         : r.action == RecordPlan::Action::kUpdate ? "update"
                                                                   : "deactivate";
    if (res.success)
      ++summary.written;
    else {
      ++summary.failed;
      summary.errors.push_back(object + " " + r.external_id + ": " + res.ErrorText());
    }
    audit.push_back(store::AuditEntry{now_ms, "catalog", object, r.external_id, action,
                                      res.success ? "ok" : "failed",
                                      res.success ? res.id : res.ErrorText()});
  };

  // Products first: new entries need their product's CRM id.
  std::map<std::string, std::string> product_crm_ids;
  for (const auto& [billing_id, rec] : crm_products)
    product_crm_ids[billing_id] = rec["Id"].as_string();
  if (!summary.plan.products.empty()) {
    std::vector<Json> records;
    for (const auto& r : summary.plan.products) {
      Json rec = r.fields;
      rec.Set("Billing_Product_Id__c", r.external_id);
      records.push_back(std::move(rec));
    }
    auto results = deps_.crm.UpsertMany("Product2", "Billing_Product_Id__c", records);
    if (!results.ok()) return results.status();
    for (size_t i = 0; i < results->size(); ++i) {
      note("Product2", summary.plan.products[i], (*results)[i]);
      if ((*results)[i].success)
        product_crm_ids[summary.plan.products[i].external_id] = (*results)[i].id;
    }
  }
  // Add-ons and fees linked to their parent products, so quoting can offer them together.
  std::vector<Json> parent_links;
  std::vector<RecordPlan> parent_plans;
  for (const auto& p : changes->products) {
    if (p.parent_product_id.empty()) continue;
    auto self = product_crm_ids.find(p.id);
    auto parent = product_crm_ids.find(p.parent_product_id);
    if (self == product_crm_ids.end() || parent == product_crm_ids.end()) continue;
    auto have = crm_products.find(p.id);
    if (have != crm_products.end() &&
        have->second["Parent_Product__c"].as_string() == parent->second)
      continue;
    Json link = Json::MakeObject();
    link.Set("Id", self->second);
    link.Set("Parent_Product__c", parent->second);
    parent_links.push_back(std::move(link));
    RecordPlan plan;
    plan.action = RecordPlan::Action::kUpdate;
    plan.external_id = p.id;
    parent_plans.push_back(std::move(plan));
  }
  if (!parent_links.empty()) {
    auto results = deps_.crm.UpdateMany("Product2", parent_links);
    if (!results.ok()) return results.status();
    for (size_t i = 0; i < results->size(); ++i) note("Product2", parent_plans[i], (*results)[i]);
  }
  if (!summary.plan.entries.empty()) {
    std::map<std::string, std::string> books;  // resolved once, when an entry is created
    // Standard-book entries first, in calls of their own: a custom book's entry needs its
    // product's standard entry (STANDARD_PRICE_NOT_DEFINED), and a call's Collections run
    // concurrently.
    std::vector<Json> records[2];
    std::vector<const RecordPlan*> sent[2];
    for (const auto& r : summary.plan.entries) {
      const int pass = r.pricebook.empty() ? 0 : 1;
      Json rec = r.fields;
      rec.Set("Billing_Price_Id__c", r.external_id);
      if (r.action == RecordPlan::Action::kCreate) {
        auto product = product_crm_ids.find(r.product_external_id);
        if (product == product_crm_ids.end()) {
          connector::crm::SaveResult missing;
          missing.errors.push_back(
              {"NOT_SYNCED",
               "product " + r.product_external_id + " is not in the CRM (run with --full)",
               {}});
          note("PricebookEntry", r, missing);
          continue;
        }
        if (books.empty()) {
          auto resolved = Pricebooks();
          if (!resolved.ok()) return resolved.status();
          books = std::move(resolved).value();
        }
        rec.Set("Pricebook2Id", books.at(r.pricebook));
        rec.Set("Product2Id", product->second);
      }
      records[pass].push_back(std::move(rec));
      sent[pass].push_back(&r);
    }
    for (int pass = 0; pass < 2; ++pass) {
      if (records[pass].empty()) continue;
      auto results = deps_.crm.UpsertMany("PricebookEntry", "Billing_Price_Id__c", records[pass]);
      if (!results.ok()) return results.status();
      for (size_t i = 0; i < results->size(); ++i)
        note("PricebookEntry", *sent[pass][i], (*results)[i]);
    }
  }
  // The cursor moves only past a run whose every write landed, with the run's audit rows.
  std::vector<store::CursorUpdate> moved;
  if (summary.failed == 0 && summary.cursor != cursor) moved.push_back({kCursor, summary.cursor});
  TANDEM_RETURN_IF_ERROR(deps_.store.RecordSync({}, audit, moved, now_ms));
  logger->info("catalog sync: {} written, {} failed, {} products and {} prices unchanged",
               summary.written, summary.failed, summary.plan.unchanged_products,
               summary.plan.unchanged_entries);
  return summary;
}

}  // namespace tandem::catalog_sync
