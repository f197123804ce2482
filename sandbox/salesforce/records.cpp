// The tables of records: creating, updating, upserting by external id and deleting records,
// with their unique indexes.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

SalesforceSandbox::Impl::Impl(SalesforceSandboxOptions o, const Clock& c)
    : options(std::move(o)), clock(c) {
  schema = LoadSchema(options.schema_json.empty() ? kBuiltInSchema : options.schema_json);
  Reset();
}

void SalesforceSandbox::Impl::Reset() {
  tables.clear();
  for (const auto& def : schema) tables[Lower(def.name)].def = &def;
  locators.clear();
  jobs.clear();
}

Table* SalesforceSandbox::Impl::FindTable(const std::string& object) {
  auto it = tables.find(Lower(object));
  return it == tables.end() ? nullptr : &it->second;
}

void SalesforceSandbox::Impl::Index(Table& table, const value& record, const std::string& id,
                                    bool add) {
  for (const auto& f : table.def->fields) {
    if (!f.unique || !record.has_field(f.name) || !record.at(f.name).is_string()) continue;
    auto& index = table.unique[Lower(f.name)];
    const std::string key = f.Key(record.at(f.name).as_string());
    if (add)
      index[key] = id;
    else if (index.count(key) && index[key] == id)
      index.erase(key);
  }
}

SaveOutcome SalesforceSandbox::Impl::Create(Table& table, const value& input) {
  SaveOutcome out;
  value record = value::object();
  if (!Apply(table, input, true, "", &record, &out.errors)) return out;
  const std::string id = MakeId(table.def->key_prefix, ++seq);
  const std::string now = FormatDateTime(NowMs());
  record["Id"] = value::string(id);
  record["CreatedDate"] = value::string(now);
  record["LastModifiedDate"] = value::string(now);
  record["SystemModstamp"] = value::string(now);
  record["IsDeleted"] = value::boolean(false);
  Index(table, record, id, true);
  table.by_id[id] = record;
  table.order.push_back(id);
  out.success = true;
  out.created = true;
  out.id = id;
  return out;
}

SaveOutcome SalesforceSandbox::Impl::Update(Table& table, const std::string& raw_id,
                                            const value& input) {
  SaveOutcome out;
  const std::string id = NormalizeId(raw_id);
  auto it = id.empty() ? table.by_id.end() : table.by_id.find(id);
  if (it == table.by_id.end()) {
    out.errors.push_back(id.empty() ? SfError{"MALFORMED_ID", "malformed id " + raw_id, {"Id"}}
                                    : SfError{"ENTITY_IS_DELETED", "entity is deleted", {}});
    return out;
  }
  value record = it->second;
  if (!Apply(table, input, false, id, &record, &out.errors)) return out;
  record["LastModifiedDate"] = value::string(FormatDateTime(NowMs()));
  record["SystemModstamp"] = record["LastModifiedDate"];
  Index(table, it->second, id, false);
  Index(table, record, id, true);
  it->second = record;
  out.success = true;
  out.id = id;
  return out;
}

SaveOutcome SalesforceSandbox::Impl::Upsert(Table& table, const std::string& ext_field,
                                            const std::string& ext_value, value input) {
  SaveOutcome out;
  const FieldDef* f = table.def->Field(ext_field);
  if (!f || (!f->external_id && Lower(ext_field) != "id")) {
    out.errors.push_back(SfError{
        "INVALID_FIELD", "Field " + ext_field + " is not an external id field", {ext_field}});
    return out;
  }
  if (Lower(ext_field) == "id") return Update(table, ext_value, input);
  std::vector<std::string> matches;
  auto& index = table.unique[Lower(f->name)];
  if (auto hit = index.find(f->Key(ext_value)); hit != index.end()) matches.push_back(hit->second);
  if (!f->unique) {  // non-unique external ids can match several records
    matches.clear();
    for (const auto& [id, rec] : table.by_id)
      if (rec.has_field(f->name) && rec.at(f->name).is_string() &&
          f->Key(rec.at(f->name).as_string()) == f->Key(ext_value))
        matches.push_back(id);
  }
  if (matches.size() > 1) {
    out.errors.push_back(
        SfError{"MULTIPLE_CHOICES", "more than one record found for external id field", {f->name}});
    return out;
  }
  input[f->name] = value::string(ext_value);
  if (matches.empty()) return Create(table, input);
  SaveOutcome updated = Update(table, matches.front(), input);
  updated.created = false;
  return updated;
}

SaveOutcome SalesforceSandbox::Impl::Delete(Table& table, const std::string& raw_id) {
  SaveOutcome out;
  const std::string id = NormalizeId(raw_id);
  auto it = id.empty() ? table.by_id.end() : table.by_id.find(id);
  if (it == table.by_id.end()) {
    out.errors.push_back(SfError{"ENTITY_IS_DELETED", "entity is deleted", {}});
    return out;
  }
  Index(table, it->second, id, false);
  table.by_id.erase(it);
  out.success = true;
  out.id = id;
  return out;
}

Table* SalesforceSandbox::Impl::TableForId(const std::string& raw_id) {
  const std::string id = NormalizeId(raw_id);
  if (id.empty()) return nullptr;
  for (auto& [name, t] : tables)
    if (t.def->key_prefix == id.substr(0, 3)) return &t;
  return nullptr;
}

}  // namespace tandem::sandbox::salesforce
