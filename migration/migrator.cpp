#include "migration/migrator.h"

#include <algorithm>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "migration/csv_reader.h"
#include "migration/match_keys.h"
#include "migration/result_files.h"
#include "util/log.h"

namespace tandem::migration {
namespace {

namespace fs = std::filesystem;
using connector::billing::BillingAccount;

constexpr size_t kIdsPerQuery = 200;    // ids per SOQL call (well under the 100 KB limit)
constexpr size_t kKeysPerWrite = 5000;  // index keys buffered before one store write
constexpr const char* kJobKind = "migration";

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
  Plan plan = Plan::kFailed;
  std::string status;  // success.csv STATUS
  bool tag_billing = false;
  bool write_link_fields = false;
};

// The CRM's 15-character case-sensitive form: 15- and 18-character ids of one record agree.
std::string Id15(const std::string& id) { return id.substr(0, 15); }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A key of one kind ("email:") among a row's keys; "" when it has none.
std::string KeyOfKind(const std::vector<std::string>& keys, const std::string& kind) {
  for (const auto& k : keys)
    if (k.rfind(kind, 0) == 0) return k;
  return "";
}

// Checks a CSV value against the CRM field's type, as the CRM would, before any call.
std::string CheckValue(const std::string& type, const std::string& value, const Json& field) {
  if (type == "date") {
    int y = 0, m = 0, d = 0;
    char extra = 0;
    if (value.size() != 10 ||
        std::sscanf(value.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
      return "'" + value + "' is not a date (YYYY-MM-DD)";
    static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > kDays[m - 1] || (m == 2 && d == 29 && !leap))
      return "'" + value + "' is not a date (no such day)";
  } else if (type == "datetime") {
    if (value.size() < 19 || value[4] != '-' || value[10] != 'T')
      return "'" + value + "' is not a datetime (YYYY-MM-DDThh:mm:ssZ)";
  } else if (type == "double" || type == "currency" || type == "percent" || type == "int") {
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (*end != '\0') return "'" + value + "' is not a number";
  } else if (type == "boolean") {
    const std::string v = Lower(value);
    if (v != "true" && v != "false" && v != "1" && v != "0" && v != "yes" && v != "no")
      return "'" + value + "' is not a boolean (true/false)";
  } else if (type == "email") {
    if (NormalizeEmail(value).empty()) return "'" + value + "' is not an e-mail address";
  } else if (type == "reference" || type == "id") {
    if (!connector::crm::IsSalesforceId(value)) return "'" + value + "' is not a record id";
  } else if (type == "picklist" && field["restrictedPicklist"].as_bool()) {
    for (const auto& p : field["picklistValues"].array())
      if (p["value"].as_string() == value) return "";
    return "'" + value + "' is not one of the picklist's values";
  }
  const int64_t length = field["length"].as_int();
  if (length > 0 && static_cast<int64_t>(value.size()) > length)
    return "longer than the field's " + std::to_string(length) + " characters";
  return "";
}

struct Checkpoint {
  int64_t next_row = 1;  // first row not yet in the result files
  ResultFiles::Sizes sizes;
  bool indexed = false;
  // The chunk in flight's Bulk 2.0 jobs, in the order they were made, and the time its rows
  // carry: a resume takes those jobs up with the same rows instead of making new ones.
  std::vector<std::string> bulk_jobs;
  std::string bulk_time;
  MigrationSummary counts;

  std::string Dump() const {
    Json j = Json::MakeObject();
    j.Set("next_row", next_row);
    j.Set("success_bytes", sizes.success);
    j.Set("error_bytes", sizes.error);
    j.Set("indexed", indexed);
    Json jobs = Json::MakeArray();
    for (const auto& id : bulk_jobs) jobs.Push(id);
    j.Set("bulk_jobs", jobs);
    j.Set("bulk_time", bulk_time);
    Json c = Json::MakeObject();
    c.Set("succeeded", counts.succeeded);
    c.Set("failed", counts.failed);
    c.Set("created_billing", counts.created_billing);
    c.Set("created_crm", counts.created_crm);
    c.Set("matched", counts.matched);
    c.Set("already_linked", counts.already_linked);
    c.Set("invalid", counts.invalid);
    c.Set("duplicates", counts.duplicates);
    c.Set("ambiguous", counts.ambiguous);
    c.Set("unmatched", counts.unmatched);
    c.Set("write_failed", counts.write_failed);
    c.Set("bulk_jobs", counts.bulk_jobs);
    j.Set("counts", c);
    return j.Dump();
  }
  static Checkpoint Load(const std::string& text) {
    Checkpoint cp;
    auto j = Json::Parse(text);
    if (!j.ok()) return cp;
    cp.next_row = (*j)["next_row"].as_int(1);
    cp.sizes = {(*j)["success_bytes"].as_int(), (*j)["error_bytes"].as_int()};
    cp.indexed = (*j)["indexed"].as_bool();
    for (const auto& id : (*j)["bulk_jobs"].array()) cp.bulk_jobs.push_back(id.as_string());
    cp.bulk_time = (*j)["bulk_time"].as_string();
    const Json& c = (*j)["counts"];
    cp.counts.succeeded = c["succeeded"].as_int();
    cp.counts.failed = c["failed"].as_int();
    cp.counts.created_billing = c["created_billing"].as_int();
    cp.counts.created_crm = c["created_crm"].as_int();
    cp.counts.matched = c["matched"].as_int();
    cp.counts.already_linked = c["already_linked"].as_int();
    cp.counts.invalid = c["invalid"].as_int();
    cp.counts.duplicates = c["duplicates"].as_int();
    cp.counts.ambiguous = c["ambiguous"].as_int();
    cp.counts.unmatched = c["unmatched"].as_int();
    cp.counts.write_failed = c["write_failed"].as_int();
    cp.counts.bulk_jobs = c["bulk_jobs"].as_int();
    return cp;
  }
};

// One run's state: the job, its columns and the chunk loop.
class Run {
 public:
  Run(MigrationDeps& deps, const MigrationOptions& options, const mapping::ObjectMap& map)
      : deps_(deps), options_(options), map_(map), logger_(log::Get("migration")) {}

  Result<MigrationSummary> Execute(const ProgressFn& progress);

 private:
  Status Prepare();
  Status ResolveColumns(const std::vector<std::string>& header);
  Status CountRows();
  Status BuildIndexes();
  Status IndexBilling();
  Status IndexCrm();
  void ParseRow(const CsvRecord& rec, const Status& csv_error, Row* row) const;
  Status ProcessChunk(std::vector<Row>& rows);
  Status FindSourceDuplicates(std::vector<Row>& rows);
  Status CheckCrmIds(std::vector<Row>& rows);
  Status Match(std::vector<Row>& rows);
  Status Write(std::vector<Row>& rows);
  void RunConcurrently(std::vector<Row*>& rows, const std::function<void(Row&)>& fn);
  Status BulkToCrm(std::vector<Row*>& rows, bool create);
  Status RecordSubscriptions(std::vector<Row>& rows);
  Status Checkpointed(int64_t rows_done, ResultFiles& files);
  std::string Key(const Row& r, const char* what) const {
    return "tandem:migrate:" + job_.id + ":" + std::to_string(r.row) + ":" + what;
  }
  int64_t NowMs() const { return ToEpochMillis(deps_.clock.Now()); }
  void Fail(Row& r, std::string why, int64_t MigrationSummary::*counter) {
    r.plan = Plan::kFailed;
    r.error = std::move(why);
    ++(cp_.counts.*counter);
  }

  MigrationDeps& deps_;
  const MigrationOptions& options_;
  const mapping::ObjectMap& map_;
  std::shared_ptr<spdlog::logger> logger_;
  store::Job job_;
  Checkpoint cp_;
  std::string output_dir_;
  std::vector<std::string> header_;
  std::vector<std::string> field_of_column_;  // "" = not mapped
  std::map<std::string, Json> describe_fields_;
  // Resumed: the jobs of the chunk that was in flight, not yet taken up again.
  // By step ("create": CRM records made by upsert; "update": link fields written back).
  std::map<std::string, std::deque<std::string>> resume_jobs_;
  int id_column_ = -1, billing_column_ = -1;
};

Status Run::Prepare() {
  // The job: new, or the one to resume (its own parameters win over today's flags).
  if (!options_.resume_job.empty()) {
    auto job = deps_.store.GetJob(options_.resume_job);
    if (!job.ok()) return job.status();
    if (!job->has_value() || (*job)->kind != kJobKind)
      return Status::InvalidArgument("no migration job '" + options_.resume_job + "'");
    job_ = **job;
    if (job_.state == "done")
      return Status::InvalidArgument("migration job " + job_.id + " is already done");
    auto params = Json::Parse(job_.params);
    if (!params.ok()) return Status::Corruption("job " + job_.id + ": bad parameters");
    if ((*params)["file"].as_string() != options_.file ||
        (*params)["object"].as_string() != options_.object ||
        (*params)["direction"].as_string() != DirectionName(options_.direction))
      return Status::InvalidArgument(
          "job " + job_.id + " migrated " + (*params)["object"].as_string() + " from " +
          (*params)["file"].as_string() + " (" + (*params)["direction"].as_string() +
          "); resume it with the same --object, --file and --direction");
    std::error_code ec;
    if (static_cast<int64_t>(fs::file_size(options_.file, ec)) != (*params)["file_bytes"].as_int())
      return Status::InvalidArgument(options_.file + " changed since job " + job_.id +
                                     " started; a resumed job must read the same file");
    output_dir_ = (*params)["output"].as_string();
    cp_ = Checkpoint::Load(job_.checkpoint);
    // Jobs are taken up again only with the time their rows carried (older checkpoints lack
    // it: those chunks make new jobs), each by the step that made it.
    for (const auto& entry : cp_.bulk_time.empty() ? std::vector<std::string>{} : cp_.bulk_jobs) {
      const auto colon = entry.find(':');
      if (colon != std::string::npos)
        resume_jobs_[entry.substr(0, colon)].push_back(entry.substr(colon + 1));
    }
    job_.state = "running";
  } else {
    static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string suffix;
    for (int i = 0; i < 6; ++i) suffix.push_back(kAlphabet[deps_.random.Uniform(36)]);
    const std::string stamp = FormatRfc3339(deps_.clock.Now());  // 2026-11-24T22:11:32Z
    std::string compact;
    for (char c : stamp.substr(0, 19))
      if (std::isdigit(static_cast<unsigned char>(c))) compact.push_back(c);
    job_.id = "mig-" + compact.substr(0, 8) + "-" + compact.substr(8) + "-" + suffix;
    job_.kind = kJobKind;
    job_.created_ms = NowMs();
    output_dir_ = options_.output_dir.empty() ? (fs::path("migrations") / job_.id).string()
                                              : options_.output_dir;
    std::error_code ec;
    Json params = Json::MakeObject();
    params.Set("object", options_.object);
    params.Set("file", options_.file);
    params.Set("file_bytes", static_cast<int64_t>(fs::file_size(options_.file, ec)));
    params.Set("direction", DirectionName(options_.direction));
    params.Set("column_map", options_.column_map);
    params.Set("output", output_dir_);
    params.Set("dry_run", options_.dry_run);
    job_.params = params.Dump();
  }
  return Status::Ok();
}

Status Run::ResolveColumns(const std::vector<std::string>& header) {
  header_ = header;
  auto describe = deps_.crm.Describe(map_.crm);
  if (!describe.ok()) return describe.status().WithContext("describe " + map_.crm);
  std::map<std::string, std::string> by_lower;  // field names are case-insensitive
  for (const auto& f : (*describe)["fields"].array()) {
    by_lower[Lower(f["name"].as_string())] = f["name"].as_string();
    describe_fields_[f["name"].as_string()] = f;
  }
  std::map<std::string, std::string> column_to_field;
  if (!options_.column_map.empty()) {
    std::ifstream in(options_.column_map, std::ios::binary);
    if (!in) return Status::InvalidArgument("cannot read the column map " + options_.column_map);
    std::stringstream text;
    text << in.rdbuf();
    Status st = ParseSdl(text.str(), &column_to_field);
    if (!st.ok()) return st.WithContext(options_.column_map);
  }
  std::set<std::string> taken;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string field;
    if (!options_.column_map.empty()) {
      auto it = column_to_field.find(header[i]);
      if (it == column_to_field.end()) {
        field_of_column_.push_back("");
        continue;
      }
      field = it->second;
    } else {
      field = header[i];
    }
    auto known = by_lower.find(Lower(field));
    if (known == by_lower.end()) {
      if (!options_.column_map.empty())
        return Status::InvalidArgument(options_.column_map + ": column '" + header[i] +
                                       "' maps to " + map_.crm + "." + field +
                                       ", which the CRM does not have");
      field_of_column_.push_back("");  // an unmapped column is carried to the result files only
      continue;
    }
    field = known->second;
    if (!taken.insert(field).second)
      return Status::InvalidArgument("column '" + header[i] + "': " + map_.crm + "." + field +
                                     " is mapped from two columns");
    field_of_column_.push_back(field);
    if (field == "Id") id_column_ = static_cast<int>(i);
    if (!map_.link.billing_id.empty() && field == map_.link.billing_id)
      billing_column_ = static_cast<int>(i);
  }
  const std::string how = options_.column_map.empty() ? "a column named" : "a column mapped to";
  switch (options_.direction) {
    case Direction::kCrmToBilling:
      if (id_column_ < 0)
        return Status::InvalidArgument("crm-to-billing needs " + how + " Id (the CRM record id)");
      break;
    case Direction::kBillingToCrm:
      if (map_.link.billing_id.empty())
        return Status::InvalidArgument("object map '" + map_.name +
                                       "' has no link_fields.billing_id; billing-to-crm needs one");
      if (billing_column_ < 0)
        return Status::InvalidArgument("billing-to-crm needs " + how + " " + map_.link.billing_id +
                                       " (the billing id)");
      break;
    case Direction::kLinkOnly:
      if (id_column_ < 0 && billing_column_ < 0)
        return Status::InvalidArgument(
            "link-only needs " + how + " Id or " +
            (map_.link.billing_id.empty() ? std::string("billing id") : map_.link.billing_id));
      break;
  }
  return Status::Ok();
}

Status Run::CountRows() {
  std::ifstream in(options_.file, std::ios::binary);
  CsvReader reader(in);
  std::vector<std::string> cols;
  (void)reader.ReadHeader(&cols);
  CsvRecord rec;
  Status err;
  int64_t n = 0;
  while (reader.Next(&rec, &err)) ++n;
  job_.total = n;
  return Status::Ok();
}

// Both sides' records as keys in the store (constant memory whatever their number):
// billing "id:", "crm:" (the CRM id it carries) and the customer keys; CRM "id:",
// "billing:" (the billing id it carries) and the customer keys.
Status Run::BuildIndexes() {
  if (map_.billing == "subscription") return Status::Ok();
  if (cp_.indexed) {
    // Resumed: what the interrupted chunk created in billing is not in the index, and the
    // idempotency keys that would replay those creates may have expired (Stripe keeps them
    // 24 hours). Index billing again (a key already there is kept once), so those rows match
    // the records that exist instead of creating them twice.
    return options_.resume_job.empty() ? Status::Ok() : IndexBilling();
  }
  TANDEM_RETURN_IF_ERROR(IndexBilling());
  if (options_.direction != Direction::kCrmToBilling) TANDEM_RETURN_IF_ERROR(IndexCrm());
  cp_.indexed = true;
  job_.checkpoint = cp_.Dump();
  job_.updated_ms = NowMs();
  return deps_.store.PutJob(job_);
}

Status Run::IndexBilling() {
  std::vector<store::MatchKey> buffer;
  int64_t n = 0;
  Status st = deps_.billing.ListAccounts([&](const BillingAccount& a) -> Status {
    ++n;
    buffer.push_back({"id:" + a.id, a.id});
    if (!a.external_key.empty()) buffer.push_back({"crm:" + Id15(a.external_key), a.id});
    for (auto& k : CustomerKeys(connector::billing::AccountToPayload(a)))
      buffer.push_back({std::move(k), a.id});
    if (buffer.size() >= kKeysPerWrite) {
      TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "billing", buffer));
      buffer.clear();
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.WithContext("listing billing customers");
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "billing", buffer));
  logger_->info("job {}: indexed {} billing customers", job_.id, n);
  return Status::Ok();
}

Status Run::IndexCrm() {
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map_);
  if (!map_.link.billing_id.empty() &&
      std::find(fields.begin(), fields.end(), map_.link.billing_id) == fields.end())
    fields.push_back(map_.link.billing_id);
  auto soql = connector::crm::SoqlBuilder(map_.crm, fields).Build();
  if (!soql.ok()) return soql.status();
  std::vector<store::MatchKey> buffer;
  int64_t n = 0;
  Status st = deps_.crm.Query(*soql, [&](const Json& r) -> Status {
    ++n;
    const std::string id = r["Id"].as_string();
    buffer.push_back({"id:" + Id15(id), id});
    if (!map_.link.billing_id.empty() && !r[map_.link.billing_id].ToText().empty())
      buffer.push_back({"billing:" + r[map_.link.billing_id].ToText(), id});
    for (auto& k : CustomerKeys(mapping::ApplyToBilling(map_, r).payload))
      buffer.push_back({std::move(k), id});
    if (buffer.size() >= kKeysPerWrite) {
      TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "crm", buffer));
      buffer.clear();
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.WithContext("reading " + map_.crm + " records");
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "crm", buffer));
  logger_->info("job {}: indexed {} {} records", job_.id, n, map_.crm);
  return Status::Ok();
}

void Run::ParseRow(const CsvRecord& rec, const Status& csv_error, Row* row) const {
  row->row = rec.number;
  row->line = rec.line;
  row->fields = rec.fields;
  const std::string at = "line " + std::to_string(rec.line);
  if (!csv_error.ok()) {
    row->error = csv_error.message();
    return;
  }
  if (rec.fields.size() != header_.size()) {
    row->error = at + ": " + std::to_string(rec.fields.size()) + " fields, the header has " +
                 std::to_string(header_.size());
    return;
  }
  for (size_t i = 0; i < rec.fields.size(); ++i) {
    const std::string& v = rec.fields[i];
    size_t bad = 0;
    if (!IsValidUtf8(v, &bad)) {
      row->error = at + ", column " + header_[i] + ": not valid UTF-8 (byte " +
                   std::to_string(bad + 1) + ")";
      return;
    }
    const std::string& field = field_of_column_[i];
    if (field.empty() || v.empty()) continue;
    const Json& desc = describe_fields_.at(field);
    std::string why = CheckValue(desc["type"].as_string(), v, desc);
    if (!why.empty()) {
      row->error = at + ", column " + header_[i] + " (" + field + "): " + why;
      return;
    }
    row->record.Set(field, v);
  }
  if (id_column_ >= 0) row->crm_id = rec.fields[static_cast<size_t>(id_column_)];
  if (billing_column_ >= 0) row->billing_id = rec.fields[static_cast<size_t>(billing_column_)];
  if (options_.direction == Direction::kCrmToBilling && row->crm_id.empty()) {
    row->error = at + ", column " + header_[static_cast<size_t>(id_column_)] + ": empty (the " +
                 map_.crm + " Id is required)";
    return;
  }
  if (options_.direction == Direction::kBillingToCrm && row->billing_id.empty()) {
    row->error = at + ", column " + header_[static_cast<size_t>(billing_column_)] +
                 ": empty (the billing id is required)";
    return;
  }
  if (!row->crm_id.empty() && !connector::crm::IsSalesforceId(row->crm_id)) {
    row->error = at + ", column " + header_[static_cast<size_t>(id_column_)] + ": '" + row->crm_id +
                 "' is not a record id";
    return;
  }
  if (options_.direction == Direction::kLinkOnly && row->crm_id.empty() &&
      row->billing_id.empty()) {
    row->error = at + ": neither a CRM id nor a billing id";
    return;
  }
  row->mapped = mapping::ApplyToBilling(map_, row->record);
  if (!row->mapped.ok()) {
    std::string column = row->mapped.failed_field;
    for (size_t i = 0; i < header_.size(); ++i)
      if (field_of_column_[i] == row->mapped.failed_field) column = header_[i];
    row->error = at + ", column " + column + ": " + row->mapped.reason;
    return;
  }
  row->keys = CustomerKeys(row->mapped.payload);
  row->plan = Plan::kMatched;  // provisional: valid so far
}

// The source's own duplicates: a row sharing an id or a customer key with an earlier row
// (in this chunk or any before) is reported, not written. Keys live in the store.
Status Run::FindSourceDuplicates(std::vector<Row>& rows) {
  std::vector<store::MatchKey> keys;
  std::vector<std::string> lookup;
  auto row_keys = [&](const Row& r) {
    std::vector<std::string> k = r.keys;
    if (!r.crm_id.empty()) k.push_back("crm:" + Id15(r.crm_id));
    if (!r.billing_id.empty()) k.push_back("billing:" + r.billing_id);
    return k;
  };
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    for (const auto& k : row_keys(r)) {
      keys.push_back({k, std::to_string(r.row)});
      lookup.push_back(k);
    }
  }
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "source", keys));
  auto found = deps_.store.FindMatchKeys(job_.id, "source", lookup);
  if (!found.ok()) return found.status();
  std::map<std::string, int64_t> first_row;  // key → the earliest row that has it
  for (const auto& m : *found) {
    const int64_t r = std::stoll(m.ref);
    auto [it, inserted] = first_row.emplace(m.key, r);
    if (!inserted) it->second = std::min(it->second, r);
  }
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    for (const auto& k : row_keys(r)) {
      const int64_t first = first_row[k];
      if (first != 0 && first < r.row) {
        const std::string kind = k.substr(0, k.find(':'));
        const std::string value = kind == "crm" ? "CRM id '" + r.crm_id + "'"
                                  : kind == "billing"
                                      ? "billing id '" + r.billing_id + "'"
                                      : kind + " '" + k.substr(k.find(':') + 1) + "'";
        Fail(r, "duplicate of row " + std::to_string(first) + " in this file (same " + value + ")",
             &MigrationSummary::duplicates);
        break;
      }
    }
  }
  return Status::Ok();
}

// crm-to-billing: every row's record must exist in the CRM; the billing id it may already
// carry is an external-id match.
Status Run::CheckCrmIds(std::vector<Row>& rows) {
  std::vector<std::string> ids;
  for (const Row& r : rows)
    if (r.plan != Plan::kFailed) ids.push_back(r.crm_id);
  std::map<std::string, Json> found;  // by 15-character id
  std::vector<std::string> fields = {"Id"};
  if (!map_.link.billing_id.empty()) fields.push_back(map_.link.billing_id);
  for (size_t start = 0; start < ids.size(); start += kIdsPerQuery) {
    std::vector<std::string> part(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kIdsPerQuery)));
    auto soql = connector::crm::SoqlBuilder(map_.crm, fields).WhereIn("Id", part).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
      found[Id15(r["Id"].as_string())] = r;
      return Status::Ok();
    }));
  }
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    auto it = found.find(Id15(r.crm_id));
    if (it == found.end()) {
      Fail(r, "no " + map_.crm + " with Id " + r.crm_id + " in the CRM",
           &MigrationSummary::unmatched);
      continue;
    }
    r.crm_id = it->second["Id"].as_string();  // the 18-character form
    if (!map_.link.billing_id.empty()) r.crm_link_value = it->second[map_.link.billing_id].ToText();
    if (r.billing_id.empty()) r.billing_id = r.crm_link_value;
  }
  return Status::Ok();
}

// Decides each valid row's plan: already linked, matched on the other side (by external id,
// then e-mail, domain, name — the strongest kind that finds anything decides), or created.
Status Run::Match(std::vector<Row>& rows) {
  const bool to_billing = options_.direction == Direction::kCrmToBilling;
  // Links first: anything linked before (an earlier job, or this one before a crash).
  std::vector<std::string> crm_ids, billing_ids;
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    if (!r.crm_id.empty()) crm_ids.push_back(r.crm_id);
    if (!r.billing_id.empty()) billing_ids.push_back(r.billing_id);
  }
  auto by_crm = deps_.store.FindLinksByCrmIds(map_.name, crm_ids);
  if (!by_crm.ok()) return by_crm.status();
  auto by_billing = deps_.store.FindLinksByBillingIds(map_.name, billing_ids);
  if (!by_billing.ok()) return by_billing.status();
  std::map<std::string, store::Link> link_of_crm, link_of_billing;
  for (const auto& l : *by_crm) link_of_crm[Id15(l.crm_id)] = l;
  for (const auto& l : *by_billing) link_of_billing[l.billing_id] = l;

  // Both sides' index entries for every key of the chunk.
  std::vector<std::string> billing_lookup, crm_lookup;
  for (const Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    for (const auto& k : r.keys) {
      billing_lookup.push_back(k);
      crm_lookup.push_back(k);
    }
    if (!r.crm_id.empty()) billing_lookup.push_back("crm:" + Id15(r.crm_id));
    if (!r.billing_id.empty()) {
      billing_lookup.push_back("id:" + r.billing_id);
      crm_lookup.push_back("billing:" + r.billing_id);
    }
    if (!r.crm_id.empty()) crm_lookup.push_back("id:" + Id15(r.crm_id));
  }
  std::map<std::string, std::set<std::string>> billing_index, crm_index;
  auto billing = deps_.store.FindMatchKeys(job_.id, "billing", billing_lookup);
  if (!billing.ok()) return billing.status();
  for (const auto& m : *billing) billing_index[m.key].insert(m.ref);
  if (!to_billing) {
    auto crm = deps_.store.FindMatchKeys(job_.id, "crm", crm_lookup);
    if (!crm.ok()) return crm.status();
    for (const auto& m : *crm) crm_index[m.key].insert(m.ref);
  }
  // Matched records already linked to another record may not be linked again.
  std::vector<std::string> candidate_billing, candidate_crm;
  for (const auto& [k, refs] : billing_index)
    candidate_billing.insert(candidate_billing.end(), refs.begin(), refs.end());
  for (const auto& [k, refs] : crm_index)
    candidate_crm.insert(candidate_crm.end(), refs.begin(), refs.end());
  auto linked_b = deps_.store.FindLinksByBillingIds(map_.name, candidate_billing);
  if (!linked_b.ok()) return linked_b.status();
  auto linked_c = deps_.store.FindLinksByCrmIds(map_.name, candidate_crm);
  if (!linked_c.ok()) return linked_c.status();
  for (const auto& l : *linked_b) link_of_billing[l.billing_id] = l;
  for (const auto& l : *linked_c) link_of_crm[Id15(l.crm_id)] = l;

  // Finds the other side's record by the row's keys. Returns "" with *error set when ambiguous.
  auto find = [&](const Row& r, std::map<std::string, std::set<std::string>>& index,
                  const std::string& side, std::string* how, std::string* error) -> std::string {
    for (const char* kind : {"email:", "domain:", "name:"}) {
      const std::string key = KeyOfKind(r.keys, kind);
      if (key.empty()) continue;
      auto it = index.find(key);
      if (it == index.end() || it->second.empty()) continue;
      const std::string what = std::string(kind).substr(0, std::strlen(kind) - 1);
      if (it->second.size() > 1) {
        std::string list;
        for (const auto& ref : it->second) list += (list.empty() ? "" : ", ") + ref;
        *error = "ambiguous: " + std::to_string(it->second.size()) + " " + side +
                 " records share the " + what + " '" + key.substr(key.find(':') + 1) + "' (" +
                 list + "); link one by hand or give its id";
        return "";
      }
      *how = "matched by " + what;
      return *it->second.begin();
    }
    return "";
  };

  // A row linked before: it takes the link's ids; the CRM needs no write when its
  // billing-id field already holds the id (crm-to-billing read it; otherwise the index has it).
  auto take_link = [&](Row& r, const store::Link& l) {
    r.crm_id = l.crm_id;
    r.billing_id = l.billing_id;
    r.account_number = l.account_number;
    if (!to_billing) {
      auto holds = crm_index.find("billing:" + r.billing_id);
      if (holds != crm_index.end() && holds->second.count(r.crm_id))
        r.crm_link_value = r.billing_id;
    }
    r.plan = Plan::kAlreadyLinked;
    r.status = "already linked";
  };
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    // 1. Linked before.
    if (!r.crm_id.empty() && link_of_crm.count(Id15(r.crm_id))) {
      const store::Link& l = link_of_crm[Id15(r.crm_id)];
      if (!r.billing_id.empty() && r.billing_id != l.billing_id && !to_billing) {
        Fail(r, "the CRM record is linked to billing " + l.billing_id + ", not " + r.billing_id,
             &MigrationSummary::ambiguous);
        continue;
      }
      take_link(r, l);
      continue;
    }
    if (!r.billing_id.empty() && link_of_billing.count(r.billing_id)) {
      const store::Link& l = link_of_billing[r.billing_id];
      if (!r.crm_id.empty() && Id15(r.crm_id) != Id15(l.crm_id)) {
        Fail(r,
             "billing " + r.billing_id + " is linked to CRM record " + l.crm_id + ", not " +
                 r.crm_id,
             &MigrationSummary::ambiguous);
        continue;
      }
      take_link(r, l);
      continue;
    }
    std::string how, error;
    // 2. The billing side.
    if (r.billing_id.empty()) {
      auto by_ext = billing_index.find("crm:" + Id15(r.crm_id));
      if (!r.crm_id.empty() && by_ext != billing_index.end() && !by_ext->second.empty()) {
        if (by_ext->second.size() > 1) {
          Fail(r,
               "ambiguous: " + std::to_string(by_ext->second.size()) +
                   " billing customers carry CRM id " + r.crm_id,
               &MigrationSummary::ambiguous);
          continue;
        }
        r.billing_id = *by_ext->second.begin();
        how = "matched by CRM id";
      } else if (!r.crm_id.empty()) {
        r.billing_id = find(r, billing_index, "billing", &how, &error);
      }
    } else {
      if (!billing_index.count("id:" + r.billing_id)) {
        Fail(r, "no billing customer " + r.billing_id, &MigrationSummary::unmatched);
        continue;
      }
      if (how.empty()) how = "matched by billing id";
    }
    if (!error.empty()) {
      Fail(r, error, &MigrationSummary::ambiguous);
      continue;
    }
    // 3. The CRM side.
    if (r.crm_id.empty()) {
      auto by_ext = crm_index.find("billing:" + r.billing_id);
      if (by_ext != crm_index.end() && !by_ext->second.empty()) {
        if (by_ext->second.size() > 1) {
          Fail(r,
               "ambiguous: " + std::to_string(by_ext->second.size()) + " " + map_.crm +
                   " records carry billing id " + r.billing_id,
               &MigrationSummary::ambiguous);
          continue;
        }
        r.crm_id = *by_ext->second.begin();
        how = "matched by billing id";
      } else {
        how.clear();
        r.crm_id = find(r, crm_index, map_.crm, &how, &error);
        if (!error.empty()) {
          Fail(r, error, &MigrationSummary::ambiguous);
          continue;
        }
      }
    } else if (!to_billing && !crm_index.count("id:" + Id15(r.crm_id))) {
      Fail(r, "no " + map_.crm + " with Id " + r.crm_id + " in the CRM",
           &MigrationSummary::unmatched);
      continue;
    }
    // A match already linked elsewhere is a conflict for a person, not a second link.
    if (!r.billing_id.empty() && link_of_billing.count(r.billing_id) &&
        Id15(link_of_billing[r.billing_id].crm_id) != Id15(r.crm_id)) {
      Fail(r,
           "billing " + r.billing_id + " (" + how + ") is already linked to CRM record " +
               link_of_billing[r.billing_id].crm_id,
           &MigrationSummary::ambiguous);
      continue;
    }
    if (!r.crm_id.empty() && link_of_crm.count(Id15(r.crm_id)) &&
        link_of_crm[Id15(r.crm_id)].billing_id != r.billing_id) {
      Fail(r,
           "CRM record " + r.crm_id + " (" + how + ") is already linked to billing " +
               link_of_crm[Id15(r.crm_id)].billing_id,
           &MigrationSummary::ambiguous);
      continue;
    }
    // 4. The plan.
    if (!to_billing && !r.crm_id.empty() && !r.billing_id.empty()) {
      auto holds = crm_index.find("billing:" + r.billing_id);
      if (holds != crm_index.end() && holds->second.count(r.crm_id))
        r.crm_link_value = r.billing_id;
    }
    if (!r.crm_id.empty() && !r.billing_id.empty()) {
      r.plan = Plan::kMatched;
      r.status = how.empty() ? "linked" : how;
      r.tag_billing = true;
      // Reserve the pair within the chunk: a later row may not take either record again.
      link_of_crm[Id15(r.crm_id)] = store::Link{map_.name, r.crm_id, r.billing_id, "", "", 0};
      link_of_billing[r.billing_id] = link_of_crm[Id15(r.crm_id)];
    } else if (options_.direction == Direction::kCrmToBilling) {
      r.plan = Plan::kCreateBilling;
      r.status = "created in billing";
    } else if (options_.direction == Direction::kBillingToCrm) {
      r.plan = Plan::kCreateCrm;
      r.status = "created in the CRM";
    } else {
      Fail(r,
           std::string("no match in ") + (r.crm_id.empty() ? "the CRM" : "billing") +
               (r.keys.empty() ? " (the row has no name, e-mail or website to match on)"
                               : " (link-only creates nothing)"),
           &MigrationSummary::unmatched);
    }
  }
  return Status::Ok();
}

void Run::RunConcurrently(std::vector<Row*>& rows, const std::function<void(Row&)>& fn) {
  std::atomic<size_t> next{0};
  // A worker that throws (a broken invariant) stops taking rows; the first exception is
  // raised again here, after every worker joined, so the chunk is never checkpointed as done.
  std::mutex error_mu;
  std::exception_ptr error;
  auto worker = [&] {
    try {
      for (size_t i = next++; i < rows.size(); i = next++) fn(*rows[i]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = rows.size();
    }
  };
  const size_t n = std::min(rows.size(), static_cast<size_t>(std::max(1, options_.concurrency)));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// One Bulk 2.0 job: creates (upsert by the billing-id field: a re-run after a crash updates
// what the first run created) or link-field updates by Id.
Status Run::BulkToCrm(std::vector<Row*>& rows, bool create) {
  if (rows.empty()) return Status::Ok();
  connector::crm::BulkRequest req;
  req.object = map_.crm;
  // A resumed chunk sends the rows it sent before (the same time in them), to the jobs it made.
  const std::string step = create ? "create" : "update";
  std::deque<std::string>& taken_up = resume_jobs_[step];
  const bool resuming = !taken_up.empty();
  if (!resuming && cp_.bulk_time.empty()) cp_.bulk_time = FormatRfc3339(deps_.clock.Now());
  const std::string now = cp_.bulk_time.empty() ? FormatRfc3339(deps_.clock.Now()) : cp_.bulk_time;
  if (resuming) req.resume_job_ids.assign(taken_up.begin(), taken_up.end());
  std::set<std::string> columns;
  if (create) {
    req.operation = connector::crm::BulkOperation::kUpsert;
    req.external_id_field = map_.link.billing_id;
    for (Row* r : rows)
      for (const auto& [k, v] : r->record.object())
        if (k != "Id") columns.insert(k);
  } else {
    req.operation = connector::crm::BulkOperation::kUpdate;
    columns.insert("Id");
  }
  for (const std::string* f :
       {&map_.link.billing_id, &map_.link.account_number, &map_.link.status, &map_.link.time})
    if (!f->empty()) columns.insert(*f);
  req.columns.assign(columns.begin(), columns.end());
  for (Row* r : rows) {
    std::vector<std::string> values;
    for (const auto& c : req.columns) {
      std::string v;
      if (c == "Id")
        v = r->crm_id;
      else if (c == map_.link.billing_id)
        v = r->billing_id;
      else if (c == map_.link.account_number)
        v = r->account_number.empty() ? r->billing_id : r->account_number;
      else if (c == map_.link.status)
        v = "Synced";
      else if (c == map_.link.time)
        v = now;
      else
        v = r->record[c].ToText();
      values.push_back(v.empty() ? "#N/A" : v);
    }
    req.rows.push_back(std::move(values));
  }
  req.on_job_created = [&](const std::string& job_id) {
    // Recorded before any polling: the checkpoint names the jobs of the chunk in flight.
    cp_.bulk_jobs.push_back(step + ":" + job_id);
    ++cp_.counts.bulk_jobs;
    job_.checkpoint = cp_.Dump();
    job_.updated_ms = NowMs();
    Status st = deps_.store.PutJob(job_);
    if (deps_.crash) deps_.crash->Hit("migration.bulk_job_created");
    return st;
  };
  auto result = deps_.crm.BulkIngest(req);
  // The jobs taken up again are done with, whatever their outcome.
  if (resuming) {
    const size_t used =
        std::min(taken_up.size(), result.ok() ? result->job_ids.size() : taken_up.size());
    taken_up.erase(taken_up.begin(), taken_up.begin() + static_cast<long>(used));
  }
  if (!result.ok()) {
    for (Row* r : rows)
      Fail(*r, "CRM bulk job failed: " + result.status().ToString(),
           &MigrationSummary::write_failed);
    return Status::Ok();
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& res = result->rows[i];
    if (res.success) {
      if (create) rows[i]->crm_id = res.id;
      continue;
    }
    if (create || rows[i]->plan == Plan::kMatched) {
      Fail(*rows[i], "CRM: " + res.error, &MigrationSummary::write_failed);
    } else {
      // Already linked before: the link stands; only the fields' refresh failed.
      rows[i]->status += " (link fields not written: " + res.error + ")";
    }
  }
  return Status::Ok();
}

Status Run::Write(std::vector<Row>& rows) {
  std::vector<Row*> creates, crm_creates;
  for (Row& r : rows) {
    if (r.plan == Plan::kCreateBilling) creates.push_back(&r);
    if (r.plan == Plan::kCreateCrm) crm_creates.push_back(&r);
  }
  if (options_.dry_run) {
    for (Row& r : rows) {
      if (r.plan == Plan::kFailed) continue;
      if (r.plan == Plan::kCreateBilling) ++cp_.counts.created_billing;
      if (r.plan == Plan::kCreateCrm) ++cp_.counts.created_crm;
      if (r.plan == Plan::kMatched) ++cp_.counts.matched;
      if (r.plan == Plan::kAlreadyLinked) ++cp_.counts.already_linked;
      r.status = "dry run: would be " + r.status;
    }
    return Status::Ok();
  }
  // 1. Billing creates, concurrent; each keyed by job and row, so a re-run replays it.
  std::mutex mu;
  RunConcurrently(creates, [&](Row& r) {
    BillingAccount account = connector::billing::PayloadToAccount(r.mapped.payload);
    account.external_key = r.crm_id;
    auto saved = deps_.billing.CreateAccount(account, Key(r, "create"));
    std::lock_guard<std::mutex> lock(mu);
    if (!saved.ok()) {
      Fail(r, "billing: " + saved.status().ToString(), &MigrationSummary::write_failed);
      return;
    }
    r.billing_id = saved->id;
    auto an = saved->metadata.find("account_number");
    r.account_number = an == saved->metadata.end() ? saved->id : an->second;
  });
  if (deps_.crash) deps_.crash->Hit("migration.after_billing_writes");
  // 2. CRM creates (billing-to-crm), one Bulk 2.0 upsert job.
  TANDEM_RETURN_IF_ERROR(BulkToCrm(crm_creates, /*create=*/true));
  // 3. Links and audit, before the CRM's link fields are written.
  const int64_t now = NowMs();
  std::vector<store::Link> links;
  std::vector<store::AuditEntry> audit;
  const std::string actor = "migration:" + job_.id;
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed || r.plan == Plan::kAlreadyLinked) continue;
    // A created record's hash is its content; a matched one is synced from the CRM next time.
    links.push_back(store::Link{map_.name, r.crm_id, r.billing_id, r.account_number,
                                r.plan == Plan::kCreateBilling ? r.mapped.hash : "", now});
    audit.push_back(store::AuditEntry{now, actor, map_.name, r.crm_id, "migrate",
                                      r.plan == Plan::kMatched ? "linked" : "created",
                                      r.billing_id});
  }
  TANDEM_RETURN_IF_ERROR(deps_.store.RecordSync(links, audit));
  if (deps_.crash) deps_.crash->Hit("migration.after_links");
  // 4. Link fields into the CRM, one Bulk 2.0 update job.
  std::vector<Row*> updates;
  // A record already linked whose CRM field holds the id needs nothing (a re-run stays cheap).
  for (Row& r : rows)
    if (r.plan == Plan::kCreateBilling || r.plan == Plan::kMatched ||
        (r.plan == Plan::kAlreadyLinked && r.crm_link_value != r.billing_id))
      updates.push_back(&r);
  TANDEM_RETURN_IF_ERROR(BulkToCrm(updates, /*create=*/false));
  // 5. Billing learns the CRM id of what it already had (matched, or created in the CRM).
  std::vector<Row*> tags;
  for (Row& r : rows)
    if (r.plan == Plan::kMatched || r.plan == Plan::kCreateCrm) tags.push_back(&r);
  RunConcurrently(tags, [&](Row& r) {
    BillingAccount fields;
    fields.external_key = r.crm_id;
    auto saved = deps_.billing.UpdateAccount(r.billing_id, fields, Key(r, "tag"));
    if (!saved.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      r.status += " (billing not tagged with the CRM id: " + saved.status().ToString() + ")";
    }
  });
  for (Row& r : rows) {
    if (r.plan == Plan::kCreateBilling) ++cp_.counts.created_billing;
    if (r.plan == Plan::kCreateCrm) ++cp_.counts.created_crm;
    if (r.plan == Plan::kMatched) ++cp_.counts.matched;
    if (r.plan == Plan::kAlreadyLinked) ++cp_.counts.already_linked;
  }
  return Status::Ok();
}

// Existing billing subscriptions into the CRM's service inventory: each row names one; its
// customer must already be linked (migrate accounts first). One Bulk 2.0 upsert per chunk by
// the subscription-id field, so a re-run or a resume updates what it created.
Status Run::RecordSubscriptions(std::vector<Row>& rows) {
  const mapping::ObjectMap* customers = nullptr;
  for (const auto& o : deps_.mapping.objects)
    if (o.billing == "customer" && !o.link.billing_id.empty()) customers = &o;
  if (!customers) return Status::InvalidArgument("no customer map with link_fields.billing_id");
  std::vector<Row*> wanted;
  for (Row& r : rows)
    if (r.plan != Plan::kFailed) wanted.push_back(&r);
  std::mutex mu;
  std::map<const Row*, connector::billing::Subscription> subs;
  RunConcurrently(wanted, [&](Row& r) {
    auto sub = deps_.billing.GetSubscription(r.billing_id);
    std::lock_guard<std::mutex> lock(mu);
    if (!sub.ok()) {
      Fail(r, "billing subscription " + r.billing_id + ": " + sub.status().ToString(),
           sub.status().IsNotFound() ? &MigrationSummary::unmatched
                                     : &MigrationSummary::write_failed);
      return;
    }
    subs[&r] = *sub;
  });
  std::vector<std::string> customer_ids;
  for (const auto& [r, sub] : subs) customer_ids.push_back(sub.account_id);
  auto links = deps_.store.FindLinksByBillingIds(customers->name, customer_ids);
  if (!links.ok()) return links.status();
  std::map<std::string, std::string> account_of;
  for (const auto& l : *links) account_of[l.billing_id] = l.crm_id;
  std::vector<Row*> upserts;
  for (Row* r : wanted) {
    if (r->plan == Plan::kFailed) continue;
    const auto& sub = subs[r];
    auto account = account_of.find(sub.account_id);
    if (account == account_of.end()) {
      Fail(*r,
           "its customer " + sub.account_id + " is not linked to a CRM " + customers->crm +
               " (migrate the accounts first)",
           &MigrationSummary::unmatched);
      continue;
    }
    Json fields = mapping::ApplyToCrm(map_, connector::billing::SubscriptionToPayload(sub));
    for (const auto& [k, v] : r->record.object()) fields.Set(k, v);  // the file's own values
    fields.Set("Account__c", account->second);
    if (!fields.Has("Name")) fields.Set("Name", r->billing_id);
    if (!sub.items.empty() && describe_fields_.count("Quantity__c"))
      fields.Set("Quantity__c", sub.items.front().quantity);
    r->record = fields;
    r->plan = Plan::kCreateCrm;
    r->status = "recorded in the CRM";
    upserts.push_back(r);
  }
  if (options_.dry_run) {
    for (Row* r : upserts) r->status = "dry run: would be " + r->status;
    cp_.counts.created_crm += static_cast<int64_t>(upserts.size());
    return Status::Ok();
  }
  TANDEM_RETURN_IF_ERROR(BulkToCrm(upserts, /*create=*/true));
  const int64_t now = NowMs();
  std::vector<store::Link> new_links;
  std::vector<store::AuditEntry> audit;
  for (Row* r : upserts) {
    if (r->plan == Plan::kFailed) continue;
    ++cp_.counts.created_crm;
    new_links.push_back(store::Link{map_.name, r->crm_id, r->billing_id, "", "", now});
    audit.push_back(store::AuditEntry{now, "migration:" + job_.id, map_.name, r->crm_id, "migrate",
                                      "created", r->billing_id});
  }
  return deps_.store.RecordSync(new_links, audit);
}

Status Run::ProcessChunk(std::vector<Row>& rows) {
  for (Row& r : rows)
    if (r.plan == Plan::kFailed && !r.error.empty()) ++cp_.counts.invalid;
  TANDEM_RETURN_IF_ERROR(FindSourceDuplicates(rows));
  if (map_.billing == "subscription") return RecordSubscriptions(rows);
  if (options_.direction == Direction::kCrmToBilling) TANDEM_RETURN_IF_ERROR(CheckCrmIds(rows));
  TANDEM_RETURN_IF_ERROR(Match(rows));
  return Write(rows);
}

Status Run::Checkpointed(int64_t rows_done, ResultFiles& files) {
  auto sizes = files.Flush();
  if (!sizes.ok()) return sizes.status();
  if (deps_.crash) deps_.crash->Hit("migration.before_checkpoint");
  cp_.next_row = rows_done + 1;
  cp_.sizes = *sizes;
  cp_.bulk_jobs.clear();
  cp_.bulk_time.clear();
  resume_jobs_.clear();  // past the chunk that was in flight
  cp_.counts.succeeded = files.succeeded();
  cp_.counts.failed = files.failed();
  job_.processed = rows_done;
  job_.failed = cp_.counts.failed;
  job_.checkpoint = cp_.Dump();
  job_.updated_ms = NowMs();
  return deps_.store.PutJob(job_);
}

Result<MigrationSummary> Run::Execute(const ProgressFn& progress) {
  TANDEM_RETURN_IF_ERROR(Prepare());
  std::ifstream in(options_.file, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read " + options_.file);
  CsvReader reader(in);
  std::vector<std::string> header;
  Status st = reader.ReadHeader(&header);
  if (!st.ok()) return st.WithContext(options_.file);
  TANDEM_RETURN_IF_ERROR(ResolveColumns(header));
  const bool resuming = !options_.resume_job.empty();
  if (!resuming) {
    TANDEM_RETURN_IF_ERROR(CountRows());
    job_.updated_ms = NowMs();
    job_.checkpoint = cp_.Dump();
    TANDEM_RETURN_IF_ERROR(deps_.store.PutJob(job_));
  }
  logger_->info("job {}: {} {} rows of {} ({}){}", job_.id, resuming ? "resuming" : "migrating",
                job_.total, options_.file, DirectionName(options_.direction),
                resuming ? " from row " + std::to_string(cp_.next_row) : "");
  ResultFiles files;
  TANDEM_RETURN_IF_ERROR(
      ResultFiles::Open(output_dir_, header, resuming ? &cp_.sizes : nullptr, &files));
  files.SetCounts(cp_.counts.succeeded, cp_.counts.failed);
  TANDEM_RETURN_IF_ERROR(BuildIndexes());

  int64_t rows_done = cp_.next_row - 1;
  const int64_t cp_before = rows_done;
  CsvRecord rec;
  Status csv_error;
  bool more = true, interrupted = false;
  while (more) {
    std::vector<Row> chunk;
    while (chunk.size() < options_.batch_size) {
      csv_error = Status::Ok();
      if (!reader.Next(&rec, &csv_error)) {
        more = false;
        break;
      }
      if (rec.number <= rows_done) continue;  // done before the resume
      chunk.emplace_back();
      ParseRow(rec, csv_error, &chunk.back());
    }
    if (chunk.empty()) break;
    TANDEM_RETURN_IF_ERROR(ProcessChunk(chunk));
    std::vector<RowResult> results;
    results.reserve(chunk.size());
    for (Row& r : chunk)
      results.push_back(RowResult{r.row, std::move(r.fields), r.plan != Plan::kFailed, r.crm_id,
                                  r.billing_id, r.status, r.error});
    TANDEM_RETURN_IF_ERROR(files.WriteChunk(std::move(results)));
    rows_done = chunk.back().row;
    TANDEM_RETURN_IF_ERROR(Checkpointed(rows_done, files));
    if (deps_.crash) deps_.crash->Hit("migration.after_checkpoint");
    if (progress) progress({rows_done, job_.total, files.succeeded(), files.failed(), cp_before});
    if (options_.stop && options_.stop->load() && more) {
      interrupted = true;
      break;
    }
  }
  job_.state = interrupted ? "interrupted" : "done";
  job_.updated_ms = NowMs();
  TANDEM_RETURN_IF_ERROR(deps_.store.PutJob(job_));
  if (!interrupted) TANDEM_RETURN_IF_ERROR(deps_.store.DropMatchKeys(job_.id));

  MigrationSummary s = cp_.counts;
  s.job_id = job_.id;
  s.output_dir = output_dir_;
  s.state = job_.state;
  s.rows = rows_done;
  s.succeeded = files.succeeded();
  s.failed = files.failed();
  logger_->info(
      "job {} {}: {} rows, {} succeeded, {} failed ({} created in billing, {} created in the "
      "CRM, {} matched, {} already linked, {} invalid, {} duplicates, {} ambiguous, {} "
      "unmatched, {} write failures)",
      s.job_id, s.state, s.rows, s.succeeded, s.failed, s.created_billing, s.created_crm, s.matched,
      s.already_linked, s.invalid, s.duplicates, s.ambiguous, s.unmatched, s.write_failed);
  return s;
}

}  // namespace

const char* DirectionName(Direction d) {
  switch (d) {
    case Direction::kCrmToBilling:
      return "crm-to-billing";
    case Direction::kBillingToCrm:
      return "billing-to-crm";
    case Direction::kLinkOnly:
      return "link-only";
  }
  return "?";
}

Result<Direction> ParseDirection(const std::string& text) {
  for (Direction d : {Direction::kCrmToBilling, Direction::kBillingToCrm, Direction::kLinkOnly})
    if (text == DirectionName(d)) return d;
  return Status::InvalidArgument(
      "--direction must be crm-to-billing, billing-to-crm or "
      "link-only, not '" +
      text + "'");
}

Migrator::Migrator(MigrationDeps deps) : deps_(deps) {}

Result<MigrationSummary> Migrator::Run(const MigrationOptions& options,
                                       const ProgressFn& progress) {
  const mapping::ObjectMap* map = deps_.mapping.Find(options.object);
  if (!map)
    return Status::InvalidArgument("no object map '" + options.object + "' in " +
                                   deps_.mapping.source);
  if (map->billing == "subscription" && options.direction != Direction::kBillingToCrm)
    return Status::InvalidArgument(
        "subscriptions are recorded from billing into the CRM: use --direction billing-to-crm");
  if (map->billing != "customer" && map->billing != "subscription")
    return Status::InvalidArgument(
        "object map '" + map->name + "' maps to billing " + map->billing +
        "; migration loads customers (account, contact) and subscriptions");
  if (options.batch_size == 0 || options.batch_size > 100000)
    return Status::InvalidArgument("--batch-size must be 1..100000");
  if (options.concurrency < 1 || options.concurrency > 64)
    return Status::InvalidArgument("--concurrency must be 1..64");
  class Run run(deps_, options, *map);
  return run.Execute(progress);
}

Result<store::Job> MigrationStatus(store::Store& store, const std::string& job_id) {
  auto job = store.GetJob(job_id);
  if (!job.ok()) return job.status();
  if (!job->has_value() || (*job)->kind != kJobKind)
    return Status::NotFound("no migration job '" + job_id + "'");
  return **job;
}

}  // namespace tandem::migration
