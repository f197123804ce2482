// `tandem migrate` killed with SIGKILL half-way — after billing writes, after the links,
// as a Bulk 2.0 job is created, before a checkpoint — then `--resume JOB`: every row ends in
// exactly one result file, every customer exists once in billing, every link once. On Stripe
// (idempotency keys, also once they expired) and on Gotransverse (none: looked up by CRM id).
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "migration/csv_reader.h"
#include "tests/support/billing_backends.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/process.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/store_backends.h"

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

struct CrashCase {
  testing::StoreBackend backend;
  std::string crash_at;
  bool keys_expire = false;  // the resume comes after billing forgot the idempotency keys
  testing::BillingBackendParam billing = testing::StripeBilling();
  // Undo: the killed job is resumed to its end first (the resumed run matches, by CRM id, the
  // customers the killed one made: still the job's to undo).
  bool resume_before_undo = false;
};
void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.backend.name << " " << c.billing.name << " " << c.crash_at
      << (c.keys_expire ? " keys expired" : "");
}

class MigrateCrash : public ::testing::TestWithParam<CrashCase> {
 protected:
  void SetUp() override {
    if (!testing::ScopedStore::Available(GetParam().backend)) GTEST_SKIP() << "no PostgreSQL";
    store_ =
        std::make_unique<testing::ScopedStore>(GetParam().backend, "crash_" + GetParam().crash_at);
    ASSERT_TRUE(store_->Open().ok());
    billing_ = GetParam().billing.make();
    dir_ = fs::temp_directory_path() /
           ("tandem_migcrash_" + std::to_string(::getpid()) + "_" + GetParam().backend.name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "tandem.yaml").string();
    testing::WriteSandboxConfigWith(config_, store_->options(), crm_.sandbox.base_url(),
                                    billing_->ConfigSection(), TANDEM_SOURCE_DIR);
  }
  // The run's error rows, to say why a test that expected none failed.
  std::string ErrorRows() {
    std::ifstream in(dir_ / "out" / "error.csv");
    std::stringstream rows;
    rows << in.rdbuf();
    return "\nerror.csv:\n" + rows.str();
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  testing::ProcessRun Tandem(const std::string& args, const std::string& env = "") {
    return testing::RunTandem(TANDEM_BINARY, "--config " + config_ + " " + args,
                              testing::SandboxEnv() + env);
  }

  // n Accounts ("<prefix> i") in the CRM, and the export a consultant would load: Id,Name.
  // "" when the CRM refused them.
  std::string WriteAccounts(int n, const std::string& prefix) {
    connector::crm::BulkRequest req;
    req.object = "Account";
    req.columns = {"Name"};
    for (int i = 0; i < n; ++i) req.rows.push_back({prefix + " " + std::to_string(i)});
    auto accounts = crm_.client().BulkIngest(req);
    if (!accounts.ok()) return "";
    const std::string file = (dir_ / "accounts.csv").string();
    std::ofstream out(file);
    out << "Id,Name\n";
    for (int i = 0; i < n; ++i)
      out << accounts->rows[static_cast<size_t>(i)].id << "," << prefix << " " << i << "\n";
    return file;
  }

  // Runs `tandem ARGS` until the case's crash point kills it: the job id it printed; "" (with
  // the failure recorded) when it was not killed or printed none.
  std::string RunUntilKilled(const std::string& args) {
    testing::ProcessRun killed = Tandem(args, "TANDEM_CRASH_AT=" + GetParam().crash_at);
    std::smatch m;
    if (killed.signal != 9 ||
        !std::regex_search(killed.out, m, std::regex("job (mig-[0-9a-z-]+)"))) {
      ADD_FAILURE() << "not killed at " << GetParam().crash_at << " with a job id: signal "
                    << killed.signal << "\n"
                    << killed.out;
      return "";
    }
    return m[1];
  }

  // The CRM records "OBJECT WHERE ..." selects; -1 when the query fails.
  int64_t CountCrm(const std::string& from_where) {
    int64_t n = 0;
    const Status st = crm_.client().Query("SELECT Id FROM " + from_where, [&](const Json&) {
      ++n;
      return Status::Ok();
    });
    return st.ok() ? n : -1;
  }

  std::unique_ptr<testing::ScopedStore> store_;
  testing::SalesforceEnv crm_;
  std::unique_ptr<testing::BillingBackend> billing_;
  fs::path dir_;
  std::string config_;
};

TEST_P(MigrateCrash, KilledHalfWayThenResumedMigratesEveryRowOnce) {
  const int n = 2000;
  const std::string file = WriteAccounts(n, "Crash");
  ASSERT_FALSE(file.empty());
  const std::string args = "migrate --object account --file " + file +
                           " --batch-size 200 --output " + (dir_ / "out").string();
  const std::string job = RunUntilKilled(args);
  ASSERT_FALSE(job.empty());
  const int64_t before = billing_->Count("account");
  EXPECT_GT(before, 0);
  EXPECT_LT(before, n);  // half-way, not done

  // A day later: Stripe no longer knows the keys of the creates the killed run sent.
  if (GetParam().keys_expire)
    dynamic_cast<testing::StripeBackend&>(*billing_).env().sandbox.AgeIdempotencyKeys(
        Millis(25LL * 3600 * 1000));

  // The store still says "running"; status sees the process is gone and prints the whole
  // command that resumes the job, which is what the consultant runs.
  testing::ProcessRun status = Tandem("migrate status " + job);
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_NE(status.out.find(job + ": interrupted (its process"), std::string::npos) << status.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status.out, m, std::regex("resume: tandem (.*)\n"))) << status.out;
  const std::string resume_args = m[1];
  for (const std::string& part : {"--config " + config_, "--output " + (dir_ / "out").string(),
                                  std::string("--batch-size 200"), "--resume " + job})
    EXPECT_NE(resume_args.find(part), std::string::npos) << part << " missing: " << resume_args;
  testing::ProcessRun listed = Tandem("migrate list");
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find(job + "  interrupted"), std::string::npos) << listed.out;

  testing::ProcessRun resumed =
      testing::RunTandem(TANDEM_BINARY, resume_args, testing::SandboxEnv());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out;
  EXPECT_NE(
      resumed.out.find(std::to_string(n) + " rows, " + std::to_string(n) + " succeeded, 0 failed"),
      std::string::npos)
      << resumed.out;

  // One Bulk job per chunk of 200 link-backs (10) and the one that made the accounts above: a
  // job the killed run had recorded is taken up again on resume, never made a second time. One
  // more when the kill (in the chunk being written) lands while the chunk before has had its
  // job made by Salesforce but not yet recorded: an empty Open job, which the resume cannot
  // know of and Salesforce lets expire.
  EXPECT_GE(crm_.sandbox.calls_by_endpoint()["POST /jobs/ingest"], 11);
  EXPECT_LE(crm_.sandbox.calls_by_endpoint()["POST /jobs/ingest"], 12);

  // Billing: one customer per row, none twice.
  EXPECT_EQ(billing_->Count("account"), n);
  std::map<std::string, int> by_crm;
  ASSERT_TRUE(billing_->billing()
                  .ListAccounts([&](const connector::billing::BillingAccount& a) {
                    ++by_crm[a.external_key];
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(static_cast<int>(by_crm.size()), n);
  EXPECT_EQ((*store_)->CountLinks("account").value(), n);
  // The CRM holds every billing id.
  EXPECT_EQ(CountCrm("Account WHERE Billing_Id__c != null"), n);
  // And `tandem reconcile` agrees: the two systems are in step (exit 0: no difference).
  testing::ProcessRun reconciled =
      Tandem("reconcile --object account --report " + (dir_ / "reconcile.csv").string());
  EXPECT_EQ(reconciled.exit_code, 0) << reconciled.out;
  EXPECT_NE(reconciled.out.find("account: " + std::to_string(n) + " checked, 0 differences"),
            std::string::npos)
      << reconciled.out;
  // success.csv: every row once, in order; error.csv: only its header.
  std::ifstream in(dir_ / "out" / "success.csv", std::ios::binary);
  migration::CsvReader reader(in);
  std::vector<std::string> header;
  ASSERT_TRUE(reader.ReadHeader(&header).ok());
  migration::CsvRecord rec;
  Status st;
  int64_t expect_row = 1;
  while (reader.Next(&rec, &st)) {
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(rec.fields[2], std::to_string(expect_row)) << "ROW column out of order";
    ++expect_row;
  }
  EXPECT_EQ(expect_row - 1, n);
  std::ifstream errors(dir_ / "out" / "error.csv");
  std::string line;
  int error_lines = 0;
  while (std::getline(errors, line)) ++error_lines;
  EXPECT_EQ(error_lines, 1);
}

// The rehearsal after a kill -9: `tandem migrate undo JOB` on the killed job takes back every
// customer it made — those of the chunks it recorded and those of the chunk it was killed in,
// created in billing but never linked — so a fresh load creates each exactly once.
class MigrateUndoAfterKill : public MigrateCrash {};

TEST_P(MigrateUndoAfterKill, AKilledJobIsUndoneWholeAndLoadsAgain) {
  const int n = 600;
  const std::string file = WriteAccounts(n, "Undone");
  ASSERT_FALSE(file.empty());
  const std::string args = "migrate --object account --file " + file +
                           " --batch-size 200 --output " + (dir_ / "out").string();
  const std::string job = RunUntilKilled(args);
  ASSERT_FALSE(job.empty());
  auto open_accounts = [&] {
    int64_t open = 0;
    EXPECT_TRUE(billing_->billing()
                    .ListAccounts([&](const connector::billing::BillingAccount& a) {
                      if (!a.closed) ++open;
                      return Status::Ok();
                    })
                    .ok());
    return open;
  };
  EXPECT_EQ(open_accounts(), 400) << "two chunks in billing, the second never linked";
  EXPECT_EQ((*store_)->CountLinks("account").value(), 200);

  int undone = 400;
  if (GetParam().resume_before_undo) {
    testing::ProcessRun resumed = Tandem(args + " --resume " + job);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
    EXPECT_EQ(open_accounts(), n);
    undone = n;
  }
  testing::ProcessRun undo = Tandem("migrate undo " + job);
  EXPECT_EQ(undo.exit_code, 0) << undo.out;
  const std::string removed =
      std::to_string(undone) + " pairs; " + std::to_string(undone) + " billing customers removed";
  EXPECT_NE(undo.out.find(removed), std::string::npos) << undo.out;
  EXPECT_EQ(open_accounts(), 0);
  EXPECT_EQ((*store_)->CountLinks("account").value(), 0);
  EXPECT_EQ(CountCrm("Account WHERE Billing_Id__c != null"), 0);
  testing::ProcessRun status = Tandem("migrate status " + job);
  EXPECT_NE(status.out.find(job + ": undone"), std::string::npos) << status.out;
  EXPECT_EQ(Tandem("migrate undo " + job).exit_code, 0) << "again: nothing left to undo";

  testing::ProcessRun again = Tandem(args);
  EXPECT_EQ(again.exit_code, 0) << again.out << ErrorRows();
  EXPECT_NE(again.out.find(std::to_string(n) + " rows, " + std::to_string(n) + " succeeded"),
            std::string::npos)
      << again.out;
  EXPECT_EQ(open_accounts(), n) << "each created once more, none revived";
}

// The service inventory into billing, killed after billing made the second chunk's
// subscriptions and before they were linked: resumed (Stripe: after its keys expired; the run
// looks each one up by its key first) every service has exactly one subscription and revenue
// reconciles at 0; or undone at once, the unrecorded ones found by their key and cancelled.
class MigrateSubscriptionsCrash : public MigrateCrash {
 protected:
  // One linked customer, two products both sides know, and n services sold at 12.50 (the
  // catalog says 15.00) on a year's term, each with 5 extra channels at 2.00; the file names
  // the services.
  std::string WriteServices(int n) {
    const std::string accounts = WriteAccounts(1, "Subscriber");
    testing::ProcessRun linked = Tandem("migrate --object account --file " + accounts +
                                        " --output " + (dir_ / "accounts-out").string());
    if (linked.exit_code != 0) return "";
    std::ifstream in(accounts);
    std::string account;
    std::getline(in, account);
    std::getline(in, account);
    account = account.substr(0, account.find(','));
    auto book = testing::CreatePricebook(crm_.client());
    if (!book.ok()) return "";
    auto trunk = testing::CreateCatalogProduct(crm_.client(), billing_->billing(), *book,
                                               "SIP Trunk", "CRASH-T", "Voice", "Base", 1500);
    if (!trunk.ok()) return "";
    auto channels =
        testing::CreateCatalogProduct(crm_.client(), billing_->billing(), *book, "Extra Channels",
                                      "CRASH-C", "Voice", "Add-On", 200);
    if (!channels.ok()) return "";
    connector::crm::BulkRequest req;
    req.object = "Service_Subscription__c";
    req.columns = {"Name",          "Account__c",  "Product__c",    "Quantity__c",
                   "Unit_Price__c", "Currency__c", "Start_Date__c", "Term_Months__c"};
    const std::string today = FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
    for (int i = 0; i < n; ++i)
      req.rows.push_back({"Trunk " + std::to_string(i), account, trunk->product_crm, "2", "12.5",
                          "EUR", today, "12"});
    auto services = crm_.client().BulkIngest(req);
    if (!services.ok()) return "";
    connector::crm::BulkRequest add_ons;
    add_ons.object = "Service_Add_On__c";
    add_ons.columns = {"Name",        "Subscription__c", "Kind__c",
                       "Quantity__c", "Amount__c",       "Billing_Price_Id__c"};
    for (const auto& service : services->rows)
      add_ons.rows.push_back(
          {"Extra Channels", service.id, "Recurring", "5", "10", channels->price_billing});
    if (!crm_.client().BulkIngest(add_ons).ok()) return "";
    const std::string file = (dir_ / "services.csv").string();
    std::ofstream out(file);
    out << "Id,Name\n";
    for (int i = 0; i < n; ++i)
      out << services->rows[static_cast<size_t>(i)].id << ",Trunk " << i << "\n";
    return file;
  }

  // Add-ons that name the billing item charging them.
  int64_t AddOnsLinked() { return CountCrm("Service_Add_On__c WHERE Billing_Item_Id__c != null"); }

  int64_t LiveSubscriptions() {
    int64_t live = 0;
    EXPECT_TRUE(billing_->billing()
                    .ListSubscriptions([&](const connector::billing::Subscription& s) {
                      if (s.status != "canceled") ++live;
                      return Status::Ok();
                    })
                    .ok());
    return live;
  }
};

TEST_P(MigrateSubscriptionsCrash, KilledBeforeItsLinksThenResumedOrUndoneNothingDoubles) {
  const int n = 150;
  const std::string file = WriteServices(n);
  ASSERT_FALSE(file.empty());
  const std::string args = "migrate --object subscription --file " + file +
                           " --batch-size 50 --output " + (dir_ / "out").string();
  const std::string job = RunUntilKilled(args);
  ASSERT_FALSE(job.empty());
  const bool linked_second = GetParam().crash_at.rfind("migration.after_links", 0) == 0;
  EXPECT_EQ(LiveSubscriptions(), 100) << "two chunks in billing";
  EXPECT_EQ((*store_)->CountLinks("subscription").value(), linked_second ? 100 : 50);
  EXPECT_EQ(AddOnsLinked(), 50) << "the CRM heard of the first chunk only";
  if (GetParam().keys_expire)
    dynamic_cast<testing::StripeBackend&>(*billing_).env().sandbox.AgeIdempotencyKeys(
        Millis(25LL * 3600 * 1000));

  if (GetParam().resume_before_undo) {
    testing::ProcessRun resumed = Tandem(args + " --resume " + job);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
    EXPECT_NE(resumed.out.find(std::to_string(n) + " rows, " + std::to_string(n) +
                               " succeeded, 0 failed"),
              std::string::npos)
        << resumed.out;
    EXPECT_EQ(LiveSubscriptions(), n) << "one subscription per service, none twice";
    EXPECT_EQ((*store_)->CountLinks("subscription").value(), n);
    EXPECT_EQ(AddOnsLinked(), n) << "every add-on names its billing item, the killed chunk's too";
    testing::ProcessRun revenue =
        Tandem("reconcile --object revenue --report " + (dir_ / "revenue.csv").string());
    EXPECT_EQ(revenue.exit_code, 0) << revenue.out;
    EXPECT_NE(revenue.out.find("revenue: 1 checked, 0 differences"), std::string::npos)
        << revenue.out;
  }
  const int undone = GetParam().resume_before_undo ? n : 100;
  testing::ProcessRun undo = Tandem("migrate undo " + job);
  EXPECT_EQ(undo.exit_code, 0) << undo.out;
  EXPECT_NE(undo.out.find(std::to_string(undone) + " pairs; " + std::to_string(undone)),
            std::string::npos)
      << undo.out;
  EXPECT_EQ(LiveSubscriptions(), 0);
  EXPECT_EQ((*store_)->CountLinks("subscription").value(), 0);
  testing::ProcessRun again = Tandem(args);
  EXPECT_EQ(again.exit_code, 0) << again.out << ErrorRows();
  EXPECT_EQ(LiveSubscriptions(), n) << "loaded again: each once";
  EXPECT_EQ(AddOnsLinked(), n);
}

std::string CaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = info.param.backend.name == "postgresql" ? "PostgreSQL_" : "SQLite_";
  if (info.param.billing.name != "stripe") name += "Gotransverse_";
  for (char c : info.param.crash_at)
    name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return name + (info.param.keys_expire ? "_KeysExpired" : "") +
         (info.param.resume_before_undo ? "_Resumed" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Points, MigrateCrash,
    ::testing::Values(
        CrashCase{{"sqlite"}, "migration.after_billing_writes#5"},
        CrashCase{{"sqlite"}, "migration.after_billing_writes#5", true},
        CrashCase{{"postgresql"}, "migration.after_billing_writes#5", true},
        CrashCase{{"sqlite"}, "migration.after_links#5"},
        CrashCase{{"sqlite"}, "migration.bulk_job_created#5"},
        CrashCase{{"sqlite"}, "migration.before_checkpoint#5"},
        CrashCase{{"postgresql"}, "migration.after_billing_writes#5"},
        CrashCase{{"postgresql"}, "migration.bulk_job_created#5"},
        // GTV keeps no keys: what the killed run made is found by its CRM id.
        CrashCase{{"postgresql"}, "migration.after_billing_writes#5", false, testing::GtvBilling()},
        CrashCase{{"sqlite"}, "migration.before_checkpoint#5", false, testing::GtvBilling()},
        // Linked, the CRM not told yet: the resume writes the link fields with what GTV
        // decided, read again.
        CrashCase{{"sqlite"}, "migration.after_links#5", false, testing::GtvBilling()}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(Undo, MigrateUndoAfterKill,
                         ::testing::Values(CrashCase{{"sqlite"},
                                                     "migration.after_billing_writes#2"},
                                           CrashCase{{"sqlite"},
                                                     "migration.after_billing_writes#2",
                                                     false,
                                                     testing::StripeBilling(),
                                                     /*resume_before_undo=*/true},
                                           CrashCase{{"postgresql"},
                                                     "migration.after_billing_writes#2",
                                                     false,
                                                     testing::GtvBilling()}),
                         CaseName);

INSTANTIATE_TEST_SUITE_P(Subscriptions, MigrateSubscriptionsCrash,
                         ::testing::Values(CrashCase{{"sqlite"},
                                                     "migration.after_billing_writes#2",
                                                     true,
                                                     testing::StripeBilling(),
                                                     /*resume_before_undo=*/true},
                                           // Linked, the CRM not told: the resume writes the
                                           // link fields, billing's state and every add-on's
                                           // billing item from billing.
                                           CrashCase{{"sqlite"},
                                                     "migration.after_links#2",
                                                     false,
                                                     testing::StripeBilling(),
                                                     /*resume_before_undo=*/true},
                                           CrashCase{{"postgresql"},
                                                     "migration.after_billing_writes#2",
                                                     false,
                                                     testing::GtvBilling()}),
                         CaseName);

}  // namespace
}  // namespace tandem::app
