// The sObject endpoints: the list of objects, describe, and one record's create, read, update,
// delete and upsert by external id.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

Reply Handler::SObjects(const Segments& seg) {
  // seg: services data vXX sobjects [Object [id|describe|ExtField [value]]]
  if (seg.size() == 4) return JsonReply(200, DescribeGlobal());
  Table* table = s_.FindTable(seg[4]);
  if (!table) return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 5) {
    if (method_ == "POST") return CreateRecord(table);
    if (method_ == "GET") {
      value v = value::object();
      v["objectDescribe"] = Describe(*table->def);
      v["recentItems"] = value::array();
      return JsonReply(200, v);
    }
    return Errors(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed");
  }
  if (seg.size() == 6 && seg[5] == "describe") return JsonReply(200, Describe(*table->def));
  if (seg.size() == 6) return Record(table, seg[5]);
  if (seg.size() == 7 && method_ == "PATCH") return UpsertRecord(table, seg[5], seg[6]);
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::CreateRecord(Table* table) {
  value input;
  if (auto bad = ParseBody(&input)) return *bad;
  SaveOutcome out = s_.Create(*table, input);
  if (!out.success) return JsonReply(400, ErrorList(out.errors, false));
  return JsonReply(201, SaveJson(out, false));
}

// GET, PATCH or DELETE of one record by its id.
Reply Handler::Record(Table* table, const std::string& raw_id) {
  const std::string id = NormalizeId(raw_id);
  auto it = id.empty() ? table->by_id.end() : table->by_id.find(id);
  if (method_ == "GET") {
    if (it == table->by_id.end())
      return Errors(404, "NOT_FOUND", "The requested resource does not exist");
    return GetRecord(table, it->second);
  }
  if (method_ == "PATCH") {
    if (it == table->by_id.end())
      return Errors(404, "NOT_FOUND", "The requested resource does not exist");
    value input;
    if (auto bad = ParseBody(&input)) return *bad;
    SaveOutcome out = s_.Update(*table, id, input);
    if (!out.success) return JsonReply(400, ErrorList(out.errors, false));
    return Reply{204, "", "application/json;charset=UTF-8"};
  }
  if (method_ == "DELETE") {
    if (it == table->by_id.end()) return Errors(404, "ENTITY_IS_DELETED", "entity is deleted");
    s_.Delete(*table, id);
    return Reply{204, "", "application/json;charset=UTF-8"};
  }
  return Errors(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed");
}

// One record with the fields asked for (?fields=a,b), all of them by default.
Reply Handler::GetRecord(Table* table, const value& record) {
  std::vector<std::string> fields;
  const std::string list = QueryParam("fields");
  if (list.empty()) {
    for (const auto& f : table->def->fields) fields.push_back(f.name);
  } else {
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      const std::string f = list.substr(start, comma - start);
      if (!table->def->Field(f))
        return Errors(400, "INVALID_FIELD",
                      "No such column '" + f + "' on sobject of type " + table->def->name);
      fields.push_back(f);
      start = comma + 1;
    }
  }
  return JsonReply(200, s_.Render(*table, record, fields));
}

Reply Handler::UpsertRecord(Table* table, const std::string& ext_field,
                            const std::string& ext_value) {
  value input;
  if (auto bad = ParseBody(&input)) return *bad;
  SaveOutcome out = s_.Upsert(*table, ext_field, ext_value, input);
  if (!out.success) {
    if (!out.errors.empty() && out.errors.front().code == "MULTIPLE_CHOICES") {
      value arr = value::array();
      return JsonReply(300, arr);
    }
    return JsonReply(out.errors.front().code == "INVALID_FIELD" ? 404 : 400,
                     ErrorList(out.errors, false));
  }
  return JsonReply(out.created ? 201 : 200, SaveJson(out, true));
}

}  // namespace tandem::sandbox::salesforce
