// Private to migration/: one Migrator::Run's state and its stages, one file a stage —
// read_rows.cpp (the file and its columns), validate.cpp (each row, the source's own
// duplicates, the CRM ids), match.cpp (the indexes and each row's plan), write.cpp (billing,
// links and audit), link_back.cpp (the CRM through Bulk 2.0), subscriptions.cpp (billing
// subscriptions into the CRM's inventory), subscriptions_to_billing.cpp (the CRM's inventory
// into billing), checkpoint.cpp (the job, started or resumed, and its checkpoint) and
// migrator.cpp (the chunk loop).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "migration/csv_reader.h"
#include "migration/migrator.h"
#include "migration/result_files.h"
#include "util/ascii.h"
#include "util/circuit_breaker.h"
#include "util/log.h"

namespace tandem::migration::internal {

constexpr const char* kJobKind = "migration";
// Billing calls failing in a row (after the client's own retries) that stop the job: an outage,
// not a few bad records.
constexpr int kBillingOutageRun = 20;

// The trailing columns of an earlier run's success.csv or error.csv at the end of `header`
// (how many), 0 when the file is no result file.
size_t FedBackColumns(const std::vector<std::string>& header);

// The CRM's record of a service's add-ons (written as a work order's record_add_on does).
constexpr const char* kAddOnObject = "Service_Add_On__c";
// Item metadata of a subscription loaded from the CRM: the Service_Add_On__c the item bills.
constexpr const char* kAddOnKey = "crm_add_on";
// CRM ids per SOQL IN list (well under its 100 KB limit), and records per Collections call.
constexpr size_t kIdsPerQuery = 200;
// CheckCrmIds's queries at once, at most (fewer when the CRM's client says so).
constexpr int kCrmReadsAtOnce = 8;
// The first chunk of a load into billing: one round of those reads at the CRM client's 4 in
// flight without a configured rate (FirstChunkRows).
constexpr size_t kFirstChunkRows = 4 * kIdsPerQuery;

// The column that marks a row as its own record (Row::distinct).
constexpr const char* kDistinctColumn = "DISTINCT";

// Where a row stands after matching; decides what is written for it.
enum class Plan {
  kFailed,         // error.csv
  kAlreadyLinked,  // a link exists: refresh the CRM link fields, nothing else
  kMatched,        // the other side has it: link, tag billing with the CRM id, link fields
  kCreateBilling,  // crm-to-billing: a new customer
  kCreateCrm,      // billing-to-crm: a new CRM record (upsert by the billing-id field)
};

struct Row {
  int64_t row = 0, line = 0;
  std::vector<std::string> fields;
  std::string error;
  Json record = Json::MakeObject();  // CRM-shaped: field → value
  mapping::Mapped mapped;
  std::vector<std::string> keys;   // customer keys, strongest first
  std::string crm_id, billing_id;  // given or found
  std::string crm_link_value;      // what the CRM's billing-id field holds now, when known
  std::string account_number;
  Json decided = Json::MakeObject();  // CRM fields billing decided, as it answered the create
  Plan plan = Plan::kFailed;
  std::string status;  // success.csv STATUS
  // crm-to-billing: the fields whose value in the file is not the CRM's; written to the CRM
  // with the link fields.
  std::vector<std::string> file_differs;
  bool tag_billing = false;
  bool billing_updated = false;  // a matched customer given the CRM's values
  bool write_link_fields = false;
  // Its own record, whatever it shares with others (--distinct, a DISTINCT column): matched
  // and checked for duplicates by its ids only, never by e-mail, domain or name.
  bool distinct = false;
  // What its failure counts as (Run::Fail); counted with the chunk (Run::CountChunk), so a
  // chunk still being written counts nothing yet.
  int64_t MigrationSummary::*failed_as = nullptr;
};

// A record linked before whose CRM field does not hold the billing id yet (a run stopped
// before writing it); one whose field holds it needs nothing (a re-run stays cheap).
inline bool NeedsLinkFields(const Row& r) {
  return r.plan == Plan::kAlreadyLinked && r.crm_link_value != r.billing_id;
}

// A key of one kind ("email:") among a row's keys; "" when it has none.
inline std::string KeyOfKind(const std::vector<std::string>& keys, const std::string& kind) {
  for (const auto& k : keys)
    if (k.rfind(kind, 0) == 0) return k;
  return "";
}

// The CRM's 15-character case-sensitive form: 15- and 18-character ids of one record agree.
inline std::string Id15(const std::string& id) { return id.substr(0, 15); }

struct Checkpoint {
  int64_t next_row = 1;  // first row not yet in the result files
  ResultFiles::Sizes sizes;
  bool indexed = false;
  // The chunk in flight's Bulk 2.0 jobs, in the order they were made, and the time its rows
  // carry: a resume takes those jobs up with the same rows instead of making new ones.
  std::vector<std::string> bulk_jobs;
  std::string bulk_time;
  MigrationSummary counts;

  std::string Dump() const;
  static Checkpoint Load(const std::string& text);
};

// Match's view of a chunk: the links either side has, and both sides' index entries
// (key → the records that have it) for the chunk's keys.
struct MatchIndex {
  std::map<std::string, store::Link> link_of_crm;      // by 15-character CRM id
  std::map<std::string, store::Link> link_of_billing;  // by billing id
  std::map<std::string, std::set<std::string>> billing_index, crm_index;
  // Candidates another object map links (same billing object): never matched by key.
  std::map<std::string, store::Link> linked_by_other_map;
};

// A CRM product's price book entry that names a billing price.
struct PriceEntry {
  std::string price_id;
  std::string currency;  // upper case; "" in a single-currency org
  bool active = true;
};

// One run's state: the job, its columns and the chunk loop.
class Run {
 public:
  Run(MigrationDeps& deps, const MigrationOptions& options, const mapping::ObjectMap& map)
      : deps_(deps), options_(options), map_(map), logger_(log::Get("migration")) {}

  Result<MigrationSummary> Execute(const ProgressFn& progress);

 private:
  // checkpoint.cpp
  Status Prepare();
  Status ResumeJob();
  void StartJob();
  std::string JobParams() const;
  Status ListAllSubscriptions();
  Status Checkpointed(int64_t rows_done, ResultFiles& files);
  // read_rows.cpp
  Status ResolveColumns(const std::vector<std::string>& header);
  Status CheckDirectionColumns() const;
  Status CountRows();
  // Up to `rows` rows after `rows_done`; false at the end of the file.
  bool ReadChunk(CsvReader& reader, int64_t rows_done, size_t rows, std::vector<Row>* chunk) const;
  // validate.cpp
  void ParseRow(const CsvRecord& rec, const Status& csv_error, Row* row) const;
  Status FindSourceDuplicates(std::vector<Row>& rows);
  Status CheckCrmIds(std::vector<Row>& rows);
  // The row takes the CRM record's values for the fields the file lacks, noting where the
  // file's differ; fails the row when the record cannot be mapped.
  void TakeCrmRecord(Row& r, const Json& crm_record);
  // match.cpp
  Status BuildIndexes();
  Status IndexBilling();
  Status IndexCrm();
  Status Match(std::vector<Row>& rows);
  Status FindLinks(const std::vector<Row>& rows, MatchIndex& ix);
  Status LookUpKeys(const std::vector<Row>& rows, MatchIndex& ix);
  Status FindCandidateLinks(MatchIndex& ix);
  void MatchRow(Row& r, MatchIndex& ix);
  bool MatchEarlierLink(Row& r, MatchIndex& ix);
  void TakeLink(Row& r, const store::Link& l, const MatchIndex& ix) const;
  bool MatchBillingSide(Row& r, const MatchIndex& ix, std::string* how);
  bool MatchCrmSide(Row& r, const MatchIndex& ix, std::string* how);
  bool LinkedElsewhere(Row& r, MatchIndex& ix, const std::string& how);
  void DecidePlan(Row& r, MatchIndex& ix, const std::string& how);
  // write.cpp
  Status Write(std::vector<Row>& rows);
  // The link fields into the CRM (one Bulk 2.0 update job) and the chunk's plans counted: the
  // part of an account chunk that runs while the next chunk is written (migrator.cpp).
  Status LinkBack(std::vector<Row>& rows);
  void CreateInBilling(std::vector<Row*>& creates, const std::function<void()>& on_done);
  // billing-to-crm: each new CRM record takes the billing customer's values the file lacks.
  void FillFromBilling(std::vector<Row*>& creates);
  // Unavailable when billing's breaker opened: the chunk must not be recorded.
  Status BillingOutage() const;
  Status RecordLinks(const std::vector<Row>& rows);
  // `detail`: what finds the record in billing when its CRM id does not (a subscription: its
  // customer and key, "<customer> <key>").
  Status RecordIntents(const std::vector<Row*>& creates,
                       const std::function<std::string(const Row&)>& detail = {});
  void TagBilling(std::vector<Row>& rows);
  void CountPlans(const std::vector<Row>& rows);
  void RunConcurrently(std::vector<Row*>& rows, const std::function<void(Row&)>& fn);
  // Tells the progress callback that `ready` rows of the chunk of `chunk_rows` are written to
  // billing (the chunk is counted whole only after its checkpoint).
  void ReportWithinChunk(int64_t ready, size_t chunk_rows);
  // link_back.cpp
  Status BulkToCrm(std::vector<Row*>& rows, bool create);
  void FillBulkRequest(const std::vector<Row*>& rows, bool create, const std::string& now,
                       connector::crm::BulkRequest* req) const;
  // subscriptions.cpp
  Status RecordSubscriptions(std::vector<Row>& rows);
  // The CRM products (Id, Name) of billing products, through the catalog's links.
  Status CrmProducts(const std::set<std::string>& billing_products,
                     std::map<std::string, std::pair<std::string, std::string>>* out);
  Status RecordAddOns(const std::vector<Row*>& rows,
                      const std::map<const Row*, connector::billing::Subscription>& subs,
                      const std::map<std::string, std::pair<std::string, std::string>>& products);
  // subscriptions_to_billing.cpp
  Status CreateSubscriptions(std::vector<Row>& rows);
  Status ProductPrices(const std::set<std::string>& products,
                       std::map<std::string, std::vector<PriceEntry>>* out);
  Result<connector::billing::Price> CatalogPrice(const std::string& id);
  Result<connector::billing::Subscription> CreateOnce(
      const connector::billing::SubscriptionSpec& spec, const std::string& key, bool look_first);
  std::optional<connector::billing::SubscriptionSpec> SoldSpec(
      Row& r, const std::vector<Json>& add_ons, const std::string& customer,
      const std::vector<PriceEntry>& entries);
  // migrator.cpp
  // A chunk read from the file and checked (CheckChunk), not yet matched nor written.
  struct ReadyChunk {
    std::shared_ptr<std::vector<Row>> rows;
    bool more = false;  // the file has rows after it
    Status checked;
  };
  ReadyChunk ReadAndCheck(CsvReader& reader, int64_t resumed_after, size_t rows);
  size_t FirstChunkRows(int64_t rows_done) const;
  bool Stopping() const { return options_.stop && options_.stop->load(); }
  Status CheckChunk(std::vector<Row>& rows);
  Status WriteChunk(std::vector<Row>& rows);
  // A chunk's end: (account maps) LinkBack, its failures counted, its rows into the result
  // files, the checkpoint past it, the progress told.
  Status FinishChunk(std::vector<Row>& rows, ResultFiles& files, int64_t cp_before);
  void CountChunk(const std::vector<Row>& rows);
  // Whether a chunk's FinishChunk may run while the next chunk is read, matched and written to
  // billing, and the next chunk be read and checked while this one is written: account maps
  // loading into billing or linking, where the next chunk's work touches neither the CRM's
  // records of this one nor the checkpoint (billing-to-crm makes its CRM records in a Bulk job
  // the checkpoint names; subscriptions write theirs chunk by chunk).
  bool OverlapChunks() const {
    return map_.billing != "subscription" && options_.direction != Direction::kBillingToCrm &&
           !options_.dry_run;
  }
  MigrationSummary Summary(int64_t rows_done, const ResultFiles& files) const;

  bool ToBilling() const { return options_.direction == Direction::kCrmToBilling; }
  std::string Key(const Row& r, const std::string& what) const {
    return "tandem:migrate:" + job_.id + ":" + std::to_string(r.row) + ":" + what;
  }
  int64_t NowMs() const { return ToEpochMillis(deps_.clock.Now()); }
  void Fail(Row& r, std::string why, int64_t MigrationSummary::*counter) {
    r.plan = Plan::kFailed;
    r.error = std::move(why);
    r.failed_as = counter;
  }

  MigrationDeps& deps_;
  MigrationOptions options_;  // a copy: a resumed job takes its own column map
  const mapping::ObjectMap& map_;
  std::shared_ptr<spdlog::logger> logger_;
  store::Job job_;
  Checkpoint cp_;
  std::string output_dir_;
  std::vector<std::string> header_;
  std::vector<std::string> field_of_column_;  // "" = not mapped
  std::vector<SdlMap::Constant> constants_;   // the .sdl's constants, by the CRM's field name
  std::map<std::string, Json> describe_fields_;
  // Resumed: the jobs of the chunk that was in flight, not yet taken up again.
  // By step ("create": CRM records made by upsert; "update": link fields written back).
  std::map<std::string, std::deque<std::string>> resume_jobs_;
  int id_column_ = -1, billing_column_ = -1, distinct_column_ = -1;
  // Billing's outage answers in a row: open, the chunk in hand is abandoned (its billing writes
  // are keyed by job and row, so the resume replays them) and the job stops, resumable.
  CircuitBreaker billing_breaker_{kBillingOutageRun};
  std::string stopped_because_;  // why an interrupted run stopped ("": Ctrl-C or done)
  // Columns the file has: the header's, plus the trailing ROW.. columns of an earlier run's
  // result file fed back as input (read past, not carried).
  size_t file_columns_ = 0;
  // Progress within a chunk: the report after the last chunk, and the chunk's first row.
  ProgressFn progress_;
  MigrationProgress at_checkpoint_;
  int64_t reported_within_chunk_ = 0;  // GUARDED_BY(progress_mu_)
  int64_t chunk_base_ = 0;             // rows before the chunk being written (ReportWithinChunk)
  std::mutex progress_mu_;
  // Subscriptions into billing: the catalog prices read (a run sells few), whether the price
  // book has currencies, and whether a resumed job's first chunk is behind it.
  std::map<std::string, connector::billing::Price> prices_;  // GUARDED_BY(prices_mu_)
  std::mutex prices_mu_;
  std::optional<bool> entry_has_currency_;
  bool resumed_chunk_done_ = false;
};

}  // namespace tandem::migration::internal
