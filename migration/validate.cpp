// Validating: each row's values against the CRM's field types and the direction's ids, the
// source's own duplicates, and (crm-to-billing) that every row's CRM record exists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "connector/crm/soql.h"
#include "migration/match_keys.h"
#include "migration/run.h"
#include "util/parallel.h"

namespace tandem::migration::internal {
namespace {

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
  // The CRM counts characters, not bytes: a 38-character city with an umlaut fits in 40.
  const int64_t length = field["length"].as_int();
  if (length > 0) {
    const auto characters = std::count_if(value.begin(), value.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a continuation byte
    });
    if (characters > length)
      return "longer than the field's " + std::to_string(length) + " characters (" +
             std::to_string(characters) + ")";
  }
  return "";
}

}  // namespace

void Run::ParseRow(const CsvRecord& rec, const Status& csv_error, Row* row) const {
  row->row = rec.number;
  row->line = rec.line;
  row->fields = rec.fields;
  const std::string at = "line " + std::to_string(rec.line);
  if (!csv_error.ok()) {
    row->error = csv_error.message();
    return;
  }
  if (rec.fields.size() != file_columns_) {
    row->error = at + ": " + std::to_string(rec.fields.size()) + " fields, the header has " +
                 std::to_string(file_columns_);
    // error.csv has the header's columns: what does not fit is kept here, not lost.
    if (rec.fields.size() > file_columns_) {
      row->error += " (beyond the header:";
      for (size_t i = file_columns_; i < rec.fields.size(); ++i)
        row->error += (i == file_columns_ ? " " : " | ") + rec.fields[i];
      row->error += ")";
    }
    return;
  }
  row->fields.resize(header_.size());  // a fed-back result file's own columns are not carried
  row->distinct = options_.distinct;
  if (distinct_column_ >= 0) {
    const std::string v = Lower(rec.fields[static_cast<size_t>(distinct_column_)]);
    if (v == "true" || v == "yes" || v == "1" || v == "x" || v == "y") {
      row->distinct = true;
    } else if (!v.empty() && v != "false" && v != "no" && v != "0") {
      row->error = at + ", column " + std::string(kDistinctColumn) + ": '" +
                   rec.fields[static_cast<size_t>(distinct_column_)] +
                   "' is not true or false (true, yes, y, 1 or x mark the row as its own record)";
      return;
    }
  }
  for (size_t i = 0; i < header_.size(); ++i) {
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
  for (const auto& c : constants_) {
    const Json& desc = describe_fields_.at(c.field);
    const std::string why = CheckValue(desc["type"].as_string(), c.value, desc);
    if (!why.empty()) {
      row->error = options_.column_map + " line " + std::to_string(c.line) + ", constant for " +
                   c.field + ": " + why;
      return;
    }
    row->record.Set(c.field, c.value);
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
  row->mapped =
      mapping::ApplyToBilling(map_, row->record, options_.direction != Direction::kLinkOnly);
  if (!row->mapped.ok()) {
    std::string column = row->mapped.failed_field;
    for (size_t i = 0; i < header_.size(); ++i)
      if (field_of_column_[i] == row->mapped.failed_field) column = header_[i];
    row->error = at + ", column " + column + ": " + row->mapped.reason;
    return;
  }
  if (!row->distinct) row->keys = CustomerKeys(row->mapped.payload);
  row->plan = Plan::kMatched;  // provisional: valid so far
}

// The source's own duplicates: a row sharing an id or a customer key with an earlier row
// (in this chunk or any before) is reported, not written. Keys live in the store.
namespace {

// A row as its duplicate check sees it: its number and every key, in one stored reference.
std::string SourceRef(int64_t row, const std::vector<std::string>& keys) {
  std::string ref = std::to_string(row);
  for (const auto& k : keys) ref += "\t" + k;
  return ref;
}

// The key two rows share that makes one a duplicate of the other, "" when none does: an id
// always; else the strongest kind of key both rows have decides — two John Smiths with
// different e-mails are two people, two rows with one e-mail one, whatever their names.
std::string SharedKey(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& k : a)
    if ((k.rfind("crm:", 0) == 0 || k.rfind("billing:", 0) == 0) &&
        std::find(b.begin(), b.end(), k) != b.end())
      return k;
  for (const char* kind : {"email:", "domain:", "name:"}) {
    const std::string x = KeyOfKind(a, kind), y = KeyOfKind(b, kind);
    if (x.empty() || y.empty()) continue;
    return x == y ? x : "";
  }
  return "";
}

}  // namespace

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
    const std::vector<std::string> k = row_keys(r);
    const std::string ref = SourceRef(r.row, k);
    for (const auto& key : k) {
      keys.push_back({key, ref});
      lookup.push_back(key);
    }
  }
  TANDEM_RETURN_IF_ERROR(deps_.store.AddMatchKeys(job_.id, "source", keys));
  auto found = deps_.store.FindMatchKeys(job_.id, "source", lookup);
  if (!found.ok()) return found.status();
  // Rows that have any of the chunk's keys, by key: their number and all their keys.
  std::map<std::string, std::vector<std::pair<int64_t, std::vector<std::string>>>> holders;
  for (const auto& m : *found) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t tab; (tab = m.ref.find('\t', start)) != std::string::npos; start = tab + 1)
      parts.push_back(m.ref.substr(start, tab - start));
    parts.push_back(m.ref.substr(start));
    const int64_t row = std::stoll(parts[0]);
    holders[m.key].emplace_back(row, std::vector<std::string>(parts.begin() + 1, parts.end()));
  }
  for (Row& r : rows) {
    if (r.plan == Plan::kFailed) continue;
    const std::vector<std::string> mine = row_keys(r);
    int64_t first = 0;
    std::string shared;
    for (const auto& k : mine)
      for (const auto& [row, theirs] : holders[k]) {
        if (row >= r.row || (first != 0 && row >= first)) continue;
        const std::string why = SharedKey(mine, theirs);
        if (why.empty()) continue;
        first = row;
        shared = why;
      }
    if (first == 0) continue;
    const std::string kind = shared.substr(0, shared.find(':'));
    const std::string value = kind == "crm" ? "CRM id '" + r.crm_id + "'"
                              : kind == "billing"
                                  ? "billing id '" + r.billing_id + "'"
                                  : kind + " '" + shared.substr(shared.find(':') + 1) + "'";
    Fail(r,
         "duplicate of row " + std::to_string(first) + " in this file (same " + value +
             (kind == "crm" || kind == "billing" ? "" : "; mark the row DISTINCT if it is not") +
             ")",
         &MigrationSummary::duplicates);
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
  // Every field the mapping sends to billing: the file need not carry them (an export
  // rarely has every column), and where it does the CRM's value is the one billing gets.
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map_);
  if (std::find(fields.begin(), fields.end(), "Id") == fields.end())
    fields.insert(fields.begin(), "Id");
  if (!map_.link.billing_id.empty() &&
      std::find(fields.begin(), fields.end(), map_.link.billing_id) == fields.end())
    fields.push_back(map_.link.billing_id);
  std::vector<std::string> queries;
  for (size_t start = 0; start < ids.size(); start += kIdsPerQuery) {
    std::vector<std::string> part(
        ids.begin() + static_cast<long>(start),
        ids.begin() + static_cast<long>(std::min(ids.size(), start + kIdsPerQuery)));
    auto soql = connector::crm::SoqlBuilder(map_.crm, fields).WhereIn("Id", part).Build();
    if (!soql.ok()) return soql.status();
    queries.push_back(std::move(*soql));
  }
  // Several at once, as many as the CRM's client asks for: one after another, a chunk's 25
  // reads took 7.5 s at Salesforce's 300 ms while billing waited.
  std::mutex mu;
  Status failed;
  ParallelForLimited(
      queries.size(), kCrmReadsAtOnce, [&] { return deps_.crm.PreferredInFlight(); },
      [&](size_t q) {
        std::map<std::string, Json> part;
        Status st = deps_.crm.Query(queries[q], [&](const Json& r) {
          part[Id15(r["Id"].as_string())] = r;
          return Status::Ok();
        });
        std::lock_guard<std::mutex> lock(mu);
        if (!st.ok() && failed.ok()) failed = st;
        found.merge(part);
      });
  TANDEM_RETURN_IF_ERROR(failed);
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
    TakeCrmRecord(r, it->second);
  }
  return Status::Ok();
}

namespace {
// The file's text and the CRM's typed value say the same: numbers as numbers, booleans as
// booleans, datetimes to the second (an export writes them its own way).
bool SameValue(const std::string& file, const Json& crm) {
  const std::string c = crm.ToText();
  if (file == c) return true;
  if (crm.is_null() || c.empty()) return file.empty();
  if (crm.is_bool()) {
    const std::string f = Lower(file);
    return (f == "true" || f == "1" || f == "yes") == crm.as_bool();
  }
  if (crm.is_number()) {
    char* end = nullptr;
    const double v = std::strtod(file.c_str(), &end);
    return end != file.c_str() && *end == '\0' && std::fabs(v - crm.as_number()) < 1e-9;
  }
  if (file.size() >= 19 && c.size() >= 19 && file[10] == 'T' && c[10] == 'T')
    return file.compare(0, 19, c, 0, 19) == 0;
  return false;
}
}  // namespace

void Run::TakeCrmRecord(Row& r, const Json& crm_record) {
  // The CRM's record, with the file's values over it: what the file does not carry comes
  // from the CRM, and what it carries differently is written to the CRM too (with the link
  // fields), so both systems hold the same when the load ends.
  Json record = crm_record;
  record.Erase("attributes");
  for (const auto& [field, value] : r.record.object()) {
    if (field == "Id") continue;
    // Only fields the mapping reads (and so writes): a column such as CreatedDate or OwnerId
    // in an export is not the CRM's to be set from a file.
    if (field != map_.link.billing_id && crm_record.Has(field) &&
        !SameValue(value.ToText(), crm_record[field]))
      r.file_differs.push_back(field);
    record.Set(field, value);
  }
  r.record = std::move(record);
  r.mapped = mapping::ApplyToBilling(map_, r.record);
  if (!r.mapped.ok()) {
    Fail(r, "with the CRM's record: " + r.mapped.reason, &MigrationSummary::invalid);
    return;
  }
  if (!r.distinct) r.keys = CustomerKeys(r.mapped.payload);
}

}  // namespace tandem::migration::internal
