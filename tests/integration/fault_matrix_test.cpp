// The fault matrix over sync, the catalog and migration (work orders: workorders_test.cpp;
// kill -9: the serve and migrate crash tests): each flow runs while the emulators answer 429,
// 503, time out, drop connections, lose answers after serving, or fail some records of a
// Collections call. Each flow runs once: the clients' retries must absorb every fault (a rerun
// would hide a regression that removes them). Each cell asserts that its faults fired and
// that the clients sent requests again for them, prints its hits and retries, and ends with
// the two systems in step: a reconciliation finds no difference, billing holds each record
// once.
#include "tests/support/fault_matrix.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>

#include "actions/sync.h"
#include "catalog-sync/apply.h"
#include "migration/migrator.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"

namespace tandem {
namespace {

using testing::FaultCase;
using testing::StoreBackend;

struct Param {
  StoreBackend backend;
  size_t fault = 0;
};

class FaultMatrix : public ::testing::TestWithParam<Param> {
 protected:
  FaultMatrix()
      : crm_({}, testing::FaultCrmOptions()), stripe_({}, testing::FaultBillingOptions()) {}

  void SetUp() override {
    if (!testing::ScopedStore::Available(GetParam().backend)) GTEST_SKIP() << "no PostgreSQL";
    store_ = std::make_unique<testing::ScopedStore>(
        GetParam().backend, ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(store_->Open().ok());
    mapping_ = testing::DefaultMapping();
    deps_ = std::make_unique<actions::ActionDeps>(
        actions::ActionDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock});
    actions_ = std::make_unique<actions::Actions>(*deps_, "test:faults");
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem_faults_" + std::to_string(::getpid()) + "_" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  const FaultCase& Case() const {
    static const std::vector<FaultCase> cases = testing::FaultMatrix();
    return cases[GetParam().fault];
  }
  void InjectFaults() {
    for (const auto& f : Case().crm) crm_.sandbox.AddFault(f);
    for (const auto& f : Case().billing) stripe_.sandbox.AddFault(f);
  }
  void ClearFaults() {
    crm_.sandbox.ClearFaults();
    stripe_.sandbox.ClearFaults();
  }

  std::vector<std::string> CrmAccounts(int n) {
    std::vector<Json> records;
    for (int i = 0; i < n; ++i) {
      Json a = Json::MakeObject();
      a.Set("Name", "Faulty Co " + std::to_string(i));
      a.Set("BillingCity", "Braga");
      records.push_back(a);
    }
    std::vector<std::string> ids;
    const auto created = crm_.client().CreateMany("Account", records).value();
    for (const auto& r : created) ids.push_back(r.id);
    return ids;
  }

  // The faults fired, and every transport fault cost at least one request sent again (each is
  // absorbed by a client retry, not by a rerun). Prints the cell's line of the matrix.
  void ExpectFaultsFiredAndRetried(
      const char* flow,
      const testing::FaultProbe<testing::SalesforceEnv, testing::StripeEnv>& probe) {
    const testing::FaultTally t = probe.Delta();
    std::cout << "[fault-matrix] " << flow << " | " << Case().name << " | "
              << GetParam().backend.name << " | " << t.Describe() << std::endl;
    EXPECT_TRUE(t.EachSideFired(!Case().crm.empty(), !Case().billing.empty()))
        << "a side's faults of '" << Case().name << "' never reached " << flow << ": "
        << t.Describe();
    EXPECT_GE(t.retries(), t.transport_hits()) << t.Describe();
  }

  // The end of every case: nothing differs between the CRM and billing.
  void ExpectInStep(std::vector<std::string> objects) {
    auto report = reconcile::Report::Open("", 5);
    ASSERT_TRUE(report.ok());
    reconcile::Reconciler reconciler(*deps_, *actions_, **report);
    reconcile::ReconcileOptions options;
    options.objects = std::move(objects);
    ASSERT_TRUE(reconciler.Run(options).ok());
    EXPECT_EQ((*report)->differences(), 0) << (*report)->Summary(false);
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  std::unique_ptr<testing::ScopedStore> store_;
  mapping::Mapping mapping_;
  std::unique_ptr<actions::ActionDeps> deps_;
  std::unique_ptr<actions::Actions> actions_;
  std::filesystem::path dir_;
};

TEST_P(FaultMatrix, Sync) {
  const auto ids = CrmAccounts(30);
  const testing::FaultProbe probe(crm_, stripe_);
  InjectFaults();
  auto first = actions_->Sync("account", ids);
  ClearFaults();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->failed, 0);
  EXPECT_EQ(first->writeback_failed, 0);
  ExpectFaultsFiredAndRetried("sync", probe);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 30) << "a retried create doubled";
  ExpectInStep({"account"});
}

TEST_P(FaultMatrix, Catalog) {
  for (int i = 0; i < 12; ++i) {
    auto product = testing::CreateBillingProduct(stripe_.billing(), "Product " + std::to_string(i),
                                                 "prod-" + std::to_string(i))
                       .value();
    ASSERT_TRUE(testing::CreateBillingPrice(stripe_.billing(), product.id, "eur", 1000 + i, "month",
                                            "price-" + std::to_string(i))
                    .ok());
  }
  ASSERT_TRUE(testing::CreatePricebook(crm_.client()).ok());
  catalog_sync::CatalogSync sync(
      {crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock});
  const testing::FaultProbe probe(crm_, stripe_);
  InjectFaults();
  auto run = sync.Run({});
  ClearFaults();
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->failed, 0);
  ExpectFaultsFiredAndRetried("catalog", probe);
  // The catalog's own reconciliation: compared in full, nothing is left to write.
  auto check = sync.Run({/*dry_run=*/true, /*full=*/true});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->plan.empty()) << catalog_sync::DescribePlan(check->plan);
  EXPECT_EQ(crm_.sandbox.CountRecords("Product2"), 12);
  EXPECT_EQ(crm_.sandbox.CountRecords("PricebookEntry"), 12);
}

TEST_P(FaultMatrix, Migration) {
  if (Case().name == "partial Collections failures")
    GTEST_SKIP() << "unreachable: migration writes to the CRM through Bulk API 2.0 only, never "
                    "Collections (failed Bulk rows go to error.csv: migrate_test)";
  const auto ids = CrmAccounts(40);
  const std::string csv = (dir_ / "accounts.csv").string();
  {
    std::ofstream out(csv, std::ios::binary);
    out << "Id,Name,BillingCity\r\n";
    for (size_t i = 0; i < ids.size(); ++i) out << ids[i] << ",Faulty Co " << i << ",Braga\r\n";
  }
  SeededRandom random(5);
  migration::Migrator migrator(
      {crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, random, nullptr});
  migration::MigrationOptions o;
  o.object = "account";
  o.file = csv;
  o.batch_size = 15;
  o.output_dir = (dir_ / "out").string();
  const testing::FaultProbe probe(crm_, stripe_);
  InjectFaults();
  auto last = migrator.Run(o, nullptr);
  ClearFaults();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->failed, 0);
  ExpectFaultsFiredAndRetried("migration", probe);
  EXPECT_EQ(stripe_.sandbox.CountObjects("customer"), 40) << "a retried create doubled";
  EXPECT_EQ((*store_)->CountLinks("account").value(), 40);
  ExpectInStep({"account"});
}

std::vector<Param> AllParams() {
  std::vector<Param> out;
  for (const char* backend : {"sqlite", "postgresql"})
    for (size_t i = 0; i < testing::FaultMatrix().size(); ++i)
      out.push_back(Param{StoreBackend{backend}, i});
  return out;
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string name = (info.param.backend.name == "postgresql" ? "PostgreSQL_" : "SQLite_") +
                     testing::FaultMatrix()[info.param.fault].name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultMatrix, ::testing::ValuesIn(AllParams()), ParamName);

}  // namespace
}  // namespace tandem
