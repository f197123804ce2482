// sObject Collections (composite/sobjects): create, update, upsert and delete up to 200 records
// in one request, each record with its own result; a lock fault fails single records.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

Reply Handler::Composite(const Segments& seg) {
  // seg: services data vXX composite sobjects [Object ExtField]
  if (seg.size() < 5 || seg[4] != "sobjects")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (method_ == "DELETE") return DeleteCollection();
  value body;
  if (auto bad = ParseBody(&body)) return *bad;
  if (!body.has_field("records") || !body.at("records").is_array())
    return Errors(400, "INVALID_FIELD", "records is required");
  const auto& records = body.at("records").as_array();
  if (records.size() > 200)
    return Errors(400, "EXCEEDED_ID_LIMIT", "Maximum number of records allowed is 200.");
  const bool upsert = seg.size() == 7;
  // Salesforce refuses a record named twice in one call (the same Id in an update, the same
  // external id in an upsert): every occurrence fails, none is written.
  std::map<std::string, int> named;
  auto name_of = [&](const value& rec) -> std::string {
    const std::string field = upsert ? seg[6] : (rec.has_field("Id") ? "Id" : "id");
    if (!rec.is_object() || !rec.has_field(field) || !rec.at(field).is_string()) return "";
    return rec.at(field).as_string();
  };
  if (method_ != "POST" || upsert)
    for (const auto& rec : records)
      if (auto n = name_of(rec); !n.empty()) ++named[n];
  value out = value::array();
  size_t i = 0;
  for (const auto& rec : records) {
    const std::string n = name_of(rec);
    if (!n.empty() && named[n] > 1) {
      SaveOutcome twice;
      twice.errors.push_back(
          SfError{"DUPLICATE_VALUE",
                  (upsert ? "Duplicate external id specified: " : "Duplicate id in list: ") + n,
                  {upsert ? seg[6] : "Id"}});
      out[i++] = SaveJson(twice, upsert);
      continue;
    }
    out[i++] = SaveJson(SaveCollectionRecord(rec, seg, upsert), upsert);
  }
  return JsonReply(200, out);
}

Reply Handler::DeleteCollection() {
  const std::string list = QueryParam("ids");
  std::vector<std::string> ids;
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    ids.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  if (ids.size() > 200)
    return Errors(400, "EXCEEDED_ID_LIMIT", "Maximum number of records allowed is 200.");
  value out = value::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    Table* t = s_.TableForId(ids[i]);
    SaveOutcome o;
    if (!t)
      o.errors.push_back(SfError{"MALFORMED_ID", "malformed id " + ids[i], {}});
    else
      o = s_.Delete(*t, ids[i]);
    if (o.id.empty()) o.id = ids[i];
    out[i] = SaveJson(o, false);
  }
  return JsonReply(200, out);
}

SaveOutcome Handler::SaveCollectionRecord(const value& rec, const Segments& seg, bool upsert) {
  SaveOutcome o;
  // A record-level lock fault fails this record without touching it.
  const bool locked =
      s_.faults
          .Take(method_, path_, [](const Fault& f) { return f.error_code == "UNABLE_TO_LOCK_ROW"; })
          .has_value();
  std::string type;
  if (rec.has_field("attributes") && rec.at("attributes").has_field("type"))
    type = rec.at("attributes").at("type").as_string();
  if (upsert) type = seg[5];
  Table* table = type.empty() ? nullptr : s_.FindTable(type);
  if (locked) {
    o.errors.push_back(
        SfError{"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", {}});
  } else if (!table) {
    o.errors.push_back(SfError{"INVALID_TYPE", "sObject type '" + type + "' is not supported", {}});
  } else if (upsert) {
    const FieldDef* f = table->def->Field(seg[6]);
    std::string ext;
    if (f && rec.has_field(f->name) && rec.at(f->name).is_string())
      ext = rec.at(f->name).as_string();
    if (!f)
      o.errors.push_back(SfError{"INVALID_FIELD", "No such column '" + seg[6] + "'", {seg[6]}});
    else if (ext.empty())
      o.errors.push_back(SfError{"MISSING_ARGUMENT", f->name + " not specified", {f->name}});
    else
      o = s_.Upsert(*table, seg[6], ext, rec);
  } else if (method_ == "POST") {
    if (rec.has_field("Id") || rec.has_field("id"))
      o.errors.push_back(SfError{"INVALID_FIELD", "cannot specify Id in an insert call", {"Id"}});
    else
      o = s_.Create(*table, rec);
  } else if (method_ == "PATCH") {
    std::string id;
    if (rec.has_field("Id"))
      id = rec.at("Id").as_string();
    else if (rec.has_field("id"))
      id = rec.at("id").as_string();
    if (id.empty())
      o.errors.push_back(SfError{"MISSING_ARGUMENT", "Id not specified in an update call", {"Id"}});
    else
      o = s_.Update(*table, id, rec);
  }
  return o;
}

}  // namespace tandem::sandbox::salesforce
