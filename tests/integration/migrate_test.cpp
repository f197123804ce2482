// Step 7 end to end: CSV files into the Salesforce and Stripe sandboxes through a real store
// (SQLite and PostgreSQL). Counts are asserted in both systems and in both result files.
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

#include "migration/csv_reader.h"
#include "migration/migrator.h"
#include "migration/undo.h"
#include "reconcile/extract.h"
#include "reconcile/reconciler.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/default_mapping.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/stripe_env.h"
#include "util/csv.h"

namespace tandem::migration {
namespace {

namespace fs = std::filesystem;
using testing::StoreBackend;

std::vector<std::vector<std::string>> ReadCsv(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  CsvReader reader(in);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  EXPECT_TRUE(reader.ReadHeader(&header).ok()) << path;
  rows.push_back(header);
  CsvRecord r;
  Status st;
  while (reader.Next(&r, &st)) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    rows.push_back(r.fields);
  }
  return rows;
}

class MigrateTest : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = testing::DefaultMapping();
    dir_ = fs::temp_directory_path() /
           ("tandem_migrate_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // n Accounts in the CRM (Bulk 2.0), named "<prefix> 000123", website <prefix>123.example.
  std::vector<std::string> MakeAccounts(int n, const std::string& prefix = "Company") {
    connector::crm::BulkRequest req;
    req.object = "Account";
    req.columns = {"Name", "Website"};
    for (int i = 0; i < n; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "%s %06d", prefix.c_str(), i);
      req.rows.push_back({name, prefix + std::to_string(i) + ".example.com"});
    }
    auto result = crm_.client().BulkIngest(req);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    std::vector<std::string> ids;
    for (const auto& r : result->rows) ids.push_back(r.id);
    return ids;
  }

  std::string Write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  static MigrationOptions Opts(const std::string& object, const std::string& file,
                               Direction direction = Direction::kCrmToBilling) {
    MigrationOptions o;
    o.object = object;
    o.file = file;
    o.direction = direction;
    return o;
  }

  Result<MigrationSummary> Migrate(MigrationOptions options, const ProgressFn& progress = {}) {
    if (options.output_dir.empty())
      options.output_dir = (dir_ / ("out" + std::to_string(++runs_))).string();
    Migrator migrator(
        {crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, random_, nullptr});
    return migrator.Run(options, progress);
  }

  // Every input row in exactly one result file, in input order.
  void ExpectEveryRowOnce(const MigrationSummary& s, int64_t rows) {
    const auto ok = ReadCsv(fs::path(s.output_dir) / "success.csv");
    const auto bad = ReadCsv(fs::path(s.output_dir) / "error.csv");
    EXPECT_EQ(static_cast<int64_t>(ok.size() - 1), s.succeeded);
    EXPECT_EQ(static_cast<int64_t>(bad.size() - 1), s.failed);
    std::vector<int64_t> seen;
    for (const auto* file : {&ok, &bad}) {
      const size_t row_col = (*file)[0].size() - (file == &ok ? 4 : 2);
      int64_t last = 0;
      for (size_t i = 1; i < file->size(); ++i) {
        const int64_t row = std::stoll((*file)[i][row_col]);
        EXPECT_GT(row, last) << "rows out of order";
        last = row;
        seen.push_back(row);
      }
    }
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(static_cast<int64_t>(seen.size()), rows);
    for (int64_t i = 0; i < rows; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i + 1);
  }

  int64_t BillingCustomers() { return stripe_.sandbox.CountObjects("customer"); }

  actions::ActionDeps Deps() {
    return actions::ActionDeps{crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock};
  }

  // One reconcile run (no --fix) of `objects`: its number of differences, with the summary and
  // the CSV report in *why. -1 when the run failed.
  int64_t Differences(const std::vector<std::string>& objects, std::string* why) {
    actions::Actions actions(Deps(), "test:reconcile");
    const std::string csv = (dir_ / ("reconcile" + std::to_string(++runs_) + ".csv")).string();
    auto report = reconcile::Report::Open(csv, 3);
    if (!report.ok()) return -1;
    reconcile::Reconciler reconciler(Deps(), actions, **report);
    reconcile::ReconcileOptions options;
    options.objects = objects;
    const Status st = reconciler.Run(options);
    if (!st.ok() || !(*report)->Close().ok()) return -1;
    *why = (*report)->Summary(false) + "\n" +
           (std::stringstream() << std::ifstream(csv).rdbuf()).str();
    return (*report)->differences();
  }

  // Customers that carry the same CRM id (must be none).
  int64_t DuplicateCustomers() {
    std::map<std::string, int> by_crm;
    (void)stripe_.billing().ListAccounts([&](const connector::billing::BillingAccount& a) {
      if (!a.external_key.empty()) ++by_crm[a.external_key];
      return Status::Ok();
    });
    int64_t dupes = 0;
    for (const auto& [k, n] : by_crm) dupes += n - 1;
    return dupes;
  }

  testing::SalesforceEnv crm_;
  testing::StripeEnv stripe_;
  mapping::Mapping mapping_;
  SeededRandom random_{11};
  fs::path dir_;
  int runs_ = 0;
};

TEST_P(MigrateTest, MessyInputPutsEachBadRowInTheErrorFileWithItsReason) {
  const auto ids = MakeAccounts(8, "Messy");
  std::string csv = "\xEF\xBB\xBFId,Name,Website,Customer_Since__c,AnnualRevenue\r\n";
  csv += ids[0] + ",\"Acme, \"\"the\"\" Corp\",acme.example.com,2020-02-29,1000\r\n";  // 1 ok
  csv += ids[1] + ",\"Two\nLines Ltd\",two.example.com,,\r\n";                         // 2 ok
  csv += "\r\n";                                                                       // blank
  csv += ids[2] + ",Bad Date,,2021-02-29,\r\n";  // 3 no such day
  csv += ids[3] + ",Bad Number,,,12abc\r\n";     // 4 not a number
  csv += ids[4] + ",Short\r\n";                  // 5 column count
  csv += ids[5] + ",Bad \xC3\x28 UTF8,,,\r\n";   // 6 not UTF-8
  csv += "001' OR Name!='x,Hostile,,,\r\n";      // 7 not an id
  csv += ids[0] + ",Acme again,,,\r\n";          // 8 duplicate of row 1
  csv += "001500000000999AAA,Ghost,,,\r\n";      // 9 not in the CRM
  csv += ids[6] + ",\"Unclosed,,,\r\n";          // 10 unclosed quote (to EOF)
  const std::string file = Write("messy.csv", csv);

  auto s = Migrate(Opts("account", file));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rows, 10);
  EXPECT_EQ(s->succeeded, 2);
  EXPECT_EQ(s->failed, 8);
  EXPECT_EQ(s->created_billing, 2);
  EXPECT_EQ(s->duplicates, 1);
  EXPECT_EQ(s->unmatched, 1);
  EXPECT_EQ(BillingCustomers(), 2);
  ExpectEveryRowOnce(*s, 10);

  const auto errors = ReadCsv(fs::path(s->output_dir) / "error.csv");
  std::map<std::string, std::string> why;  // ROW → ERROR
  for (size_t i = 1; i < errors.size(); ++i)
    why[errors[i][errors[i].size() - 2]] = errors[i].back();
  EXPECT_NE(why["3"].find("column Customer_Since__c"), std::string::npos) << why["3"];
  EXPECT_NE(why["3"].find("no such day"), std::string::npos) << why["3"];
  EXPECT_NE(why["4"].find("column AnnualRevenue"), std::string::npos) << why["4"];
  EXPECT_NE(why["5"].find("2 fields, the header has 5"), std::string::npos) << why["5"];
  EXPECT_NE(why["6"].find("column Name: not valid UTF-8"), std::string::npos) << why["6"];
  EXPECT_NE(why["7"].find("is not a record id"), std::string::npos) << why["7"];
  EXPECT_NE(why["8"].find("duplicate of row 1"), std::string::npos) << why["8"];
  EXPECT_NE(why["9"].find("no Account with Id"), std::string::npos) << why["9"];
  EXPECT_NE(why["10"].find("not closed"), std::string::npos) << why["10"];
  for (const auto& [row, reason] : why)  // every failed row names its line
    EXPECT_EQ(reason.rfind("line ", 0), 0u) << reason;
  // Row 8 is on line 11: the header, row 2 on two lines and a blank line come before it.
  EXPECT_EQ(why["8"].rfind("line 11: duplicate of row 1", 0), 0u) << why["8"];

  // The good rows are linked, and the CRM holds their billing ids (Bulk 2.0, one job).
  EXPECT_EQ((*store_)->CountLinks("account").value(), 2);
  auto acme = crm_.client().Retrieve("Account", ids[0], {"Billing_Id__c", "Sync_Status__c"});
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ((*acme)["Billing_Id__c"].as_string().rfind("cus_", 0), 0u);
  EXPECT_EQ((*acme)["Sync_Status__c"].as_string(), "Synced");
  EXPECT_EQ(s->bulk_jobs, 1);
  // The date went to billing as its calendar day.
  auto customer = stripe_.billing().GetAccount((*acme)["Billing_Id__c"].as_string());
  ASSERT_TRUE(customer.ok());
  EXPECT_EQ(customer->metadata["customer_since"], "2020-02-29");
  EXPECT_EQ(customer->name, "Acme, \"the\" Corp");
}

TEST_P(MigrateTest, MatchesExistingCustomersAndSendsAmbiguousOnesToAPerson) {
  const auto ids = MakeAccounts(4, "Match");
  connector::billing::BillingAccount a;
  a.name = "Globex Holdings";
  a.metadata["website"] = "https://www.globex.example/";
  const auto globex = stripe_.billing().CreateAccount(a, "seed-1").value();
  a = {};
  a.name = "INITECH, Inc.";
  (void)stripe_.billing().CreateAccount(a, "seed-2");
  a.name = "Initech LLC";
  (void)stripe_.billing().CreateAccount(a, "seed-3");
  const int64_t before = BillingCustomers();

  std::string csv = "Id,Name,Website\n";
  csv += ids[0] + ",Globex,globex.example\n";  // matched by domain
  csv += ids[1] + ",Initech,\n";               // two customers share the name: ambiguous
  csv += ids[2] + ",Brand New,new.example\n";  // created
  auto s = Migrate(Opts("account", Write("match.csv", csv)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->matched, 1);
  EXPECT_EQ(s->ambiguous, 1);
  EXPECT_EQ(s->created_billing, 1);
  EXPECT_EQ(BillingCustomers(), before + 1);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  EXPECT_EQ(ok[1][5], globex.id);
  EXPECT_EQ(ok[1][6], "matched by domain; the CRM's Name, Website set from the file");
  const auto bad = ReadCsv(fs::path(s->output_dir) / "error.csv");
  EXPECT_NE(bad[1].back().find("ambiguous: 2 billing records share the name 'initech'"),
            std::string::npos)
      << bad[1].back();
  // The matched customer now carries the CRM id; the CRM carries the billing id.
  EXPECT_EQ(stripe_.billing().GetAccount(globex.id)->external_key, ids[0]);
  EXPECT_EQ(crm_.client()
                .Retrieve("Account", ids[0], {"Billing_Id__c"})
                .value()["Billing_Id__c"]
                .as_string(),
            globex.id);
}

TEST_P(MigrateTest, BillingToCrmCreatesAndLinksAndLinkOnlyCreatesNothing) {
  connector::billing::BillingAccount a;
  std::vector<std::string> customers;
  for (const char* name : {"Wayne Enterprises", "Stark Industries", "Tyrell"}) {
    a.name = name;
    customers.push_back(stripe_.billing().CreateAccount(a, std::string("seed-") + name)->id);
  }
  const auto existing = MakeAccounts(1, "Tyrell");  // "Tyrell 000000": a different name
  Json tyrell = Json::MakeObject();
  tyrell.Set("Name", "Tyrell");
  const std::string tyrell_id = crm_.client().Create("Account", tyrell).value();

  std::string csv = "Billing_Id__c,Name\n";
  csv += customers[0] + ",Wayne Enterprises\n";  // created in the CRM
  csv += customers[1] + ",Stark Industries\n";   // created in the CRM
  csv += "cus_missing,Nobody\n";                 // not in billing
  auto s = Migrate(Opts("account", Write("b2c.csv", csv), Direction::kBillingToCrm));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created_crm, 2);
  EXPECT_EQ(s->unmatched, 1);
  EXPECT_EQ(crm_.sandbox.CountRecords("Account"), 4);
  ExpectEveryRowOnce(*s, 3);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  const std::string wayne_crm = ok[1][3];
  EXPECT_EQ(stripe_.billing().GetAccount(customers[0])->external_key, wayne_crm);

  // Again: nothing new anywhere.
  auto again = Migrate(Opts("account", Write("b2c.csv", csv), Direction::kBillingToCrm));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created_crm, 0);
  EXPECT_EQ(again->already_linked, 2);
  EXPECT_EQ(crm_.sandbox.CountRecords("Account"), 4);

  // link-only: Tyrell exists on both sides under one name; nothing is created.
  auto link = Migrate(Opts("account",
                           Write("link.csv", "Billing_Id__c,Name\n" + customers[2] + ",Tyrell\n"),
                           Direction::kLinkOnly));
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  ASSERT_EQ(link->matched, 1) << link->failed;
  EXPECT_EQ((*store_)->FindLinkByBillingId("account", customers[2]).value()->crm_id, tyrell_id);
  EXPECT_EQ(crm_.sandbox.CountRecords("Account"), 4);
  EXPECT_EQ(BillingCustomers(), 3);
}

TEST_P(MigrateTest, ExistingSubscriptionsAreRecordedInTheCrmServiceInventory) {
  connector::billing::BillingAccount a;
  a.name = "Inventory Co";
  const std::string linked = stripe_.billing().CreateAccount(a, "inv-1")->id;
  a.name = "Unlinked Co";
  const std::string unlinked = stripe_.billing().CreateAccount(a, "inv-2")->id;
  auto b2c = Migrate(Opts("account",
                          Write("acct.csv", "Billing_Id__c,Name\n" + linked + ",Inventory Co\n"),
                          Direction::kBillingToCrm));
  ASSERT_TRUE(b2c.ok());
  const std::string account_id = (*store_)->FindLinkByBillingId("account", linked).value()->crm_id;
  const auto prod = testing::CreateBillingProduct(stripe_.billing(), "SIP Trunk", "inv-p").value();
  const auto monthly =
      testing::CreateBillingPrice(stripe_.billing(), prod.id, "eur", 1500, "month", "inv-price")
          .value();
  auto subscribe = [&](const std::string& customer, int64_t quantity) {
    connector::billing::SubscriptionSpec spec;
    spec.account_id = customer;
    spec.items.push_back({"", monthly.id, quantity, {}});
    return stripe_.billing().CreateSubscription(spec, "inv-sub-" + customer).value().id;
  };
  const std::string sub1 = subscribe(linked, 3), sub2 = subscribe(unlinked, 1);
  const std::string csv = "Billing_Subscription_Id__c,Name\n" + sub1 + ",SIP Trunk x3\n" + sub2 +
                          ",Orphan\nsub_missing,Nothing\n";
  auto s = Migrate(Opts("subscription", Write("subs.csv", csv), Direction::kBillingToCrm));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created_crm, 1);
  EXPECT_EQ(s->unmatched, 2);
  ExpectEveryRowOnce(*s, 3);
  const auto bad = ReadCsv(fs::path(s->output_dir) / "error.csv");
  EXPECT_NE(bad[1].back().find("is not linked to a CRM Account"), std::string::npos)
      << bad[1].back();
  EXPECT_NE(bad[2].back().find("sub_missing"), std::string::npos) << bad[2].back();
  int records = 0;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id, Name, Account__c, Status__c, Quantity__c, Start_Date__c, "
                         "Unit_Price__c, Recurring_Amount__c, Currency__c, Billing_Interval__c, "
                         "Billed_Amount__c FROM Service_Subscription__c",
                         [&](const Json& r) {
                           ++records;
                           EXPECT_EQ(r["Name"].as_string(), "SIP Trunk x3");
                           EXPECT_EQ(r["Account__c"].as_string(), account_id);
                           EXPECT_EQ(r["Status__c"].as_string(), "Active");
                           EXPECT_EQ(r["Quantity__c"].as_int(), 3);
                           EXPECT_EQ(r["Start_Date__c"].as_string().size(), 10u);
                           // Sold as billed on the day of the load: 3 x 15.00 EUR a month.
                           EXPECT_DOUBLE_EQ(r["Unit_Price__c"].as_number(), 15.0);
                           EXPECT_DOUBLE_EQ(r["Recurring_Amount__c"].as_number(), 45.0);
                           EXPECT_DOUBLE_EQ(r["Billed_Amount__c"].as_number(), 45.0);
                           EXPECT_EQ(r["Currency__c"].as_string(), "eur");
                           EXPECT_EQ(r["Billing_Interval__c"].as_string(), "Month");
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(records, 1);
  EXPECT_EQ((*store_)->CountLinks("subscription").value(), 1);
  // A second run updates the same record (upsert by the subscription id): still one.
  ASSERT_TRUE(Migrate(Opts("subscription", Write("subs.csv", csv), Direction::kBillingToCrm)).ok());
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), 1);
  EXPECT_TRUE(Migrate(Opts("subscription", Write("subs.csv", csv))).status().IsInvalidArgument());
}

// Item 3: billing's subscriptions into the CRM with every item — the base line on the service
// record (product, sold price, term), each further item a Service_Add_On__c — loaded with
// --all (no file: listed from billing, only live ones of linked customers), and then the
// money-level reconcile finds billing charging exactly what the CRM says was sold.
TEST_P(MigrateTest, AllSubscriptionsLoadWithEveryItemAndRevenueReconcilesAtZero) {
  connector::billing::BillingAccount a;
  a.name = "Every Item Co";
  const std::string linked = stripe_.billing().CreateAccount(a, "all-1")->id;
  a.name = "Not Linked Co";
  const std::string unlinked = stripe_.billing().CreateAccount(a, "all-2")->id;
  ASSERT_TRUE(Migrate(Opts("account",
                           Write("acct.csv", "Billing_Id__c,Name\n" + linked + ",Every Item Co\n"),
                           Direction::kBillingToCrm))
                  .ok());
  // The catalog, synced to the CRM earlier: the base product is linked to its Product2.
  const auto trunk =
      testing::CreateBillingProduct(stripe_.billing(), "SIP Trunk", "all-p1").value();
  const auto channels =
      testing::CreateBillingProduct(stripe_.billing(), "Extra Channels", "all-p2").value();
  Json p2 = Json::MakeObject();
  p2.Set("Name", "SIP Trunk");
  const std::string trunk_crm = crm_.client().Create("Product2", p2).value();
  p2.Set("Name", "Extra Channels");
  const std::string channels_crm = crm_.client().Create("Product2", p2).value();
  ASSERT_TRUE((*store_)
                  ->UpsertLinks({store::Link{"product", trunk_crm, trunk.id, "", "", 1},
                                 store::Link{"product", channels_crm, channels.id, "", "", 1}})
                  .ok());
  const auto base_price =
      testing::CreateBillingPrice(stripe_.billing(), trunk.id, "eur", 1500, "month", "all-pr1")
          .value();
  const auto add_on_price =
      testing::CreateBillingPrice(stripe_.billing(), channels.id, "eur", 200, "month", "all-pr2")
          .value();
  connector::billing::SubscriptionSpec spec;
  spec.account_id = linked;
  spec.items.push_back({"", base_price.id, 2, {}});
  spec.items.push_back({"", add_on_price.id, 5, {}});
  spec.cancel_at = ToEpochMillis(stripe_.clock.Now()) / 1000 + 365 * 86400;  // a one-year term
  const auto termed = stripe_.billing().CreateSubscription(spec, "all-sub-1").value();
  connector::billing::SubscriptionSpec open;
  open.account_id = linked;
  open.items.push_back({"", base_price.id, 1, {}});
  const auto open_ended = stripe_.billing().CreateSubscription(open, "all-sub-2").value();
  open.account_id = unlinked;
  (void)stripe_.billing().CreateSubscription(open, "all-sub-3").value();
  open.account_id = linked;
  const auto ended = stripe_.billing().CreateSubscription(open, "all-sub-4").value();
  ASSERT_TRUE(stripe_.billing().Cancel(ended.id, false, "all-cancel").ok());

  MigrationOptions o = Opts("subscription", "", Direction::kBillingToCrm);
  o.all = true;
  auto s = Migrate(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rows, 2) << "live, and their customer linked";
  EXPECT_EQ(s->created_crm, 2);
  EXPECT_EQ(s->failed, 0);
  EXPECT_TRUE(fs::exists(fs::path(s->output_dir) / "billing-subscriptions.csv"));
  std::map<std::string, Json> inventory;  // by billing id
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id, Product__c, Quantity__c, Unit_Price__c, Term_Months__c, "
                         "Billing_Subscription_Id__c FROM Service_Subscription__c",
                         [&](const Json& r) {
                           inventory[r["Billing_Subscription_Id__c"].as_string()] = r;
                           return Status::Ok();
                         })
                  .ok());
  ASSERT_EQ(inventory.size(), 2u);
  const Json& t = inventory[termed.id];
  EXPECT_EQ(t["Product__c"].as_string(), trunk_crm);
  EXPECT_EQ(t["Quantity__c"].as_int(), 2);
  EXPECT_DOUBLE_EQ(t["Unit_Price__c"].as_number(), 15.0);
  EXPECT_EQ(t["Term_Months__c"].as_int(), 12);
  EXPECT_TRUE(inventory[open_ended.id]["Term_Months__c"].is_null()) << "open-ended: no term";
  std::vector<Json> add_ons;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Name, Subscription__c, Kind__c, Quantity__c, Amount__c, "
                         "Billing_Item_Id__c, Billing_Price_Id__c FROM Service_Add_On__c",
                         [&](const Json& r) {
                           add_ons.push_back(r);
                           return Status::Ok();
                         })
                  .ok());
  ASSERT_EQ(add_ons.size(), 1u);
  EXPECT_EQ(add_ons[0]["Name"].as_string(), "Extra Channels");
  EXPECT_EQ(add_ons[0]["Subscription__c"].as_string(), t["Id"].as_string());
  EXPECT_EQ(add_ons[0]["Kind__c"].as_string(), "Recurring");
  EXPECT_EQ(add_ons[0]["Quantity__c"].as_int(), 5);
  EXPECT_DOUBLE_EQ(add_ons[0]["Amount__c"].as_number(), 10.0);
  EXPECT_EQ(add_ons[0]["Billing_Item_Id__c"].as_string(), termed.items[1].id);
  EXPECT_EQ(add_ons[0]["Billing_Price_Id__c"].as_string(), add_on_price.id);

  // The money: what billing charges is what the CRM now says was sold.
  std::string why;
  EXPECT_EQ(Differences({"revenue"}, &why), 0) << why;
  EXPECT_NE(why.find("revenue: 1 checked"), std::string::npos) << why;

  // Again: the same records, updated (upserts by the billing ids).
  auto again = Migrate(o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Subscription__c"), 2);
  EXPECT_EQ(crm_.sandbox.CountRecords("Service_Add_On__c"), 1);
  MigrationOptions both = o;
  both.file = "x.csv";
  EXPECT_TRUE(Migrate(both).status().IsInvalidArgument()) << "--all takes no file";
}

// Item 2: the usual cut-over — the contracts live in the CRM's service inventory, billing is new.
// Each service becomes one billing subscription with every recurring line at the price it was
// sold (after discount), its start and its term; it is linked back (the service's billing id,
// each add-on's billing item), and the money-level reconcile finds the two in step at once.
TEST_P(MigrateTest, ServiceInventoryLoadsIntoBillingAtTheSoldPriceAndRevenueReconcilesAtZero) {
  connector::billing::BillingAccount a;
  a.name = "Cutover Co";
  const std::string customer = stripe_.billing().CreateAccount(a, "cut-1")->id;
  ASSERT_TRUE(Migrate(Opts("account",
                           Write("acct.csv", "Billing_Id__c,Name\n" + customer + ",Cutover Co\n"),
                           Direction::kBillingToCrm))
                  .ok());
  const std::string account = (*store_)->FindLinkByBillingId("account", customer).value()->crm_id;
  Json other = Json::MakeObject();
  other.Set("Name", "Never Migrated Co");
  const std::string unlinked_account = crm_.client().Create("Account", other).value();
  // The catalog as its sync leaves it: billing's products and prices, the CRM's price book.
  const std::string book = testing::CreatePricebook(crm_.client()).value();
  const auto trunk = testing::CreateCatalogProduct(crm_.client(), stripe_.billing(), book,
                                                   "SIP Trunk", "CUT-T", "Voice", "Base", 1500)
                         .value();
  const auto channels =
      testing::CreateCatalogProduct(crm_.client(), stripe_.billing(), book, "Extra Channels",
                                    "CUT-C", "Voice", "Add-On", 200)
          .value();
  const std::string today = FormatRfc3339(stripe_.clock.Now()).substr(0, 10);
  auto service = [&](const std::string& acct, double unit, int quantity, const std::string& start,
                     int term, bool renews) {
    Json s = Json::MakeObject();
    s.Set("Name", "SIP Trunk");
    s.Set("Account__c", acct);
    s.Set("Product__c", trunk.product_crm);
    s.Set("Quantity__c", quantity);
    s.Set("Unit_Price__c", unit);
    s.Set("Recurring_Amount__c", unit * quantity);
    s.Set("Currency__c", "EUR");
    s.Set("Start_Date__c", start);
    if (term > 0) s.Set("Term_Months__c", term);
    s.Set("Auto_Renew__c", renews);
    return crm_.client().Create("Service_Subscription__c", s).value();
  };
  auto add_on = [&](const std::string& sub, const std::string& kind, const std::string& price,
                    int quantity, double amount) {
    Json x = Json::MakeObject();
    x.Set("Name", "Extra Channels");
    x.Set("Subscription__c", sub);
    x.Set("Kind__c", kind);
    x.Set("Quantity__c", quantity);
    x.Set("Amount__c", amount);
    if (!price.empty()) x.Set("Billing_Price_Id__c", price);
    return crm_.client().Create("Service_Add_On__c", x).value();
  };
  // Sold at 12.50 (the catalog says 15.00) two months ago for a year, renewing; 5 channels at
  // 2.00 each, and a one-time setup fee the old system billed.
  const std::string discounted = service(account, 12.5, 2, AddMonths(today, -2), 12, true);
  const std::string channels_sold =
      add_on(discounted, "Recurring", channels.price_billing, 5, 10.0);
  (void)add_on(discounted, "One-time", "", 1, 99.0);
  // At the catalog price, open-ended.
  const std::string listed = service(account, 15.0, 1, today, 0, false);
  // Started three years ago on a two-year term that renews: billed to its current term's end.
  const std::string renewed = service(account, 15.0, 1, AddMonths(today, -36), 24, true);
  // Refused, each for its own reason.
  const std::string no_customer = service(unlinked_account, 15.0, 1, today, 12, false);
  const std::string ended = service(account, 15.0, 1, AddMonths(today, -25), 12, false);
  const std::string unpriced = service(account, 15.0, 1, today, 12, false);
  (void)add_on(unpriced, "Recurring", "", 1, 3.0);
  auto set = [&](const std::string& id, const std::string& field, const Json& value) {
    Json f = Json::MakeObject();
    f.Set(field, value);
    ASSERT_TRUE(crm_.client().Update("Service_Subscription__c", id, f).ok());
  };
  // What the CRM says was sold but billing cannot charge as it is: refused, never guessed.
  const std::string cancelled = service(account, 15.0, 1, today, 12, false);
  set(cancelled, "Status__c", Json("Cancelled"));
  const std::string yearly = service(account, 150.0, 1, today, 12, false);
  set(yearly, "Billing_Interval__c", Json("Year"));
  const std::string indivisible = service(account, 15.0, 1, today, 12, false);
  (void)add_on(indivisible, "Recurring", channels.price_billing, 3, 10.0);
  const std::string none = service(account, 15.0, 1, today, 12, false);
  set(none, "Quantity__c", Json(0));
  // Scheduled to start today: billed (GTV reports a service Scheduled until the day begins in
  // its tenant's time zone); Scheduled to start next month: not yet; Scheduled for a date long
  // past, or for no date: the CRM's to settle.
  const std::string starts_today = service(account, 15.0, 1, today, 12, false);
  set(starts_today, "Status__c", Json("Scheduled"));
  const std::string starts_later = service(account, 15.0, 1, AddMonths(today, 1), 12, false);
  set(starts_later, "Status__c", Json("Scheduled"));
  const std::string never_started = service(account, 15.0, 1, AddMonths(today, -2), 12, false);
  set(never_started, "Status__c", Json("Scheduled"));
  const std::string no_date = service(account, 15.0, 1, today, 12, false);
  set(no_date, "Status__c", Json("Scheduled"));
  set(no_date, "Start_Date__c", Json());
  const std::string csv = "Id,Name\n" + discounted + ",Discounted\n" + listed + ",Listed\n" +
                          renewed + ",Renewed\n" + no_customer + ",No customer\n" + ended +
                          ",Ended\n" + unpriced + ",Unpriced\n" + cancelled + ",Cancelled\n" +
                          yearly + ",Yearly\n" + indivisible + ",Indivisible\n" + none + ",None\n" +
                          starts_today + ",Starts today\n" + starts_later + ",Starts later\n" +
                          never_started + ",Never started\n" + no_date + ",No date\n";

  MigrationOptions dry = Opts("subscription", Write("services.csv", csv));
  dry.dry_run = true;
  auto planned = Migrate(dry);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  EXPECT_EQ(planned->created_billing, 4);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 0) << "a dry run writes nothing";

  auto s = Migrate(Opts("subscription", Write("services.csv", csv)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectEveryRowOnce(*s, 14);
  EXPECT_EQ(s->created_billing, 4);
  EXPECT_EQ(s->failed, 10);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 4);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  EXPECT_NE(ok[1].back().find("2 items (1 at the sold price)"), std::string::npos) << ok[1].back();
  EXPECT_NE(ok[1].back().find("1 one-time add-on not billed again"), std::string::npos)
      << ok[1].back();
  const auto bad = ReadCsv(fs::path(s->output_dir) / "error.csv");
  ASSERT_EQ(bad.size(), 11u);
  EXPECT_NE(bad[1].back().find("is not linked to a billing customer"), std::string::npos)
      << bad[1].back();
  EXPECT_NE(bad[2].back().find("term ended on"), std::string::npos) << bad[2].back();
  EXPECT_NE(bad[3].back().find("names no billing price"), std::string::npos) << bad[3].back();
  EXPECT_NE(bad[4].back().find("its status is Cancelled"), std::string::npos) << bad[4].back();
  EXPECT_NE(bad[5].back().find("sold every year but billing's price"), std::string::npos)
      << bad[5].back();
  EXPECT_NE(bad[6].back().find("does not divide into 3 equal unit prices"), std::string::npos)
      << bad[6].back();
  EXPECT_NE(bad[7].back().find("is not a whole quantity of at least 1"), std::string::npos)
      << bad[7].back();
  EXPECT_NE(bad[8].back().find("starts on " + AddMonths(today, 1) + ", after the load"),
            std::string::npos)
      << bad[8].back();
  EXPECT_NE(
      bad[9].back().find("Scheduled to start on " + AddMonths(today, -2) + ", which has passed"),
      std::string::npos)
      << bad[9].back();
  EXPECT_NE(bad[10].back().find("Scheduled but names no Start_Date__c"), std::string::npos)
      << bad[10].back();

  // In billing: the sold price, the quantity, every recurring line, the term.
  std::map<std::string, Json> inventory;  // by CRM id
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id, Billing_Subscription_Id__c, Status__c, End_Date__c FROM "
                         "Service_Subscription__c",
                         [&](const Json& r) {
                           inventory[r["Id"].as_string()] = r;
                           return Status::Ok();
                         })
                  .ok());
  const std::string sub_id = inventory[discounted]["Billing_Subscription_Id__c"].ToText();
  ASSERT_FALSE(sub_id.empty()) << "linked back";
  EXPECT_EQ(inventory[discounted]["Status__c"].ToText(), "Active");
  EXPECT_EQ(inventory[starts_today]["Status__c"].ToText(), "Active") << "as billing has it";
  EXPECT_TRUE(inventory[no_customer]["Billing_Subscription_Id__c"].is_null());
  const auto sub = stripe_.billing().GetSubscription(sub_id).value();
  EXPECT_EQ(sub.account_id, customer);
  ASSERT_EQ(sub.items.size(), 2u) << "the base line and the recurring add-on, not the one-time fee";
  EXPECT_EQ(sub.items[0].quantity, 2);
  EXPECT_EQ(sub.items[0].price.unit_amount_minor, 1250) << "the sold price, not the catalog's";
  EXPECT_EQ(sub.items[0].price.product_id, trunk.product_billing);
  EXPECT_EQ(sub.items[1].quantity, 5);
  EXPECT_EQ(sub.items[1].price.id, channels.price_billing) << "sold at the catalog price";
  EXPECT_EQ(FormatRfc3339(FromEpochMillis(sub.cancel_at * 1000)).substr(0, 10),
            AddMonths(today, 10))
      << "the term's end: a year from its start";
  EXPECT_EQ(inventory[discounted]["End_Date__c"].ToText(), AddMonths(today, 10));
  const auto renewed_sub =
      stripe_.billing()
          .GetSubscription(inventory[renewed]["Billing_Subscription_Id__c"].ToText())
          .value();
  EXPECT_EQ(FormatRfc3339(FromEpochMillis(renewed_sub.cancel_at * 1000)).substr(0, 10),
            AddMonths(today, 12))
      << "renewed term by term: its current term ends in a year";
  std::string item_of_channels;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id, Billing_Item_Id__c FROM Service_Add_On__c WHERE Id = '" +
                             channels_sold + "'",
                         [&](const Json& r) {
                           item_of_channels = r["Billing_Item_Id__c"].ToText();
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(item_of_channels, sub.items[1].id);

  // The money: billing charges exactly what the CRM says was sold.
  std::string why;
  EXPECT_EQ(Differences({"revenue"}, &why), 0) << why;
  EXPECT_NE(why.find("revenue: 1 checked"), std::string::npos) << why;

  // Again: nothing is created twice.
  auto again = Migrate(Opts("subscription", Write("services.csv", csv)));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->already_linked, 4);
  EXPECT_EQ(again->created_billing, 0);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 4);

  // The rehearsal: undo cancels what the job created and unlinks it; a load again bills anew.
  MigrationDeps deps{crm_.client(), stripe_.billing(), **store_, mapping_,
                     stripe_.clock, random_,           nullptr};
  UndoOptions undo;
  undo.job_id = s->job_id;
  auto undone = UndoMigration(deps, undo);
  ASSERT_TRUE(undone.ok()) << undone.status().ToString();
  EXPECT_EQ(undone->removed_billing, 4);
  EXPECT_EQ(undone->left + undone->failed, 0);
  EXPECT_EQ(stripe_.billing().GetSubscription(sub_id).value().status, "canceled");
  EXPECT_EQ((*store_)->CountLinks("subscription").value(), 0);
  auto reloaded = Migrate(Opts("subscription", Write("services.csv", csv)));
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->created_billing, 4);
  EXPECT_EQ(stripe_.sandbox.CountObjects("subscription"), 8);
  EXPECT_EQ(Differences({"revenue"}, &why), 0) << why;
}

TEST_P(MigrateTest, DryRunWritesNothingButReportsWhatItWouldDo) {
  const auto ids = MakeAccounts(3, "Dry");
  std::string csv = "Id,Name\n";
  for (const auto& id : ids) csv += id + ",Dry " + id + "\n";
  MigrationOptions o = Opts("account", Write("dry.csv", csv));
  o.dry_run = true;
  auto s = Migrate(o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->created_billing, 3);
  EXPECT_EQ(BillingCustomers(), 0);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 0);
  EXPECT_NE(ReadCsv(fs::path(s->output_dir) / "success.csv")[1].back().find("dry run"),
            std::string::npos);
}

TEST_P(MigrateTest, BadUsageIsRefusedWithTheReason) {
  EXPECT_NE(Migrate(Opts("account", Write("noid.csv", "Name\nX\n")))
                .status()
                .message()
                .find("needs a column named Id"),
            std::string::npos);
  EXPECT_TRUE(Migrate(Opts("product", Write("p.csv", "Id\n"))).status().IsInvalidArgument());
  MigrationOptions sdl = Opts("account", Write("s.csv", "ACCOUNT NAME\nX\n"));
  sdl.column_map = Write("map.sdl", "ACCOUNT NAME=NoSuchField__c\n");
  EXPECT_NE(Migrate(sdl).status().message().find("NoSuchField__c"), std::string::npos);
  MigrationOptions resume = Opts("account", Write("r.csv", "Id\n"));
  resume.resume_job = "mig-nope";
  EXPECT_TRUE(Migrate(resume).status().IsInvalidArgument());
}

TEST_P(MigrateTest, AnSdlFileMapsDataLoaderColumns) {
  const auto ids = MakeAccounts(2, "Sdl");
  MigrationOptions o =
      Opts("account", Write("sdl.csv", "ACCOUNT ID,ACCOUNT NAME,NOTES\n" + ids[0] + ",Sdl One,x\n" +
                                           ids[1] + ",Sdl Two,y\n"));
  o.column_map = Write("map.sdl", "#Data Loader\nACCOUNT ID=Id\nACCOUNT NAME=Name\n");
  auto s = Migrate(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created_billing, 2);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  EXPECT_EQ(ok[0], (std::vector<std::string>{"ACCOUNT ID", "ACCOUNT NAME", "NOTES", "ROW", "CRM ID",
                                             "BILLING ID", "STATUS"}));
}

// In step after a load (issue 20 item 1): the export has no BillingCity column, carries a
// Customer_Since__c the CRM record lacks, and names a customer billing already has with a
// stale phone and city. Billing gets the CRM's city for every record, the file's date (which
// the CRM gets too, with the link fields), and the matched customer the CRM's values; a
// reconciliation then finds no difference.
TEST_P(MigrateTest, AfterALoadReconcileFindsTheTwoSystemsInStep) {
  std::vector<Json> records;
  for (const auto& [name, city, phone] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"Alpha Mills", "Lyon", "+33 1 00"},
           {"Beta Works", "Porto", ""},
           {"Gamma Foods", "Oslo", "+47 2 00"}}) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    a.Set("BillingCity", city);
    if (!phone.empty()) a.Set("Phone", phone);
    records.push_back(a);
  }
  auto created = crm_.client().CreateMany("Account", records);
  ASSERT_TRUE(created.ok());
  std::vector<std::string> ids;
  for (const auto& r : *created) ids.push_back(r.id);
  connector::billing::BillingAccount stale;
  stale.name = "Gamma Foods";
  stale.phone = "+47 9 99";
  stale.address.city = "Bergen";
  stale.description = "kept by billing before the load";
  const auto gamma = stripe_.billing().CreateAccount(stale, "seed-gamma").value();

  std::string csv = "Id,Name,Customer_Since__c\n";
  csv += ids[0] + ",Alpha Mills,2020-01-15\n";
  csv += ids[1] + ",Beta Works,\n";
  csv += ids[2] + ",Gamma Foods,\n";
  auto s = Migrate(Opts("account", Write("export.csv", csv)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created_billing, 2);
  EXPECT_EQ(s->matched, 1);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  ASSERT_EQ(ok.size(), 4u);
  EXPECT_EQ(ok[1][6], "created in billing; the CRM's Customer_Since__c set from the file");
  EXPECT_EQ(ok[3][5], gamma.id);
  const auto alpha = stripe_.billing().GetAccount(ok[1][5]).value();
  EXPECT_EQ(alpha.address.city, "Lyon") << "a field the file lacks comes from the CRM";
  EXPECT_EQ(alpha.phone, "+33 1 00");
  EXPECT_EQ(alpha.metadata.at("customer_since"), "2020-01-15");
  EXPECT_EQ(crm_.client()
                .Retrieve("Account", ids[0], {"Customer_Since__c"})
                .value()["Customer_Since__c"]
                .ToText(),
            "2020-01-15")
      << "the file's value reached the CRM too";
  const auto gamma_now = stripe_.billing().GetAccount(gamma.id).value();
  EXPECT_EQ(gamma_now.phone, "+47 2 00") << "the matched customer takes the CRM's values";
  EXPECT_EQ(gamma_now.address.city, "Oslo");

  std::string why;
  EXPECT_EQ(Differences({"account"}, &why), 0) << why;

  // The sign-off extract (item 5): every linked pair, compared as reconcile compares them.
  const actions::ActionDeps deps = Deps();
  auto extract = [&](reconcile::ExtractSummary* summary) {
    std::ostringstream out;
    auto s2 = reconcile::ExtractLinkedPairs(deps, "account", out);
    EXPECT_TRUE(s2.ok()) << s2.status().ToString();
    if (s2.ok()) *summary = *s2;
    std::istringstream in(out.str());
    CsvReader reader(in);
    std::vector<std::string> header;
    EXPECT_TRUE(reader.ReadHeader(&header).ok());
    std::map<std::string, std::map<std::string, std::string>> by_crm;  // CRM id → column → value
    CsvRecord r;
    Status st;
    while (reader.Next(&r, &st))
      for (size_t i = 0; i < header.size() && i < r.fields.size(); ++i)
        by_crm[r.fields[0]][header[i]] = r.fields[i];
    return by_crm;
  };
  stripe_.billing().CreateAccount(connector::billing::BillingAccount{}, "unlinked").value();
  reconcile::ExtractSummary summary;
  auto pairs = extract(&summary);
  EXPECT_EQ(summary.pairs, 3) << "the unlinked customer is no pair";
  EXPECT_EQ(summary.differing, 0);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[ids[2]]["BILLING_ID"], gamma.id);
  EXPECT_EQ(pairs[ids[2]]["IN_STEP"], "yes");
  EXPECT_EQ(pairs[ids[0]]["crm:address.city"], "Lyon");
  EXPECT_EQ(pairs[ids[0]]["billing:address.city"], "Lyon");
  EXPECT_EQ(pairs[ids[0]]["billing:custom.customer_since"], "2020-01-15");
  EXPECT_FALSE(pairs[ids[0]]["ACCOUNT_NUMBER"].empty());
  // Billing changed behind Tandem's back: the pair says so, field by field.
  connector::billing::BillingAccount phone;
  phone.phone = "+47 0 11";
  ASSERT_TRUE(stripe_.billing().UpdateAccount(gamma.id, phone, "behind-the-back").ok());
  pairs = extract(&summary);
  EXPECT_EQ(summary.pairs, 3);
  EXPECT_EQ(summary.differing, 1);
  EXPECT_EQ(pairs[ids[2]]["IN_STEP"], "no");
  EXPECT_EQ(pairs[ids[2]]["DIFFERS"], "phone");
  // A value that would start a spreadsheet formula is shown as text.
  EXPECT_EQ(pairs[ids[2]]["crm:phone"], "'+47 2 00");
  EXPECT_EQ(pairs[ids[2]]["billing:phone"], "'+47 0 11");
  EXPECT_EQ(pairs[ids[1]]["IN_STEP"], "yes");
  std::ostringstream ignored;
  EXPECT_TRUE(
      reconcile::ExtractLinkedPairs(deps, "subscription", ignored).status().IsInvalidArgument());
}

// Issue 20's scenario at size: 3,000 Accounts exported with the usual quirks (a BOM, CRLF, a
// quoted name with a comma; no BillingCity column; a Customer_Since__c the CRM lacks on every
// tenth row; 2 impossible dates, a short row and a repeated row). Every count is exact, and
// right after the load reconcile finds nothing and the sign-off extract says every pair is in
// step.
TEST_P(MigrateTest, ThreeThousandAccountsLoadInStepWithTheirQuirks) {
  const int n = 3000;
  connector::crm::BulkRequest req;
  req.object = "Account";
  req.columns = {"Name", "Website", "BillingCity", "Phone"};
  for (int i = 0; i < n; ++i)
    req.rows.push_back({"Cutover " + std::to_string(i) + ", Inc",
                        "cutover" + std::to_string(i) + ".example.com",
                        "City " + std::to_string(i % 97), "+1 555 " + std::to_string(1000 + i)});
  auto made = crm_.client().BulkIngest(req);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::string csv = "\xEF\xBB\xBFId,Name,Website,Customer_Since__c\r\n";
  for (int i = 0; i < n; ++i) {
    const std::string since = i == 100 || i == 200 ? "2021-02-30"
                              : i % 10 == 0        ? "2019-0" + std::to_string(1 + i % 9) + "-15"
                                                   : "";
    if (i == 300) {
      csv += made->rows[static_cast<size_t>(i)].id + "\r\n";  // a short row
      continue;
    }
    csv += made->rows[static_cast<size_t>(i)].id + ",\"Cutover " + std::to_string(i) +
           ", Inc\",cutover" + std::to_string(i) + ".example.com," + since + "\r\n";
  }
  csv += made->rows[0].id + ",\"Cutover 0, Inc\",cutover0.example.com,\r\n";  // repeated
  auto s = Migrate(Opts("account", Write("cutover.csv", csv)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rows, n + 1);
  EXPECT_EQ(s->succeeded, n - 3);
  EXPECT_EQ(s->failed, 4);
  EXPECT_EQ(s->created_billing, n - 3);
  EXPECT_EQ(s->duplicates, 1);
  EXPECT_EQ(BillingCustomers(), n - 3);
  EXPECT_EQ(DuplicateCustomers(), 0);
  ExpectEveryRowOnce(*s, n + 1);

  std::string why;
  EXPECT_EQ(Differences({"account"}, &why), 0) << why;
  EXPECT_NE(why.find("account: " + std::to_string(n - 3) + " checked"), std::string::npos) << why;
  std::ostringstream extract;
  auto pairs = reconcile::ExtractLinkedPairs(Deps(), "account", extract);
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  EXPECT_EQ(pairs->pairs, n - 3);
  EXPECT_EQ(pairs->differing, 0);
}

// Item 1 the other way: billing-to-crm. A new CRM record starts from its billing customer (the
// phone, the city the file does not carry), the file's own values win and billing gets them
// too (the CRM is the master from the load on): reconcile finds nothing.
TEST_P(MigrateTest, AfterABillingToCrmLoadReconcileFindsTheTwoInStep) {
  connector::billing::BillingAccount a;
  a.name = "Wayne Enterprises";
  a.phone = "+1 555 0100";
  a.address.city = "Gotham";
  a.metadata["segment"] = "direct";
  const std::string wayne = stripe_.billing().CreateAccount(a, "b2c-step-1")->id;
  a = {};
  a.name = "Stark Industries";
  a.metadata["segment"] = "other";  // no CRM picklist value for it: left to the CRM's default
  const std::string stark = stripe_.billing().CreateAccount(a, "b2c-step-2")->id;
  const std::string csv =
      "Billing_Id__c,Name\n" + wayne + ",Wayne Enterprises Ltd\n" + stark + ",Stark Industries\n";
  auto s = Migrate(Opts("account", Write("b2c.csv", csv), Direction::kBillingToCrm));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->created_crm, 2);
  ASSERT_EQ(s->failed, 0);
  const std::string crm_id = (*store_)->FindLinkByBillingId("account", wayne).value()->crm_id;
  const Json rec =
      crm_.client().Retrieve("Account", crm_id, {"Name", "Phone", "BillingCity", "Type"}).value();
  EXPECT_EQ(rec["Name"].as_string(), "Wayne Enterprises Ltd") << "the file's value";
  EXPECT_EQ(rec["Phone"].as_string(), "+1 555 0100") << "billing's, the file lacks it";
  EXPECT_EQ(rec["BillingCity"].as_string(), "Gotham");
  EXPECT_EQ(rec["Type"].as_string(), "Customer - Direct") << "the value map read back";
  EXPECT_EQ(stripe_.billing().GetAccount(wayne)->name, "Wayne Enterprises Ltd")
      << "billing took the file's name";

  std::string why;
  EXPECT_EQ(Differences({"account"}, &why), 0) << why;
}

// Matching and file rules a consultant can trust (issue 20 item 6): names fold Unicode case and
// accents (MÜLLER GMBH is the customer Müller GmbH, not a second one); a page on a shared host
// is no company's identity (Harbor Cafe's facebook.com page does not make it Sunrise Bakery,
// whose page is there too); an .sdl constant gives every row its value; a length counts
// characters (a 38-character city of 43 bytes fits a 40-character field).
TEST_P(MigrateTest, MatchingFoldsUnicodeIgnoresSharedHostsAndTakesSdlConstants) {
  connector::billing::BillingAccount a;
  a.name = "Müller GmbH";
  const auto muller = stripe_.billing().CreateAccount(a, "seed-muller").value();
  a = {};
  a.name = "Sunrise Bakery";
  a.metadata["website"] = "https://www.facebook.com/sunrisebakery";
  const auto sunrise = stripe_.billing().CreateAccount(a, "seed-sunrise").value();
  Json account = Json::MakeObject();
  account.Set("Name", "MÜLLER GMBH");
  const std::string muller_crm = crm_.client().Create("Account", account).value();
  account.Set("Name", "Harbor Cafe");
  const std::string harbor_crm = crm_.client().Create("Account", account).value();
  const std::string city = "Großmünster-Überlandstraße Nord Zürich";  // 38 characters, 43 bytes

  std::string csv = "ACCT,NAME,WEB,CITY,NOTES\n";
  csv += muller_crm + ",MÜLLER GMBH,,,x\n";
  csv += harbor_crm + ",Harbor Cafe,https://www.facebook.com/harborcafe," + city + ",y\n";
  MigrationOptions o = Opts("account", Write("consultant.csv", csv));
  o.column_map = Write("map.sdl",
                       "ACCT=Id\nNAME=Name\nWEB=Website\nCITY=BillingCity\n"
                       "\"Customer - Direct\"=Type\n");
  const int64_t before = BillingCustomers();
  auto s = Migrate(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectEveryRowOnce(*s, 2);
  EXPECT_EQ(s->matched, 1);
  EXPECT_EQ(s->created_billing, 1);
  EXPECT_EQ(s->failed, 0);
  EXPECT_EQ(BillingCustomers(), before + 1);
  const auto ok = ReadCsv(fs::path(s->output_dir) / "success.csv");
  ASSERT_EQ(ok.size(), 3u);
  EXPECT_EQ(ok[1][7], muller.id) << "MÜLLER GMBH is Müller GmbH";
  EXPECT_NE(ok[2][7], sunrise.id) << "a facebook.com page is nobody's domain";
  const auto harbor = stripe_.billing().GetAccount(ok[2][7]).value();
  EXPECT_EQ(harbor.name, "Harbor Cafe");
  EXPECT_EQ(harbor.address.city, city);
  EXPECT_EQ(harbor.metadata.at("segment"), "direct") << "the .sdl constant Type reached billing";
  EXPECT_EQ(stripe_.billing().GetAccount(sunrise.id)->external_key, "") << "Sunrise untouched";

  // An .sdl line naming a column the file lacks, or a field the CRM lacks, is refused with
  // its line; so is a constant that would make every row one record.
  o.column_map = Write("missing.sdl", "ACCT=Id\nNAME=Name\nPHONE NUMBER=Phone\n");
  auto missing = Migrate(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("line 3: column 'PHONE NUMBER' (for Phone) is not in"),
            std::string::npos)
      << missing.status().ToString();
  o.column_map = Write("const.sdl", "ACCT=Id\n\"x\"=NoSuchField__c\n");
  auto unknown = Migrate(o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("line 2: constant for Account.NoSuchField__c"),
            std::string::npos)
      << unknown.status().ToString();
  o.column_map = Write("id.sdl", "NAME=Name\n\"001000000000001AAA\"=Id\n");
  EXPECT_TRUE(Migrate(o).status().IsInvalidArgument());
}

// A bill-to Contact's e-mail shares its Account's domain: the Account's billing customer is
// linked under the account map, so the contact never matches it (today it took it over and a
// later sync renamed the company after the person); the contact becomes a customer of its own.
TEST_P(MigrateTest, AContactNeverTakesOverTheCustomerItsAccountIsLinkedTo) {
  Json acme = Json::MakeObject();
  acme.Set("Name", "Acme Anvils");
  acme.Set("Website", "https://acme-anvils.example");
  const std::string account = crm_.client().Create("Account", acme).value();
  auto accounts =
      Migrate(Opts("account", Write("a.csv", "Id,Name,Website\n" + account +
                                                 ",Acme Anvils,acme-anvils.example\n")));
  ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
  ASSERT_EQ(accounts->created_billing, 1);
  const std::string company = (*store_)->FindLinkByCrmId("account", account).value()->billing_id;

  Json ann = Json::MakeObject();
  ann.Set("LastName", "Smith");
  ann.Set("FirstName", "Ann");
  ann.Set("Email", "ann@acme-anvils.example");
  ann.Set("AccountId", account);
  const std::string contact = crm_.client().Create("Contact", ann).value();
  auto contacts = Migrate(Opts(
      "contact", Write("c.csv", "Id,FirstName,LastName,Email,AccountId,Is_Bill_To__c\n" + contact +
                                    ",Ann,Smith,ann@acme-anvils.example," + account + ",true\n")));
  ASSERT_TRUE(contacts.ok()) << contacts.status().ToString();
  EXPECT_EQ(contacts->matched, 0) << "matched the company's customer by domain";
  EXPECT_EQ(contacts->created_billing, 1);
  const auto company_now = stripe_.billing().GetAccount(company).value();
  EXPECT_EQ(company_now.external_key, account) << "the company customer was taken over";
  EXPECT_EQ(company_now.name, "Acme Anvils");
  const std::string person = (*store_)->FindLinkByCrmId("contact", contact).value()->billing_id;
  EXPECT_NE(person, company);
  EXPECT_EQ(stripe_.billing().GetAccount(person)->name, "Ann Smith");

  // The other way: an account row naming the person's customer outright is refused, with whose
  // it is.
  Json other = Json::MakeObject();
  other.Set("Name", "Other Co");
  const std::string other_account = crm_.client().Create("Account", other).value();
  auto named = Migrate(
      Opts("account", Write("n.csv", "Id,Billing_Id__c\n" + other_account + "," + person + "\n"),
           Direction::kLinkOnly));
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->failed, 1);
  const auto refused = ReadCsv(fs::path(named->output_dir) / "error.csv");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_NE(refused[1].back().find("is linked to contact " + contact), std::string::npos)
      << refused[1].back();
}

// Item 6's duplicates and item 8's contacts: within the file the strongest key both rows have
// decides — five John Smiths with different e-mails are five people, two names with one e-mail
// one — and a group's subsidiaries sharing a domain load once the consultant marks them
// DISTINCT. A second run of the contacts creates nothing.
TEST_P(MigrateTest, ContactsLoadAndTheStrongestKeyDecidesWhatADuplicateIs) {
  std::vector<std::string> accounts, contacts;
  std::string csv = "Id,FirstName,LastName,Email,AccountId,Is_Bill_To__c\n";
  for (int i = 0; i < 5; ++i) {
    Json a = Json::MakeObject();
    a.Set("Name", "Smith Client " + std::to_string(i));
    accounts.push_back(crm_.client().Create("Account", a).value());
    Json c = Json::MakeObject();
    c.Set("FirstName", "John");
    c.Set("LastName", "Smith");
    c.Set("Email", "john.smith@client" + std::to_string(i) + ".example");
    c.Set("AccountId", accounts.back());
    contacts.push_back(crm_.client().Create("Contact", c).value());
    csv += contacts.back() + ",John,Smith,john.smith@client" + std::to_string(i) + ".example," +
           accounts.back() + ",true\n";
  }
  Json jane = Json::MakeObject();
  jane.Set("FirstName", "Jane");
  jane.Set("LastName", "Smith-Jones");
  jane.Set("Email", "JOHN.SMITH@client0.example");
  jane.Set("AccountId", accounts[0]);
  const std::string same_mail = crm_.client().Create("Contact", jane).value();
  csv += same_mail + ",Jane,Smith-Jones,JOHN.SMITH@client0.example," + accounts[0] + ",true\n";
  const std::string file = Write("contacts.csv", csv);
  auto s = Migrate(Opts("contact", file));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created_billing, 5) << "five John Smiths with their own e-mails";
  EXPECT_EQ(s->duplicates, 1);
  const auto errors = ReadCsv(fs::path(s->output_dir) / "error.csv");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[1].back().find("duplicate of row 1 in this file (same email "
                                  "'john.smith@client0.example'"),
            std::string::npos)
      << errors[1].back();
  for (size_t i = 0; i < contacts.size(); ++i) {
    const auto link = (*store_)->FindLinkByCrmId("contact", contacts[i]).value();
    ASSERT_TRUE(link.has_value()) << i;
    const auto person = stripe_.billing().GetAccount(link->billing_id).value();
    EXPECT_EQ(person.name, "John Smith");
    EXPECT_EQ(person.email, "john.smith@client" + std::to_string(i) + ".example");
    EXPECT_EQ(person.external_key, contacts[i]);
  }
  auto again = Migrate(Opts("contact", file));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created_billing, 0);
  EXPECT_EQ(again->already_linked, 5);
  EXPECT_EQ(BillingCustomers(), 5);

  // Two subsidiaries share the group's domain: a duplicate, until marked DISTINCT.
  std::vector<std::string> subs;
  for (const char* name : {"Globex Europe", "Globex Asia"}) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    a.Set("Website", "https://globex.example");
    subs.push_back(crm_.client().Create("Account", a).value());
  }
  auto shared =
      Migrate(Opts("account", Write("subs.csv", "Id,Name,Website\n" + subs[0] +
                                                    ",Globex Europe,globex.example\n" + subs[1] +
                                                    ",Globex Asia,globex.example\n")));
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(shared->created_billing, 1);
  EXPECT_EQ(shared->duplicates, 1);
  EXPECT_NE(ReadCsv(fs::path(shared->output_dir) / "error.csv")[1].back().find(
                "same domain 'globex.example'; mark the row DISTINCT"),
            std::string::npos);
  auto marked =
      Migrate(Opts("account", Write("subs2.csv", "Id,Name,Website,DISTINCT\n" + subs[0] +
                                                     ",Globex Europe,globex.example,\n" + subs[1] +
                                                     ",Globex Asia,globex.example,x\n")));
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ(marked->already_linked, 1);
  EXPECT_EQ(marked->created_billing, 1) << "the DISTINCT row did not match its sister by domain";
  EXPECT_EQ(marked->failed, 0);
  const auto ok = ReadCsv(fs::path(marked->output_dir) / "success.csv");
  EXPECT_EQ(ok[0][3], "DISTINCT") << "carried to the result files";
  EXPECT_NE((*store_)->FindLinkByCrmId("account", subs[0]).value()->billing_id,
            (*store_)->FindLinkByCrmId("account", subs[1]).value()->billing_id);
  auto bad = Migrate(Opts(
      "account", Write("subs3.csv", "Id,Name,DISTINCT\n" + subs[0] + ",Globex Europe,maybe\n")));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->failed, 1);
  EXPECT_NE(ReadCsv(fs::path(bad->output_dir) / "error.csv")[1].back().find(
                "column DISTINCT: 'maybe' is not true or false"),
            std::string::npos);
}

// Item 4, the consultant's rehearsal: load, undo, load again. Undo takes back what the job
// did — the customers it created (deleted), the pair it linked (unlinked, the customer
// untagged, still there), the CRM's link fields — and nothing else: another job's customer
// stays, and a pair synced again after the job is left and reported. Undone twice, nothing
// happens twice.
TEST_P(MigrateTest, UndoTakesBackWhatTheJobDidAndNothingElse) {
  const auto ids = MakeAccounts(4, "Undo");  // 0, 1 created; 2 matched; 3 another job's
  connector::billing::BillingAccount had;
  had.name = "Undo 000002";
  const auto existing = stripe_.billing().CreateAccount(had, "seed-undo-2").value();
  auto other =
      Migrate(Opts("account", Write("other.csv", "Id,Name\n" + ids[3] + ",Undo 000003\n")));
  ASSERT_TRUE(other.ok());
  std::string csv = "Id,Name,Customer_Since__c\n";
  for (int i = 0; i < 3; ++i) csv += ids[i] + ",Undo 00000" + std::to_string(i) + ",\n";
  csv += ids[3].substr(0, 14) + "X,Bad,\n";   // not in the CRM: a partial failure
  csv += ids[0] + "x,Bad date,2021-02-30\n";  // invalid
  const std::string file = Write("undo.csv", csv);
  auto job = Migrate(Opts("account", file));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_EQ(job->created_billing, 2);
  ASSERT_EQ(job->matched, 1);
  ASSERT_EQ(job->failed, 2);
  EXPECT_EQ(BillingCustomers(), 4);
  const std::string alpha = (*store_)->FindLinkByCrmId("account", ids[0]).value()->billing_id;

  MigrationDeps deps{crm_.client(), stripe_.billing(), **store_, mapping_,
                     stripe_.clock, random_,           nullptr};
  UndoOptions o;
  o.job_id = job->job_id;
  o.dry_run = true;
  auto dry = UndoMigration(deps, o);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->pairs, 3);
  EXPECT_EQ(BillingCustomers(), 4) << "a dry run changes nothing";
  EXPECT_EQ((*store_)->CountLinks("account").value(), 4);

  // Beta is synced again after the load: it is the business's now, not the job's.
  stripe_.clock.Advance(std::chrono::seconds(5));
  Json beta = Json::MakeObject();
  beta.Set("Phone", "+1 555 0101");
  ASSERT_TRUE(crm_.client().Update("Account", ids[1], beta).ok());
  actions::Actions actions(Deps(), "test:sync");
  ASSERT_EQ(actions.Sync("account", {ids[1]}).value().updated, 1);

  o.dry_run = false;
  auto undone = UndoMigration(deps, o);
  ASSERT_TRUE(undone.ok()) << undone.status().ToString();
  EXPECT_EQ(undone->pairs, 3);
  EXPECT_EQ(undone->removed_billing, 1);
  EXPECT_EQ(undone->unlinked, 1);
  EXPECT_EQ(undone->left, 1);
  EXPECT_EQ(undone->failed, 0);
  // Alpha: its customer is gone, its link too, the CRM no longer names it.
  EXPECT_TRUE(stripe_.billing().GetAccount(alpha).status().IsNotFound());
  EXPECT_FALSE((*store_)->FindLinkByCrmId("account", ids[0]).value().has_value());
  const Json a0 =
      crm_.client().Retrieve("Account", ids[0], {"Billing_Id__c", "Sync_Status__c"}).value();
  EXPECT_TRUE(a0["Billing_Id__c"].is_null()) << a0.Dump();
  EXPECT_TRUE(a0["Sync_Status__c"].is_null()) << a0.Dump();
  // Gamma: billing had it before the job: it stays, untagged and unlinked.
  const auto gamma = stripe_.billing().GetAccount(existing.id).value();
  EXPECT_EQ(gamma.external_key, "");
  EXPECT_FALSE((*store_)->FindLinkByCrmId("account", ids[2]).value().has_value());
  // Beta: left, and the report says why.
  EXPECT_TRUE((*store_)->FindLinkByCrmId("account", ids[1]).value().has_value());
  const auto report = ReadCsv(undone->report);
  ASSERT_EQ(report.size(), 4u);
  EXPECT_EQ(report[0], (std::vector<std::string>{"CRM_ID", "BILLING_ID", "WHAT", "RESULT"}));
  bool beta_left = false;
  for (const auto& r : report)
    if (r[0] == ids[1]) beta_left = r[3].rfind("left: synced again after the job", 0) == 0;
  EXPECT_TRUE(beta_left);
  // The other job's customer is untouched.
  EXPECT_TRUE((*store_)->FindLinkByCrmId("account", ids[3]).value().has_value());
  EXPECT_EQ(BillingCustomers(), 3);  // 4 - Alpha's
  EXPECT_NE(MigrationStatus(**store_, job->job_id)->state, "undone") << "Beta was left";

  // Again: nothing is undone twice.
  auto twice = UndoMigration(deps, o);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->already, 2);
  EXPECT_EQ(twice->left, 1);
  EXPECT_EQ(twice->removed_billing + twice->unlinked, 0);

  // Load again: Alpha is created anew, Gamma matched again, Beta already linked.
  auto again = Migrate(Opts("account", file));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created_billing, 1);
  EXPECT_EQ(again->matched, 1);
  EXPECT_EQ(again->already_linked, 1);
  EXPECT_EQ(DuplicateCustomers(), 0);
  EXPECT_TRUE(UndoMigration(deps, UndoOptions{"mig-nope", false, ""}).status().IsNotFound());
}

// Undo of a billing-to-crm load: the CRM records it created are deleted and billing's customers
// (billing had them before) stay, untagged; a record someone edited after the load is left.
TEST_P(MigrateTest, UndoDeletesTheCrmRecordsABillingToCrmLoadCreated) {
  connector::billing::BillingAccount a;
  std::vector<std::string> customers;
  for (const char* name : {"Undo Wayne", "Undo Stark", "Undo Tyrell"}) {
    a.name = name;
    customers.push_back(stripe_.billing().CreateAccount(a, std::string("seed-") + name)->id);
  }
  std::string csv = "Billing_Id__c,Name\n";
  for (size_t i = 0; i < customers.size(); ++i)
    csv += customers[i] + ",Undo " + std::to_string(i) + "\n";
  auto s = Migrate(Opts("account", Write("b2c.csv", csv), Direction::kBillingToCrm));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->created_crm, 3);
  const auto before = crm_.sandbox.CountRecords("Account");
  const std::string edited =
      (*store_)->FindLinkByBillingId("account", customers[0]).value()->crm_id;
  // Someone edits one of the new Accounts well after the load.
  crm_.clock.Advance(std::chrono::hours(24 * 400));
  Json phone = Json::MakeObject();
  phone.Set("Phone", "+44 20 0000");
  ASSERT_TRUE(crm_.client().Update("Account", edited, phone).ok());

  auto undone = UndoMigration(
      {crm_.client(), stripe_.billing(), **store_, mapping_, stripe_.clock, random_, nullptr},
      UndoOptions{s->job_id, false, ""});
  ASSERT_TRUE(undone.ok()) << undone.status().ToString();
  EXPECT_EQ(undone->removed_crm, 2);
  EXPECT_EQ(undone->left, 1);
  EXPECT_EQ(crm_.sandbox.CountRecords("Account"), before - 2);
  EXPECT_TRUE(crm_.client().Retrieve("Account", edited, {"Id"}).ok()) << "the edited one stays";
  EXPECT_EQ(BillingCustomers(), 3) << "billing's own customers stay";
  EXPECT_EQ(stripe_.billing().GetAccount(customers[1])->external_key, "");
  EXPECT_EQ(stripe_.billing().GetAccount(customers[0])->external_key, edited);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 1);
  const auto report = ReadCsv(undone->report);
  bool left = false;
  for (const auto& r : report)
    if (r[0] == edited) left = r[3].rfind("left: the CRM record was edited after the job", 0) == 0;
  EXPECT_TRUE(left);
}

// link-only names the two records; nothing is created, so a create's required fields (Name)
// are not asked for: a file of just Id and Billing_Id__c links.
TEST_P(MigrateTest, LinkOnlyNeedsNoFieldsACreateWouldRequire) {
  const auto ids = MakeAccounts(2, "LinkOnly");
  connector::billing::BillingAccount a;
  a.name = "Billing Side Name";
  const auto customer = stripe_.billing().CreateAccount(a, "seed-link-only").value();
  auto s = Migrate(Opts("account",
                        Write("ids.csv", "Id,Billing_Id__c\n" + ids[0] + "," + customer.id + "\n"),
                        Direction::kLinkOnly));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->failed, 0) << ReadCsv(fs::path(s->output_dir) / "error.csv").back().back();
  EXPECT_EQ((*store_)->FindLinkByBillingId("account", customer.id).value()->crm_id, ids[0]);
  EXPECT_EQ(BillingCustomers(), 1);
}

// Item 7's circuit breaker: billing down from the start stops the job after a run of failed
// calls, not after every row's retries; nothing of the chunk is recorded, and the resume, with
// billing back, loads every row once.
TEST_P(MigrateTest, ABillingOutageStopsTheJobResumablyInsteadOfFailingEveryRow) {
  const auto ids = MakeAccounts(90, "Outage");
  std::string csv = "Id,Name\n";
  for (size_t i = 0; i < ids.size(); ++i) csv += ids[i] + ",Outage " + std::to_string(i) + "\n";
  const std::string file = Write("outage.csv", csv);
  stripe_.sandbox.AddFault({"POST", "/v1/customers", 503, "", -1, 0});
  MigrationOptions o = Opts("account", file);
  o.batch_size = 30;
  o.concurrency = 4;
  const int64_t calls_before = stripe_.counter.Total("stripe").calls;
  auto s = Migrate(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, "interrupted");
  EXPECT_NE(s->stopped_because.find("billing is failing (20 calls in a row failed"),
            std::string::npos)
      << s->stopped_because;
  EXPECT_EQ(s->rows, 0) << "the chunk in hand is not recorded";
  EXPECT_EQ(s->failed, 0);
  EXPECT_EQ(s->write_failed, 0);
  // 20 failed calls, plus those already in flight when the breaker opened (at most 4 - 1).
  const int64_t create_calls = stripe_.counter.Total("stripe").calls - calls_before;
  EXPECT_LE(create_calls, 23 + 1) << "every row was tried";  // + the index's listing
  EXPECT_GE(create_calls, 20);
  EXPECT_EQ(BillingCustomers(), 0);
  auto job = MigrationStatus(**store_, s->job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, "interrupted");

  stripe_.sandbox.ClearFaults();
  o.resume_job = s->job_id;
  o.output_dir = s->output_dir;
  auto resumed = Migrate(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->state, "done");
  EXPECT_EQ(resumed->succeeded, 90);
  EXPECT_EQ(resumed->created_billing, 90);
  EXPECT_EQ(resumed->write_failed, 0);
  EXPECT_EQ(BillingCustomers(), 90);
  EXPECT_EQ(DuplicateCustomers(), 0);
  ExpectEveryRowOnce(*resumed, 90);
}

// Item 7: error.csv keeps what a row had beyond the header (in its reason), and once corrected
// it is an input file again: its ROW and ERROR columns are read past, not carried twice.
// The progress moves within a chunk, not only at its end.
TEST_P(MigrateTest, ACorrectedErrorFileFeedsBackAndProgressMovesWithinAChunk) {
  const auto ids = MakeAccounts(43, "Refeed");
  std::string csv = "Id,Name,Customer_Since__c,Note\n";
  csv += ids[0] + ",Refeed A,2020-02-30,keep me\n";       // no such day
  csv += ids[1] + ",Refeed B,,note b,spill 1,spill 2\n";  // two fields too many
  for (size_t i = 2; i < ids.size(); ++i) csv += ids[i] + ",Refeed " + std::to_string(i) + ",,\n";
  MigrationOptions o = Opts("account", Write("first.csv", csv));
  std::vector<int64_t> seen;
  auto s = Migrate(o, [&](const MigrationProgress& p) { seen.push_back(p.rows_done); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->succeeded, 41);
  ASSERT_EQ(s->failed, 2);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 43);
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](int64_t n) { return n > 2 && n < 43; }))
      << "one chunk of 43 rows: the progress only moved at its end";
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  auto errors = ReadCsv(fs::path(s->output_dir) / "error.csv");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0],
            (std::vector<std::string>{"Id", "Name", "Customer_Since__c", "Note", "ROW", "ERROR"}));
  EXPECT_EQ(errors[1][4], "1");
  EXPECT_EQ(errors[1][5].rfind("line 2, column Customer_Since__c", 0), 0u) << errors[1][5];
  EXPECT_EQ(errors[2][5],
            "line 3: 6 fields, the header has 4 (beyond the header: spill 1 | spill 2)");
  // The consultant corrects the two rows in error.csv and feeds the file back.
  errors[1][2] = "2020-02-28";
  std::string fixed;
  for (const auto& r : errors) fixed += CsvLine(r, "\r\n");
  auto again = Migrate(Opts("account", Write("corrected.csv", fixed)));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->succeeded, 2);
  EXPECT_EQ(again->failed, 0);
  EXPECT_EQ(again->created_billing, 2);
  const auto ok = ReadCsv(fs::path(again->output_dir) / "success.csv");
  ASSERT_EQ(ok.size(), 3u);
  EXPECT_EQ(ok[0], (std::vector<std::string>{"Id", "Name", "Customer_Since__c", "Note", "ROW",
                                             "CRM ID", "BILLING ID", "STATUS"}));
  EXPECT_EQ(ok[1][3], "keep me");
  EXPECT_EQ(stripe_.billing().GetAccount(ok[1][6]).value().metadata.at("customer_since"),
            "2020-02-28");
  EXPECT_EQ(BillingCustomers(), 43);
}

// An account chunk's CRM link-back (one Bulk 2.0 job: six round trips, seconds at Salesforce's
// latency) runs while the next chunk is matched and written to billing: rows of the next chunk
// are reported written while nothing is counted succeeded yet (the chunk before has not reached
// its checkpoint). Every row still lands once, and the bar never moves back.
TEST_P(MigrateTest, AChunksLinkBackRunsWhileTheNextChunkIsWrittenToBilling) {
  const auto ids = MakeAccounts(300, "Overlap");
  std::string csv = "Id,Name\n";
  for (size_t i = 0; i < ids.size(); ++i) csv += ids[i] + ",Overlap " + std::to_string(i) + "\n";
  MigrationOptions o = Opts("account", Write("overlap.csv", csv));
  o.batch_size = 100;
  crm_.sandbox.AddFault(sandbox::salesforce::SalesforceFault{"", "/jobs/ingest", 0, "", -1, 300});
  std::mutex mu;
  bool overlapped = false, backwards = false;
  int64_t last = 0;
  auto done = Migrate(o, [&](const MigrationProgress& p) {
    std::lock_guard<std::mutex> lock(mu);
    if (p.rows_done > 100 && p.succeeded == 0) overlapped = true;
    if (p.rows_done < last) backwards = true;
    last = p.rows_done;
  });
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, "done");
  EXPECT_EQ(done->succeeded, 300);
  EXPECT_EQ(done->created_billing, 300);
  EXPECT_EQ(done->bulk_jobs, 3);
  EXPECT_EQ(BillingCustomers(), 300);
  EXPECT_EQ(DuplicateCustomers(), 0);
  ExpectEveryRowOnce(*done, 300);
  EXPECT_TRUE(overlapped) << "each chunk waited for the link-back of the one before";
  EXPECT_FALSE(backwards);
  EXPECT_EQ(last, 300);
  EXPECT_EQ(MigrationStatus(**store_, done->job_id)->processed, 300);
  for (const auto& id : {ids.front(), ids[150], ids.back()})
    EXPECT_FALSE(crm_.client()
                     .Retrieve("Account", id, {"Billing_Id__c"})
                     .value()["Billing_Id__c"]
                     .ToText()
                     .empty())
        << id;
}

TEST_P(MigrateTest, InterruptedJobResumesWithoutDuplicates) {
  const auto ids = MakeAccounts(1000, "Resume");
  std::string csv = "Id,Name,Website\n";
  for (size_t i = 0; i < ids.size(); ++i)
    csv += ids[i] + ",Resume " + std::to_string(i) + ",r" + std::to_string(i) + ".example\n";
  MigrationOptions o = Opts("account", Write("resume.csv", csv));
  o.batch_size = 100;
  std::atomic<bool> stop{true};  // stops after the first chunk, as Ctrl-C would
  o.stop = &stop;
  auto first = Migrate(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->state, "interrupted");
  EXPECT_EQ(first->rows, 100);
  EXPECT_EQ(BillingCustomers(), 100);
  EXPECT_EQ(MigrationStatus(**store_, first->job_id)->processed, 100);

  o.stop = nullptr;
  o.resume_job = first->job_id;
  o.output_dir = first->output_dir;
  auto rest = Migrate(o);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(rest->state, "done");
  EXPECT_EQ(rest->succeeded, 1000);
  EXPECT_EQ(rest->created_billing, 1000);
  EXPECT_EQ(BillingCustomers(), 1000);
  EXPECT_EQ(DuplicateCustomers(), 0);
  ExpectEveryRowOnce(*rest, 1000);
}

// An interrupted dry run's checkpoint counts rows it never wrote: resuming it for real would
// skip them, so a resume must keep the job's --dry-run.
TEST_P(MigrateTest, AnInterruptedDryRunResumesOnlyAsADryRun) {
  const auto ids = MakeAccounts(300, "Dry");
  std::string csv = "Id,Name\n";
  for (size_t i = 0; i < ids.size(); ++i) csv += ids[i] + ",Dry " + std::to_string(i) + "\n";
  MigrationOptions o = Opts("account", Write("dry.csv", csv));
  o.batch_size = 100;
  o.dry_run = true;
  std::atomic<bool> stop{true};
  o.stop = &stop;
  auto first = Migrate(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->state, "interrupted");
  o.stop = nullptr;
  o.resume_job = first->job_id;
  o.dry_run = false;
  auto real = Migrate(o);
  ASSERT_FALSE(real.ok());
  EXPECT_TRUE(real.status().IsInvalidArgument()) << real.status().ToString();
  EXPECT_NE(real.status().message().find("--dry-run"), std::string::npos);
  EXPECT_EQ(BillingCustomers(), 0);
  o.dry_run = true;
  auto dry = Migrate(o);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->state, "done");
  EXPECT_EQ(BillingCustomers(), 0);
}

TEST_P(MigrateTest, AHundredThousandRowsExactCountsInBothSystemsAndBothFiles) {
  const int n = 100000;
  const auto ids = MakeAccounts(n, "Bulk");
  ASSERT_EQ(static_cast<int>(ids.size()), n);
  // Every 1,000th row is broken (a bad date); every 1,000th + 500 repeats an earlier id.
  std::string csv = "Id,Name,Website,Customer_Since__c\n";
  int bad = 0, dup = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 1000 == 999) {
      csv += ids[static_cast<size_t>(i)] + ",Bulk " + std::to_string(i) + ",,2021-13-01\n";
      ++bad;
    } else if (i % 1000 == 500) {
      csv += ids[static_cast<size_t>(i - 1)] + ",Copy " + std::to_string(i) + ",,\n";
      ++dup;
    } else {
      csv += ids[static_cast<size_t>(i)] + ",Bulk " + std::to_string(i) + ",b" + std::to_string(i) +
             ".example,2020-01-01\n";
    }
  }
  const std::string file = Write("big.csv", csv);
  csv.clear();
  const int64_t crm_calls_before = crm_.sandbox.api_calls();
  auto s = Migrate(Opts("account", file));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const int good = n - bad - dup;
  EXPECT_EQ(s->rows, n);
  EXPECT_EQ(s->succeeded, good);
  EXPECT_EQ(s->failed, bad + dup);
  EXPECT_EQ(s->invalid, bad);
  EXPECT_EQ(s->duplicates, dup);
  EXPECT_EQ(s->created_billing, good);
  EXPECT_EQ(BillingCustomers(), good);
  EXPECT_EQ(DuplicateCustomers(), 0);
  EXPECT_EQ((*store_)->CountLinks("account").value(), good);
  ExpectEveryRowOnce(*s, n);
  // Link-back through Bulk 2.0: one job per chunk, not a call per row. The first chunk is one
  // round of the CRM's reads (4 at once here, 200 ids each), the rest 5,000 rows each.
  EXPECT_EQ(s->bulk_jobs, 1 + (n - 800 + 4999) / 5000);
  const int64_t crm_calls = crm_.sandbox.api_calls() - crm_calls_before;
  EXPECT_LT(crm_calls, n / 100) << crm_calls << " CRM calls";
  int64_t linked_in_crm = 0;
  ASSERT_TRUE(crm_.client()
                  .Query("SELECT Id FROM Account WHERE Billing_Id__c != null",
                         [&](const Json&) {
                           ++linked_in_crm;
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(linked_in_crm, good);

  // A second run of the same file creates nothing and writes nothing to the CRM.
  const int64_t billing_requests = stripe_.sandbox.requests();
  auto again = Migrate(Opts("account", file));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created_billing, 0);
  EXPECT_EQ(again->already_linked, good);
  EXPECT_EQ(again->bulk_jobs, 0);
  EXPECT_EQ(BillingCustomers(), good);
  EXPECT_LT(stripe_.sandbox.requests() - billing_requests, good / 50);  // reading the index
}

INSTANTIATE_TEST_SUITE_P(Backends, MigrateTest,
                         ::testing::Values(StoreBackend{"sqlite"}, StoreBackend{"postgresql"}),
                         testing::BackendName);

}  // namespace
}  // namespace tandem::migration
