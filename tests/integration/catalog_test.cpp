// Step 6 on the sandboxes and a real store: the catalog flows from billing to the CRM in
// Collections of 200, enrichment in the CRM is never overwritten, retired products are
// deactivated (never deleted), a quiet second run costs at most 2 billing reads and no CRM
// write, and a dry run writes nothing.
#include <gtest/gtest.h>

#include "catalog-sync/apply.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"

namespace tandem::catalog_sync {
namespace {

using testing::ScopedStore;
using testing::StoreBackend;

class CatalogTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    sync_ = std::make_unique<CatalogSync>(
        CatalogDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock});
  }

  // `n` products with 3 prices each (two recurring, one one-time fee).
  std::vector<std::string> MakeCatalog(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const auto prod =
          testing::CreateBillingProduct(stripe_.billing(), "Server " + std::to_string(i),
                                        "p" + std::to_string(i), i % 10 == 9 ? "add_on" : "base")
              .value();
      ids.push_back(prod.id);
      for (int k = 0; k < 3; ++k)
        EXPECT_TRUE(testing::CreateBillingPrice(stripe_.billing(), prod.id, "usd",
                                                1000 * (k + 1) + i,
                                                k == 2 ? "" : (k == 0 ? "month" : "year"),
                                                "pr" + std::to_string(i) + "-" + std::to_string(k))
                        .ok());
    }
    return ids;
  }

  int64_t Calls(const std::string& endpoint) { return crm_.sandbox.calls_by_endpoint()[endpoint]; }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  mapping::Mapping mapping_;
  std::unique_ptr<CatalogSync> sync_;
};

TEST_P(CatalogTest, FirstRunWritesEverythingInTheFewestBatchesAndAQuietRunWritesNothing) {
  MakeCatalog(450);
  auto first = sync_->Run({});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->failed, 0) << (first->errors.empty() ? "" : first->errors[0]);
  EXPECT_EQ(first->written, 450 + 1350);
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), 450);
  EXPECT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), 1350);
  // ceil(450/200) product batches + ceil(1350/200) entry batches: the minimum.
  EXPECT_EQ(Calls("PATCH /composite/sobjects/Product2/Billing_Product_Id__c"), 3);
  EXPECT_EQ(Calls("PATCH /composite/sobjects/PricebookEntry/Billing_Price_Id__c"), 7);

  const int64_t writes = Calls("PATCH /composite/sobjects/Product2/Billing_Product_Id__c") +
                         Calls("PATCH /composite/sobjects/PricebookEntry/Billing_Price_Id__c");
  auto quiet = sync_->Run({});
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->plan.empty());
  EXPECT_LE(quiet->billing_reads, 2);
  EXPECT_EQ(Calls("PATCH /composite/sobjects/Product2/Billing_Product_Id__c") +
                Calls("PATCH /composite/sobjects/PricebookEntry/Billing_Price_Id__c"),
            writes);
}

TEST_P(CatalogTest, EnrichmentInTheCrmSurvivesAChangeInBilling) {
  const auto ids = MakeCatalog(3);
  ASSERT_TRUE(sync_->Run({}).ok());
  std::string crm_id;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id FROM Product2 WHERE Billing_Product_Id__c = '" + ids[1] + "'",
                         [&](const Json& r) {
                           crm_id = r["Id"].as_string();
                           return Status::Ok();
                         })
                  .ok());
  Json enrich = Json::MakeObject();
  enrich.Set("Description", "Great for web shops");
  enrich.Set("Family", "Virtual Server");
  enrich.Set("Work_Order_Template__c", "New Virtual Server");
  ASSERT_TRUE(crm_.client().Update("Product2", crm_id, enrich).ok());

  connector::billing::Product rename;
  rename.name = "Server 1 XL";
  rename.description = "billing's own text";
  ASSERT_TRUE(stripe_.billing().UpdateProduct(ids[1], rename, "rename").ok());
  auto run = sync_->Run({});
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->plan.products.size(), 1u);
  auto rec =
      crm_.client()
          .Retrieve("Product2", crm_id, {"Name", "Description", "Family", "Work_Order_Template__c"})
          .value();
  EXPECT_EQ(rec["Name"].as_string(), "Server 1 XL");
  EXPECT_EQ(rec["Description"].as_string(), "Great for web shops");
  EXPECT_EQ(rec["Family"].as_string(), "Virtual Server");
  EXPECT_EQ(rec["Work_Order_Template__c"].as_string(), "New Virtual Server");
}

TEST_P(CatalogTest, RetiredProductsAreDeactivatedNeverDeleted) {
  const auto ids = MakeCatalog(2);
  ASSERT_TRUE(sync_->Run({}).ok());
  connector::billing::Product retire;
  retire.active = false;
  ASSERT_TRUE(stripe_.billing().UpdateProduct(ids[0], retire, "retire").ok());
  auto run = sync_->Run({});
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->plan.products.size(), 1u);
  EXPECT_EQ(run->plan.products[0].action, RecordPlan::Action::kDeactivate);
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), 2);
  bool active = true;
  ASSERT_TRUE(
      crm_.client()
          .Query("SELECT IsActive FROM Product2 WHERE Billing_Product_Id__c = '" + ids[0] + "'",
                 [&](const Json& r) {
                   active = r["IsActive"].as_bool(true);
                   return Status::Ok();
                 })
          .ok());
  EXPECT_FALSE(active);
}

// A price made for one subscription item (a sold price, ADR 0009) is inactive and new to the
// CRM: catalog sync does not turn it into a PricebookEntry; an offered price still does.
TEST_P(CatalogTest, APriceMadeForOneSubscriptionItemIsNotMirrored) {
  const auto ids = MakeCatalog(1);
  ASSERT_TRUE(sync_->Run({}).ok());
  ASSERT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), 3);
  connector::billing::BillingAccount account;
  account.name = "Deal Co";
  const auto customer = stripe_.billing().CreateAccount(account, "deal-co").value();
  connector::billing::SubscriptionSpec spec;
  spec.account_id = customer.id;
  connector::billing::SubscriptionItem sold;
  sold.sold_price = true;
  sold.price.product_id = ids[0];
  sold.price.currency = "usd";
  sold.price.unit_amount_minor = 777;
  sold.price.interval = "month";
  spec.items.push_back(sold);
  const auto sub = stripe_.billing().CreateSubscription(spec, "deal-sub");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_EQ(sub->items.at(0).price.unit_amount_minor, 777);
  EXPECT_TRUE(
      testing::CreateBillingPrice(stripe_.billing(), ids[0], "usd", 4242, "month", "offer").ok());
  auto run = sync_->Run({});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->plan.entries.size(), 1u) << "the offered price only";
  EXPECT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), 4);
}

TEST_P(CatalogTest, AddOnsAreLinkedToTheirParentProducts) {
  const auto ids = MakeCatalog(1);
  connector::billing::Product backup;
  backup.name = "Backup add-on";
  backup.kind = "add_on";
  backup.parent_product_id = ids[0];
  const auto addon = stripe_.billing().CreateProduct(backup, "addon").value();
  ASSERT_TRUE(sync_->Run({}).ok());
  std::map<std::string, Json> rows;
  ASSERT_TRUE(
      crm_.client()
          .Query(
              "SELECT Id, Billing_Product_Id__c, Parent_Product__c, Product_Kind__c FROM Product2",
              [&](const Json& r) {
                rows[r["Billing_Product_Id__c"].as_string()] = r;
                return Status::Ok();
              })
          .ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[addon.id]["Parent_Product__c"].as_string(), rows[ids[0]]["Id"].as_string());
  EXPECT_EQ(rows[addon.id]["Product_Kind__c"].as_string(), "Add-On");
  EXPECT_TRUE(sync_->Run({}).value().plan.empty());
}

TEST_P(CatalogTest, ConfiguredPriceBooksGetAnEntryForEveryPriceBesideTheStandardOne) {
  Json book = Json::MakeObject();
  book.Set("Name", "Partner Price Book");
  book.Set("IsActive", true);
  ASSERT_TRUE(crm_.client().Create("Pricebook2", book).ok());
  CatalogSync with_books(CatalogDeps{
      crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, {"Partner Price Book"}});
  MakeCatalog(2);
  auto run = with_books.Run({});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->failed, 0) << (run->errors.empty() ? "" : run->errors[0]);
  EXPECT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), 12);  // 6 prices x 2 books
  EXPECT_TRUE(with_books.Run({}).value().plan.empty());
  CatalogSync missing(
      CatalogDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, {"Nope"}});
  connector::billing::Price extra;
  extra.product_id =
      stripe_.billing()
          .CreateProduct(connector::billing::Product{"", "X", "", true, "base", "", {}, 0}, "x")
          .value()
          .id;
  extra.currency = "usd";
  extra.unit_amount_minor = 5;
  ASSERT_TRUE(stripe_.billing().CreatePrice(extra, "x-price").ok());
  EXPECT_TRUE(missing.Run({}).status().IsNotFound());
}

TEST_P(CatalogTest, ADryRunPrintsThePlanAndWritesNothing) {
  MakeCatalog(5);
  auto dry = sync_->Run({/*dry_run=*/true, /*full=*/false});
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->plan.products.size(), 5u);
  EXPECT_EQ(dry->plan.entries.size(), 15u);
  EXPECT_NE(DescribePlan(dry->plan).find("create Product2 "), std::string::npos);
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), 0);
  EXPECT_FALSE((*store_)->GetCursor("catalog").value().has_value());
  EXPECT_EQ((*store_)->CountAudit("Product2").value(), 0);
  auto real = sync_->Run({});
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), 5);
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::catalog_sync
