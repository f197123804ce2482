// Reading the file: its header resolved to the CRM's fields, its rows counted, and the next
// chunk of rows read and parsed.
#include <fstream>
#include <sstream>

#include "migration/run.h"

namespace tandem::migration::internal {

Status Run::ResolveColumns(const std::vector<std::string>& header) {
  header_ = header;
  auto describe = deps_.crm.Describe(map_.crm);
  if (!describe.ok()) return describe.status().WithContext("describe " + map_.crm);
  std::map<std::string, std::string> by_lower;  // field names are case-insensitive
  for (const auto& f : (*describe)["fields"].array()) {
    by_lower[Lower(f["name"].as_string())] = f["name"].as_string();
    describe_fields_[f["name"].as_string()] = f;
  }
  SdlMap sdl;
  const std::map<std::string, std::string>& column_to_field = sdl.column_to_field;
  if (!options_.column_map.empty()) {
    std::ifstream in(options_.column_map, std::ios::binary);
    if (!in) return Status::InvalidArgument("cannot read the column map " + options_.column_map);
    std::stringstream text;
    text << in.rdbuf();
    Status st = ParseSdl(text.str(), &sdl);
    if (!st.ok()) return st.WithContext(options_.column_map);
    // A line naming a column the file lacks is a mapping made for another file: loading
    // without it would leave that field empty on every record, silently.
    const std::set<std::string> in_header(header.begin(), header.end());
    for (const auto& [column, field] : column_to_field)
      if (!in_header.count(column))
        return Status::InvalidArgument(options_.column_map + " line " +
                                       std::to_string(sdl.line_of_column.at(column)) +
                                       ": column '" + column + "' (for " + field + ") is not in " +
                                       options_.file + "'s header");
  }
  std::set<std::string> taken;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string field;
    if (header[i] == kDistinctColumn) {  // Tandem's own column, no CRM field
      distinct_column_ = static_cast<int>(i);
      field_of_column_.push_back("");
      continue;
    }
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
  for (SdlMap::Constant c : sdl.constants) {
    const std::string where = options_.column_map + " line " + std::to_string(c.line) + ": ";
    auto known = by_lower.find(Lower(c.field));
    if (known == by_lower.end())
      return Status::InvalidArgument(where + "constant for " + map_.crm + "." + c.field +
                                     ", which the CRM does not have");
    c.field = known->second;
    if (c.field == "Id" || (!map_.link.billing_id.empty() && c.field == map_.link.billing_id))
      return Status::InvalidArgument(where + "a constant " + c.field +
                                     " would make every row one record");
    if (!taken.insert(c.field).second)
      return Status::InvalidArgument(where + map_.crm + "." + c.field +
                                     " is given by a column and a constant, or twice");
    constants_.push_back(std::move(c));
  }
  return CheckDirectionColumns();
}

// The column the direction needs: the CRM id, the billing id, or one of them.
Status Run::CheckDirectionColumns() const {
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

// Reads and parses up to a batch of rows, skipping those done before a resume. Returns false
// once the file has no more rows.
bool Run::ReadChunk(CsvReader& reader, int64_t rows_done, size_t rows,
                    std::vector<Row>* chunk) const {
  CsvRecord rec;
  Status csv_error;
  while (chunk->size() < rows) {
    csv_error = Status::Ok();
    if (!reader.Next(&rec, &csv_error)) return false;
    if (rec.number <= rows_done) continue;  // done before the resume
    chunk->emplace_back();
    ParseRow(rec, csv_error, &chunk->back());
  }
  return true;
}

}  // namespace tandem::migration::internal
