#include "sandbox/salesforce/salesforce_sandbox.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <ctime>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <cpprest/http_listener.h>
#include <cpprest/json.h>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/faults/listener.h"
#include "sandbox/salesforce/soql_parser.h"
#include "util/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/socket.h>

namespace tandem::sandbox::salesforce {

extern const char* kBuiltInSchema;  // schema_embedded.cpp, generated from schema.json

namespace {

namespace wh = web::http;
using web::json::value;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---------------------------------------------------------------------------------------
// Errors in Salesforce's shapes.

struct SfError {
  std::string code;
  std::string message;
  std::vector<std::string> fields;
};

value ErrorList(const std::vector<SfError>& errors, bool status_code_key) {
  value arr = value::array();
  size_t i = 0;
  for (const auto& e : errors) {
    value o = value::object();
    o[status_code_key ? "statusCode" : "errorCode"] = value::string(e.code);
    o["message"] = value::string(e.message);
    value f = value::array();
    for (size_t k = 0; k < e.fields.size(); ++k) f[k] = value::string(e.fields[k]);
    o["fields"] = f;
    arr[i++] = o;
  }
  return arr;
}

// ---------------------------------------------------------------------------------------
// Schema.

struct FieldDef {
  std::string name;
  std::string type;
  int length = 0;
  bool required = false;
  bool unique = false;
  bool external_id = false;
  bool system = false;  // Id, CreatedDate, ...: not createable or updateable
  bool restricted = true;
  bool case_sensitive =
      false;  // unique/external id values: Salesforce compares them ignoring case unless set

  std::string Key(const std::string& v) const { return case_sensitive ? v : Lower(v); }
  std::vector<std::string> values;
  std::string reference_to;
  std::string relationship_name;
};

struct ObjectDef {
  std::string name;
  std::string key_prefix;
  std::vector<FieldDef> fields;
  std::unordered_map<std::string, size_t> by_lower;  // lower-case name → index
  std::unordered_map<std::string, size_t> by_relationship;

  const FieldDef* Field(const std::string& field) const {
    auto it = by_lower.find(Lower(field));
    return it == by_lower.end() ? nullptr : &fields[it->second];
  }
  const FieldDef* Relationship(const std::string& relationship) const {
    auto it = by_relationship.find(Lower(relationship));
    return it == by_relationship.end() ? nullptr : &fields[it->second];
  }
};

std::vector<ObjectDef> LoadSchema(const std::string& text) {
  const value root = value::parse(text);
  std::vector<ObjectDef> out;
  for (const auto& o : root.at("objects").as_array()) {
    ObjectDef def;
    def.name = o.at("name").as_string();
    def.key_prefix = o.at("keyPrefix").as_string();
    auto add_system = [&](const char* name, const char* type) {
      FieldDef f;
      f.name = name;
      f.type = type;
      f.system = true;
      def.fields.push_back(f);
    };
    add_system("Id", "id");
    add_system("CreatedDate", "datetime");
    add_system("LastModifiedDate", "datetime");
    add_system("SystemModstamp", "datetime");
    add_system("IsDeleted", "boolean");
    for (const auto& fj : o.at("fields").as_array()) {
      FieldDef f;
      f.name = fj.at("name").as_string();
      f.type = fj.at("type").as_string();
      if (fj.has_field("length")) f.length = fj.at("length").as_integer();
      if (fj.has_field("required")) f.required = fj.at("required").as_bool();
      if (fj.has_field("unique")) f.unique = fj.at("unique").as_bool();
      if (fj.has_field("externalId")) f.external_id = fj.at("externalId").as_bool();
      if (fj.has_field("restricted")) f.restricted = fj.at("restricted").as_bool();
      if (fj.has_field("caseSensitive")) f.case_sensitive = fj.at("caseSensitive").as_bool();
      if (fj.has_field("values"))
        for (const auto& v : fj.at("values").as_array()) f.values.push_back(v.as_string());
      if (fj.has_field("referenceTo")) f.reference_to = fj.at("referenceTo").as_string();
      if (fj.has_field("relationshipName"))
        f.relationship_name = fj.at("relationshipName").as_string();
      def.fields.push_back(f);
    }
    for (size_t i = 0; i < def.fields.size(); ++i) {
      def.by_lower[Lower(def.fields[i].name)] = i;
      if (!def.fields[i].relationship_name.empty())
        def.by_relationship[Lower(def.fields[i].relationship_name)] = i;
    }
    out.push_back(std::move(def));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Ids: 15 characters (3-char key prefix, 12 of sequence), plus Salesforce's 3-character
// case-safe suffix.

std::string IdSuffix(const std::string& id15) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  std::string suffix;
  for (int chunk = 0; chunk < 3; ++chunk) {
    int bits = 0;
    for (int j = 0; j < 5; ++j) {
      const char c = id15[static_cast<size_t>(chunk * 5 + j)];
      if (c >= 'A' && c <= 'Z') bits |= 1 << j;
    }
    suffix.push_back(kAlphabet[bits]);
  }
  return suffix;
}

std::string MakeId(const std::string& prefix, int64_t seq) {
  static const char* kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string body(12, '0');
  body[0] = '5';  // a "pod" character, as real ids carry
  for (int i = 11; i > 0 && seq > 0; --i) {
    body[static_cast<size_t>(i)] = kDigits[seq % 62];
    seq /= 62;
  }
  const std::string id15 = prefix.substr(0, 3) + body;
  return id15 + IdSuffix(id15);
}

// An 18-character id for any 15- or 18-character input; "" when malformed.
std::string NormalizeId(const std::string& id) {
  if (id.size() != 15 && id.size() != 18) return "";
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c))) return "";
  const std::string id15 = id.substr(0, 15);
  return id15 + IdSuffix(id15);
}

// ---------------------------------------------------------------------------------------
// Time.

std::string FormatDateTime(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// ---------------------------------------------------------------------------------------
// CSV (the sandbox's own reader and writer).

std::vector<std::vector<std::string>> ReadCsv(const std::string& text, bool* ok) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  *ok = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
      any = false;
    } else {
      field.push_back(c);
      any = true;
    }
  }
  if (quoted) *ok = false;
  if (any || !field.empty() || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string CsvCell(const std::string& v, bool always_quote) {
  if (!always_quote && v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------
// State.

struct Table {
  const ObjectDef* def = nullptr;
  std::unordered_map<std::string, value> by_id;
  std::vector<std::string> order;  // insertion order; deleted ids are skipped
  // unique field (lower) → value (lower) → id
  std::unordered_map<std::string, std::unordered_map<std::string, std::string>> unique;
};

struct Locator {
  std::string object;
  std::vector<std::string> fields;
  std::vector<std::string> ids;
  size_t next = 0;
  int page_size = 2000;
  int64_t total = 0;
};

struct BulkJob {
  std::string id, object, operation, external_id_field, state = "Open";
  std::string csv;
  std::string successful, failed, unprocessed;
  int64_t processed = 0, failures = 0;
  int64_t created_ms = 0;
};

struct SaveOutcome {
  bool success = false;
  bool created = false;
  std::string id;
  std::vector<SfError> errors;
};

}  // namespace

struct SalesforceSandbox::Impl {
  SalesforceSandboxOptions options;
  const Clock& clock;
  std::vector<ObjectDef> schema;
  ListenerPtr listener;
  DropProxy proxy;  // the public port; the listener sits behind it on a private one
  int port = 0;

  mutable std::mutex mu;
  std::unordered_map<std::string, Table> tables;  // by lower-case object name
  int64_t seq = 0;
  std::set<std::string> tokens;
  int64_t token_seq = 0;
  std::unordered_map<std::string, Locator> locators;
  int64_t locator_seq = 0;
  std::unordered_map<std::string, BulkJob> jobs;
  int64_t job_seq = 0;
  FaultSet faults;
  int64_t api_used = 0;
  std::map<std::string, int64_t> by_endpoint;

  Impl(SalesforceSandboxOptions o, const Clock& c) : options(std::move(o)), clock(c) {
    schema = LoadSchema(options.schema_json.empty() ? kBuiltInSchema : options.schema_json);
    Reset();
  }

  void Reset() {
    tables.clear();
    for (const auto& def : schema) tables[Lower(def.name)].def = &def;
    locators.clear();
    jobs.clear();
  }

  int64_t NowMs() const { return ToEpochMillis(clock.Now()); }

  Table* FindTable(const std::string& object) {
    auto it = tables.find(Lower(object));
    return it == tables.end() ? nullptr : &it->second;
  }

  // ---- values ----

  // Checks and converts one input value for a field. Returns false with an error.
  bool ConvertValue(const FieldDef& f, const value& in, value* out, SfError* err) {
    auto bad_type = [&](const std::string& expected) {
      *err = SfError{"INVALID_TYPE_ON_FIELD_IN_RECORD",
                     f.name + ": value not of required type: " + in.serialize() + " (expected " +
                         expected + ")",
                     {f.name}};
      return false;
    };
    if (in.is_null()) {
      if (f.required) {
        *err = SfError{
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [" + f.name + "]", {f.name}};
        return false;
      }
      *out = value::null();
      return true;
    }
    const std::string& t = f.type;
    if (t == "boolean") {
      if (in.is_boolean()) {
        *out = in;
        return true;
      }
      if (in.is_string() && (Lower(in.as_string()) == "true" || Lower(in.as_string()) == "false")) {
        *out = value::boolean(Lower(in.as_string()) == "true");
        return true;
      }
      return bad_type("boolean");
    }
    if (t == "int" || t == "double" || t == "currency" || t == "percent") {
      double d;
      if (in.is_number()) {
        d = in.as_double();
      } else if (in.is_string()) {
        char* end = nullptr;
        d = std::strtod(in.as_string().c_str(), &end);
        if (in.as_string().empty() || *end != '\0') return bad_type("number");
      } else {
        return bad_type("number");
      }
      if (!std::isfinite(d)) return bad_type("number");
      *out = value::number(d);
      return true;
    }
    if (!in.is_string()) return bad_type(t);
    const std::string s = in.as_string();
    if (t == "date" || t == "datetime") {
      bool is_date = false;
      int64_t ms = 0;
      if (!ParseSoqlDateTime(s, &is_date, &ms) || (t == "date" && !is_date)) {
        *err = SfError{"INVALID_TYPE_ON_FIELD_IN_RECORD",
                       f.name + ": value not of required type: " + s,
                       {f.name}};
        return false;
      }
      *out = value::string(t == "date" ? s : FormatDateTime(ms));
      return true;
    }
    if (t == "reference") {
      const std::string id = NormalizeId(s);
      Table* target = FindTable(f.reference_to);
      if (id.empty() || !target || !target->by_id.count(id)) {
        *err = SfError{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id: " + s, {f.name}};
        return false;
      }
      *out = value::string(id);
      return true;
    }
    if (t == "picklist") {
      if (f.restricted && std::find(f.values.begin(), f.values.end(), s) == f.values.end()) {
        *err = SfError{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                       f.name + ": bad value for restricted picklist field: " + s,
                       {f.name}};
        return false;
      }
    }
    if (t == "email" && !s.empty()) {
      const auto at = s.find('@');
      if (at == std::string::npos || at == 0 || s.find('.', at) == std::string::npos ||
          s.find(' ') != std::string::npos) {
        *err = SfError{"INVALID_EMAIL_ADDRESS", f.name + ": invalid email address: " + s, {f.name}};
        return false;
      }
    }
    if (f.length > 0 && static_cast<int>(s.size()) > f.length) {
      *err = SfError{"STRING_TOO_LONG",
                     f.name + ": data value too large: " + s.substr(0, 40) +
                         " (max length=" + std::to_string(f.length) + ")",
                     {f.name}};
      return false;
    }
    *out = value::string(s);
    return true;
  }

  // Validates `input` against the table and applies it to `record` (new when create).
  // Unique indexes are checked here and updated by the caller through Commit().
  bool Apply(Table& table, const value& input, bool create, const std::string& own_id,
             value* record, std::vector<SfError>* errors) {
    const ObjectDef& def = *table.def;
    if (!input.is_object()) {
      errors->push_back(SfError{"JSON_PARSER_ERROR", "a record must be a JSON object", {}});
      return false;
    }
    for (const auto& kv : input.as_object()) {
      const std::string& name = kv.first;
      if (name == "attributes") continue;
      if (Lower(name) == "id" && !create) continue;  // the id of an update, not a change
      const FieldDef* f = def.Field(name);
      if (!f) {
        errors->push_back(SfError{"INVALID_FIELD",
                                  "No such column '" + name + "' on sobject of type " + def.name,
                                  {name}});
        continue;
      }
      if (f->system) {
        errors->push_back(SfError{"INVALID_FIELD_FOR_INSERT_UPDATE",
                                  "Unable to create/update fields: " + f->name +
                                      ". Please check the security settings of this field.",
                                  {f->name}});
        continue;
      }
      value converted;
      SfError err;
      if (!ConvertValue(*f, kv.second, &converted, &err)) {
        errors->push_back(err);
        continue;
      }
      if (f->unique && converted.is_string()) {
        auto& index = table.unique[Lower(f->name)];
        auto hit = index.find(f->Key(converted.as_string()));
        if (hit != index.end() && hit->second != own_id) {
          errors->push_back(SfError{"DUPLICATE_VALUE",
                                    "duplicate value found: " + f->name +
                                        " duplicates value on record with id: " + hit->second,
                                    {f->name}});
          continue;
        }
      }
      (*record)[f->name] = converted;
    }
    if (create) {
      std::vector<std::string> missing;
      for (const auto& f : def.fields)
        if (f.required && (!record->has_field(f.name) || record->at(f.name).is_null()))
          missing.push_back(f.name);
      if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ",") + m;
        errors->push_back(SfError{"REQUIRED_FIELD_MISSING",
                                  "Required fields are missing: [" + list + "]", missing});
      }
    }
    return errors->empty();
  }

  void Index(Table& table, const value& record, const std::string& id, bool add) {
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

  SaveOutcome Create(Table& table, const value& input) {
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

  SaveOutcome Update(Table& table, const std::string& raw_id, const value& input) {
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

  SaveOutcome Upsert(Table& table, const std::string& ext_field, const std::string& ext_value,
                     value input) {
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
    if (auto hit = index.find(f->Key(ext_value)); hit != index.end())
      matches.push_back(hit->second);
    if (!f->unique) {  // non-unique external ids can match several records
      matches.clear();
      for (const auto& [id, rec] : table.by_id)
        if (rec.has_field(f->name) && rec.at(f->name).is_string() &&
            f->Key(rec.at(f->name).as_string()) == f->Key(ext_value))
          matches.push_back(id);
    }
    if (matches.size() > 1) {
      out.errors.push_back(SfError{
          "MULTIPLE_CHOICES", "more than one record found for external id field", {f->name}});
      return out;
    }
    input[f->name] = value::string(ext_value);
    if (matches.empty()) return Create(table, input);
    SaveOutcome updated = Update(table, matches.front(), input);
    updated.created = false;
    return updated;
  }

  SaveOutcome Delete(Table& table, const std::string& raw_id) {
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

  Table* TableForId(const std::string& raw_id) {
    const std::string id = NormalizeId(raw_id);
    if (id.empty()) return nullptr;
    for (auto& [name, t] : tables)
      if (t.def->key_prefix == id.substr(0, 3)) return &t;
    return nullptr;
  }

  // ---- query ----

  // Resolves a (dotted) field of a record; nullopt for an unknown field.
  std::optional<value> ReadPath(const Table& table, const value& record, const std::string& path,
                                int depth = 0) {
    const auto dot = path.find('.');
    if (dot == std::string::npos) {
      const FieldDef* f = table.def->Field(path);
      if (!f) return std::nullopt;
      return record.has_field(f->name) ? record.at(f->name) : value::null();
    }
    if (depth > 5) return std::nullopt;
    const FieldDef* rel = table.def->Relationship(path.substr(0, dot));
    if (!rel) return std::nullopt;
    Table* target = FindTable(rel->reference_to);
    if (!target) return std::nullopt;
    if (!record.has_field(rel->name) || record.at(rel->name).is_null()) {
      // Validate the rest of the path even when the parent is empty.
      if (!ReadPath(*target, value::object(), path.substr(dot + 1), depth + 1)) return std::nullopt;
      return value::null();
    }
    auto parent = target->by_id.find(record.at(rel->name).as_string());
    if (parent == target->by_id.end()) return value::null();
    return ReadPath(*target, parent->second, path.substr(dot + 1), depth + 1);
  }

  SoqlValue ToSoql(const Table& table, const std::string& path, const value& v) {
    SoqlValue out;
    if (v.is_null()) return out;
    if (v.is_boolean()) {
      out.kind = SoqlLiteral::Kind::kBool;
      out.b = v.as_bool();
      return out;
    }
    if (v.is_number()) {
      out.kind = SoqlLiteral::Kind::kNumber;
      out.number = v.as_double();
      return out;
    }
    out.kind = SoqlLiteral::Kind::kString;
    out.text = v.is_string() ? v.as_string() : v.serialize();
    (void)table;
    (void)path;
    bool is_date = false;
    int64_t ms = 0;
    if (out.text.size() >= 10 && out.text[4] == '-' && ParseSoqlDateTime(out.text, &is_date, &ms)) {
      out.kind = is_date ? SoqlLiteral::Kind::kDate : SoqlLiteral::Kind::kDateTime;
      out.epoch_ms = ms;
    }
    return out;
  }

  value Attributes(const std::string& type, const std::string& id) {
    value a = value::object();
    a["type"] = value::string(type);
    a["url"] = value::string("/services/data/v61.0/sobjects/" + type + "/" + id);
    return a;
  }

  // The JSON of one record for the requested fields (relationships nested).
  value Render(const Table& table, const value& record, const std::vector<std::string>& fields) {
    value out = value::object();
    out["attributes"] = Attributes(table.def->name, record.at("Id").as_string());
    for (const auto& path : fields) {
      const auto dot = path.find('.');
      if (dot == std::string::npos) {
        const FieldDef* f = table.def->Field(path);
        out[f->name] = record.has_field(f->name) ? record.at(f->name) : value::null();
        continue;
      }
      const FieldDef* rel = table.def->Relationship(path.substr(0, dot));
      Table* target = FindTable(rel->reference_to);
      const std::string& rel_name = rel->relationship_name;
      if (!record.has_field(rel->name) || record.at(rel->name).is_null()) {
        out[rel_name] = value::null();
        continue;
      }
      auto parent = target->by_id.find(record.at(rel->name).as_string());
      if (parent == target->by_id.end()) {
        out[rel_name] = value::null();
        continue;
      }
      value nested = out.has_field(rel_name) && out.at(rel_name).is_object() ? out.at(rel_name)
                                                                             : value::object();
      value sub = Render(*target, parent->second, {path.substr(dot + 1)});
      for (const auto& kv : sub.as_object()) {
        if (kv.first == "attributes" && nested.has_field("attributes")) continue;
        nested[kv.first] = kv.second;
      }
      out[rel_name] = nested;
    }
    return out;
  }

  value Page(Locator& loc, const std::string& locator_id, const std::string& version) {
    Table* table = FindTable(loc.object);
    value records = value::array();
    size_t n = 0;
    while (loc.next < loc.ids.size() && static_cast<int>(n) < loc.page_size) {
      auto it = table->by_id.find(loc.ids[loc.next++]);
      if (it == table->by_id.end()) continue;  // deleted since the query ran
      records[n++] = Render(*table, it->second, loc.fields);
    }
    value out = value::object();
    out["totalSize"] = value::number(loc.total);
    const bool done = loc.next >= loc.ids.size();
    out["done"] = value::boolean(done);
    out["records"] = records;
    if (!done)
      out["nextRecordsUrl"] = value::string("/services/data/v" + version + "/query/" + locator_id +
                                            "-" + std::to_string(loc.next));
    return out;
  }

  // Runs a query; returns an HTTP status and body.
  std::pair<int, value> RunQuery(const std::string& soql, int page_size,
                                 const std::string& version) {
    auto malformed = [](const std::string& msg) {
      return std::make_pair(400, ErrorList({SfError{"MALFORMED_QUERY", msg, {}}}, false));
    };
    SoqlParseResult parsed = ParseSoql(soql);
    if (!parsed.query) return malformed(parsed.error);
    const SoqlQuery& q = *parsed.query;
    Table* table = FindTable(q.object);
    if (!table)
      return {
          400,
          ErrorList(
              {SfError{"INVALID_TYPE", "sObject type '" + q.object + "' is not supported.", {}}},
              false)};
    // Every field named anywhere must exist.
    std::vector<std::string> names = q.fields;
    for (const auto& o : q.order_by) names.push_back(o.field);
    std::function<void(const SoqlExpr&)> collect = [&](const SoqlExpr& e) {
      if (e.kind == SoqlExpr::Kind::kCompare) names.push_back(e.field);
      for (const auto& c : e.children) collect(*c);
    };
    if (q.where) collect(*q.where);
    for (const auto& n : names) {
      if (!ReadPath(*table, value::object(), n))
        return {400, ErrorList(
                         {SfError{"INVALID_FIELD",
                                  "No such column '" + n + "' on entity '" + table->def->name + "'",
                                  {}}},
                         false)};
    }
    std::vector<std::string> ids;
    // WHERE Id = / IN (...) at the top level reads those records only, as the real
    // query optimizer would use the primary key (a scan per query made big loads quadratic).
    const std::vector<std::string>* scan = &table->order;
    std::vector<std::string> by_key;
    const SoqlExpr* top = q.where.get();
    if (top && top->kind == SoqlExpr::Kind::kCompare && (top->op == "=" || top->op == "IN") &&
        Lower(top->field) == "id") {
      std::set<std::string> wanted;
      for (const auto& v : top->values)
        if (table->by_id.count(v.text)) wanted.insert(v.text);
      by_key.assign(wanted.begin(), wanted.end());  // ids sort in creation order
      scan = &by_key;
    }
    for (const auto& id : *scan) {
      auto it = table->by_id.find(id);
      if (it == table->by_id.end()) continue;
      const value& rec = it->second;
      if (q.where) {
        FieldReader reader = [&](const std::string& field) -> std::optional<SoqlValue> {
          auto v = ReadPath(*table, rec, field);
          if (!v) return std::nullopt;
          return ToSoql(*table, field, *v);
        };
        if (!EvaluateSoql(*q.where, reader)) continue;
      }
      ids.push_back(id);
    }
    if (!q.order_by.empty()) {
      std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
        for (const auto& o : q.order_by) {
          const SoqlValue va =
              ToSoql(*table, o.field, *ReadPath(*table, table->by_id.at(a), o.field));
          const SoqlValue vb =
              ToSoql(*table, o.field, *ReadPath(*table, table->by_id.at(b), o.field));
          const bool na = va.kind == SoqlLiteral::Kind::kNull,
                     nb = vb.kind == SoqlLiteral::Kind::kNull;
          if (na != nb) return o.nulls_first ? na : nb;
          const int c = CompareSoqlValues(va, vb);
          if (c != 0) return o.ascending ? c < 0 : c > 0;
        }
        return false;
      });
    }
    const size_t offset = static_cast<size_t>(q.offset.value_or(0));
    ids.erase(ids.begin(), ids.begin() + static_cast<long>(std::min(offset, ids.size())));
    if (q.limit && ids.size() > static_cast<size_t>(*q.limit))
      ids.resize(static_cast<size_t>(*q.limit));
    if (q.count_only) {
      value out = value::object();
      out["totalSize"] = value::number(static_cast<int64_t>(ids.size()));
      out["done"] = value::boolean(true);
      out["records"] = value::array();
      return {200, out};
    }
    const std::string locator_id = MakeId("01g", ++locator_seq);
    Locator loc;
    loc.object = table->def->name;
    loc.fields = q.fields;
    loc.total = static_cast<int64_t>(ids.size());
    loc.ids = std::move(ids);
    loc.page_size = page_size;
    value page = Page(loc, locator_id, version);
    if (loc.next < loc.ids.size()) locators[locator_id] = std::move(loc);
    return {200, page};
  }

  // ---- bulk ----

  value JobInfo(const BulkJob& j) {
    value o = value::object();
    o["id"] = value::string(j.id);
    o["operation"] = value::string(j.operation);
    o["object"] = value::string(j.object);
    o["createdById"] = value::string("005000000000001AAA");
    o["createdDate"] = value::string(FormatDateTime(j.created_ms));
    o["systemModstamp"] = value::string(FormatDateTime(NowMs()));
    o["state"] = value::string(j.state);
    if (!j.external_id_field.empty()) o["externalIdFieldName"] = value::string(j.external_id_field);
    o["concurrencyMode"] = value::string("Parallel");
    o["contentType"] = value::string("CSV");
    o["apiVersion"] = value::number(61.0);
    o["contentUrl"] = value::string("services/data/v61.0/jobs/ingest/" + j.id + "/batches");
    o["lineEnding"] = value::string("LF");
    o["columnDelimiter"] = value::string("COMMA");
    o["numberRecordsProcessed"] = value::number(j.processed);
    o["numberRecordsFailed"] = value::number(j.failures);
    return o;
  }

  void ProcessJob(BulkJob& job) {
    bool ok = true;
    auto rows = ReadCsv(job.csv, &ok);
    std::string header_line;
    std::vector<std::string> header = rows.empty() ? std::vector<std::string>{} : rows.front();
    for (size_t i = 0; i < header.size(); ++i)
      header_line += (i ? "," : "") + CsvCell(header[i], false);
    job.successful =
        "\"sf__Id\",\"sf__Created\"" + (header.empty() ? "" : "," + header_line) + "\n";
    job.failed = "\"sf__Id\",\"sf__Error\"" + (header.empty() ? "" : "," + header_line) + "\n";
    job.unprocessed = header_line + "\n";
    Table* table = FindTable(job.object);
    for (size_t r = 1; r < rows.size(); ++r) {
      const auto& row = rows[r];
      if (row.size() == 1 && row[0].empty()) continue;  // blank line
      std::string echo;
      for (size_t i = 0; i < row.size(); ++i) echo += (i ? "," : "") + CsvCell(row[i], false);
      SaveOutcome out;
      if (!ok || row.size() != header.size()) {
        out.errors.push_back(SfError{"INVALID_FIELD",
                                     "row has " + std::to_string(row.size()) + " values for " +
                                         std::to_string(header.size()) + " columns",
                                     {}});
      } else {
        value input = value::object();
        std::string id;
        for (size_t i = 0; i < header.size(); ++i) {
          if (Lower(header[i]) == "id") {
            id = row[i];
            continue;
          }
          if (row[i].empty()) continue;  // empty: leave as is
          input[header[i]] = row[i] == "#N/A" ? value::null() : value::string(row[i]);
        }
        if (job.operation == "insert")
          out = Create(*table, input);
        else if (job.operation == "update")
          out = Update(*table, id, input);
        else if (job.operation == "delete")
          out = Delete(*table, id);
        else {
          const FieldDef* f = table->def->Field(job.external_id_field);
          std::string ext = f && input.has_field(f->name) && input.at(f->name).is_string()
                                ? input.at(f->name).as_string()
                                : "";
          if (ext.empty() && Lower(job.external_id_field) == "id") ext = id;
          if (ext.empty()) {
            out.errors.push_back(
                SfError{"REQUIRED_FIELD_MISSING", "external id is empty", {job.external_id_field}});
          } else {
            out = Upsert(*table, job.external_id_field, ext, input);
          }
        }
      }
      ++job.processed;
      if (out.success) {
        job.successful += CsvCell(out.id, true) + "," +
                          CsvCell(out.created ? "true" : "false", true) +
                          (header.empty() ? "" : "," + echo) + "\n";
      } else {
        ++job.failures;
        std::string err;
        for (const auto& e : out.errors) {
          err += e.code + ":" + e.message + ":";
          for (size_t k = 0; k < e.fields.size(); ++k) err += (k ? "," : "") + e.fields[k];
          err += " --";
        }
        job.failed += CsvCell(out.id, true) + "," + CsvCell(err, true) +
                      (header.empty() ? "" : "," + echo) + "\n";
      }
    }
    job.csv.clear();
  }
};

// ---------------------------------------------------------------------------------------
// HTTP.

namespace {

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json;charset=UTF-8";
};

Reply JsonReply(int status, const value& v) {
  return Reply{status, v.serialize(), "application/json;charset=UTF-8"};
}

Reply Errors(int status, const std::string& code, const std::string& message) {
  return JsonReply(status, ErrorList({SfError{code, message, {}}}, false));
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(web::uri::decode(path.substr(start, slash - start)));
    start = slash + 1;
  }
  return out;
}

std::string Base64UrlDecode(const std::string& in, bool* ok) {
  std::string b64 = in;
  for (auto& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
  }
  while (b64.size() % 4) b64.push_back('=');
  std::string out(b64.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  *ok = n >= 0;
  if (n < 0) return "";
  size_t len = static_cast<size_t>(n);
  size_t pad = 0;
  while (pad < 2 && b64.size() > pad && b64[b64.size() - 1 - pad] == '=') ++pad;
  len -= pad;
  out.resize(len);
  return out;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(start, amp - start);
    const auto eq = pair.find('=');
    auto decode = [](std::string s) {
      for (auto& c : s)
        if (c == '+') c = ' ';
      return web::uri::decode(s);
    };
    if (eq != std::string::npos) out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    start = amp + 1;
  }
  return out;
}

std::string EndpointLabel(const std::string& method, const std::vector<std::string>& seg) {
  // /services/data/vXX/<rest>: ids and names become placeholders so counts group well.
  std::string label = method + " /";
  for (size_t i = 3; i < seg.size(); ++i) {
    const std::string& s = seg[i];
    if (i == 4 && (seg[3] == "query" || seg[3] == "queryAll")) {
      label += "/{locator}";
      continue;
    }
    const bool looks_id =
        (s.size() == 18 || s.size() == 15) && std::any_of(s.begin(), s.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        });
    label += (i > 3 ? "/" : "") + (looks_id ? std::string("{id}") : s);
  }
  return label;
}

}  // namespace

SalesforceSandbox::SalesforceSandbox(SalesforceSandboxOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

SalesforceSandbox::~SalesforceSandbox() { Stop(); }

std::string SalesforceSandbox::base_url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}
int SalesforceSandbox::port() const { return impl_->port; }

void SalesforceSandbox::AddFault(const SalesforceFault& fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Add(fault);
}
Status SalesforceSandbox::AddFaultsFromJson(const std::string& json) {
  std::vector<Fault> faults;
  TANDEM_RETURN_IF_ERROR(ParseFaults(json, &faults));
  for (const auto& f : faults) AddFault(f);
  return Status::Ok();
}
int64_t SalesforceSandbox::dropped_connections() const { return impl_->proxy.dropped(); }
void SalesforceSandbox::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.Clear();
}
int64_t SalesforceSandbox::requests_received() const {
  return impl_->listener ? impl_->listener->received() : 0;
}
std::map<std::string, int64_t> SalesforceSandbox::FaultHits() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->faults.hits();
}
void SalesforceSandbox::ExpireTokens() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->tokens.clear();
}
void SalesforceSandbox::SetApiUsage(int64_t used) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->api_used = used;
}
int64_t SalesforceSandbox::api_calls() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int64_t total = 0;
  for (const auto& [k, v] : impl_->by_endpoint) total += v;
  return total;
}
std::map<std::string, int64_t> SalesforceSandbox::calls_by_endpoint() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->by_endpoint;
}
Status SalesforceSandbox::SetSystemModstamp(const std::string& object, const std::string& id,
                                            int64_t at_ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto table = impl_->tables.find(Lower(object));
  if (table == impl_->tables.end()) return Status::NotFound("no object " + object);
  auto record = table->second.by_id.find(NormalizeId(id));
  if (record == table->second.by_id.end()) return Status::NotFound(object + " " + id);
  record->second["SystemModstamp"] = web::json::value::string(FormatDateTime(at_ms));
  return Status::Ok();
}
int64_t SalesforceSandbox::CountRecords(const std::string& object) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->tables.find(Lower(object));
  return it == impl_->tables.end() ? -1 : static_cast<int64_t>(it->second.by_id.size());
}

namespace {

// Serves one request against the state. Runs under the state lock.
class Handler {
 public:
  Handler(SalesforceSandbox::Impl& s, const std::string& method, const std::string& path,
          const std::string& query, const wh::http_headers& headers, const std::string& body)
      : s_(s), method_(method), path_(path), query_(query), headers_(headers), body_(body) {}

  Reply Serve();

 private:
  std::string Header(const std::string& name) const {
    auto it = headers_.find(name);
    return it == headers_.end() ? "" : it->second;
  }
  std::string QueryParam(const std::string& name) const {
    auto params = web::uri::split_query(query_);
    auto it = params.find(name);
    return it == params.end() ? "" : web::uri::decode(it->second);
  }

  Reply Token();
  Reply Data(const std::vector<std::string>& seg);
  Reply SObjects(const std::vector<std::string>& seg);
  Reply Composite(const std::vector<std::string>& seg);
  Reply Jobs(const std::vector<std::string>& seg);
  Reply Admin(const std::vector<std::string>& seg);
  value Describe(const ObjectDef& def);
  value SaveJson(const SaveOutcome& o, bool with_created);
  bool VerifyJwt(const std::string& assertion, std::string* why);

  SalesforceSandbox::Impl& s_;
  const std::string method_, path_, query_;
  const wh::http_headers& headers_;
  const std::string& body_;
  std::string version_ = "61.0";
};

value Handler::SaveJson(const SaveOutcome& o, bool with_created) {
  value v = value::object();
  if (!o.id.empty()) v["id"] = value::string(o.id);
  v["success"] = value::boolean(o.success);
  v["errors"] = ErrorList(o.errors, true);
  if (with_created && o.success) v["created"] = value::boolean(o.created);
  return v;
}

bool Handler::VerifyJwt(const std::string& assertion, std::string* why) {
  const auto d1 = assertion.find('.');
  const auto d2 = assertion.find('.', d1 == std::string::npos ? 0 : d1 + 1);
  if (d1 == std::string::npos || d2 == std::string::npos) {
    *why = "malformed assertion";
    return false;
  }
  bool ok1, ok2, ok3;
  const std::string header = Base64UrlDecode(assertion.substr(0, d1), &ok1);
  const std::string claims = Base64UrlDecode(assertion.substr(d1 + 1, d2 - d1 - 1), &ok2);
  const std::string sig = Base64UrlDecode(assertion.substr(d2 + 1), &ok3);
  if (!ok1 || !ok2 || !ok3) {
    *why = "malformed assertion";
    return false;
  }
  try {
    const value h = value::parse(header), c = value::parse(claims);
    if (!h.has_field("alg") || h.at("alg").as_string() != "RS256") {
      *why = "assertion must be RS256";
      return false;
    }
    if (!c.has_field("iss") || c.at("iss").as_string() != s_.options.client_id) {
      *why = "client identifier invalid";
      return false;
    }
    if (!c.has_field("sub") || c.at("sub").as_string().empty()) {
      *why = "user hasn't approved this consumer";
      return false;
    }
    if (!c.has_field("exp") || c.at("exp").as_double() * 1000 < static_cast<double>(s_.NowMs())) {
      *why = "expired authorization code";
      return false;
    }
  } catch (const std::exception&) {
    *why = "malformed assertion";
    return false;
  }
  if (s_.options.jwt_public_key_pem.empty()) {
    *why = "no certificate configured for the JWT bearer flow";
    return false;
  }
  BIO* bio = BIO_new_mem_buf(s_.options.jwt_public_key_pem.data(),
                             static_cast<int>(s_.options.jwt_public_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) {
    *why = "configured certificate is unreadable";
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const std::string signed_part = assertion.substr(0, d2);
  const bool good =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!good) *why = "invalid assertion signature";
  return good;
}

Reply Handler::Token() {
  if (method_ != "POST") return Errors(405, "METHOD_NOT_ALLOWED", "use POST");
  auto form = ParseForm(body_);
  auto oauth_error = [](const std::string& error, const std::string& description) {
    value v = value::object();
    v["error"] = value::string(error);
    v["error_description"] = value::string(description);
    return JsonReply(400, v);
  };
  const std::string grant = form["grant_type"];
  if (grant == "client_credentials") {
    if (form["client_id"] != s_.options.client_id ||
        form["client_secret"] != s_.options.client_secret)
      return oauth_error("invalid_client", "invalid client credentials");
  } else if (grant == "refresh_token") {
    if (form["client_id"] != s_.options.client_id)
      return oauth_error("invalid_client_id", "client identifier invalid");
    if (form["refresh_token"] != s_.options.refresh_token)
      return oauth_error("invalid_grant", "expired access/refresh token");
  } else if (grant == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    std::string why;
    if (!VerifyJwt(form["assertion"], &why)) return oauth_error("invalid_grant", why);
  } else {
    return oauth_error("unsupported_grant_type", "grant type not supported");
  }
  const std::string token =
      "00D5g000000TANDEM!" + MakeId("00D", ++s_.token_seq) + "." + std::to_string(s_.NowMs());
  s_.tokens.insert(token);
  value v = value::object();
  v["access_token"] = value::string(token);
  v["instance_url"] = value::string("http://" + Header("Host"));
  v["id"] =
      value::string("http://" + Header("Host") + "/id/00D5g000000TANDEMAAA/0055g000000TANDEMAAA");
  v["token_type"] = value::string("Bearer");
  v["issued_at"] = value::string(std::to_string(s_.NowMs()));
  v["signature"] = value::string("c2FuZGJveA==");
  v["scope"] = value::string("api");
  return JsonReply(200, v);
}

value Handler::Describe(const ObjectDef& def) {
  value d = value::object();
  d["name"] = value::string(def.name);
  d["label"] = value::string(def.name);
  d["keyPrefix"] = value::string(def.key_prefix);
  d["custom"] =
      value::boolean(def.name.size() > 3 && def.name.substr(def.name.size() - 3) == "__c");
  d["createable"] = value::boolean(true);
  d["updateable"] = value::boolean(true);
  d["deletable"] = value::boolean(true);
  d["queryable"] = value::boolean(true);
  value fields = value::array();
  size_t i = 0;
  for (const auto& f : def.fields) {
    value fj = value::object();
    fj["name"] = value::string(f.name);
    fj["label"] = value::string(f.name);
    fj["type"] = value::string(f.type);
    fj["length"] = value::number(f.length);
    fj["custom"] = value::boolean(f.name.size() > 3 && f.name.substr(f.name.size() - 3) == "__c");
    fj["externalId"] = value::boolean(f.external_id);
    fj["unique"] = value::boolean(f.unique);
    fj["idLookup"] = value::boolean(f.external_id || f.name == "Id");
    fj["nillable"] = value::boolean(!f.required && f.type != "boolean" && !f.system);
    fj["createable"] = value::boolean(!f.system);
    fj["updateable"] = value::boolean(!f.system);
    fj["defaultedOnCreate"] = value::boolean(f.system || f.type == "boolean");
    fj["restrictedPicklist"] = value::boolean(f.type == "picklist" && f.restricted);
    value pv = value::array();
    for (size_t k = 0; k < f.values.size(); ++k) {
      value p = value::object();
      p["value"] = value::string(f.values[k]);
      p["label"] = value::string(f.values[k]);
      p["active"] = value::boolean(true);
      p["defaultValue"] = value::boolean(false);
      pv[k] = p;
    }
    fj["picklistValues"] = pv;
    value refs = value::array();
    if (!f.reference_to.empty()) refs[0] = value::string(f.reference_to);
    fj["referenceTo"] = refs;
    fj["relationshipName"] =
        f.relationship_name.empty() ? value::null() : value::string(f.relationship_name);
    fields[i++] = fj;
  }
  d["fields"] = fields;
  return d;
}

Reply Handler::SObjects(const std::vector<std::string>& seg) {
  // seg: services data vXX sobjects [Object [id|describe|ExtField [value]]]
  if (seg.size() == 4) {
    value v = value::object();
    v["encoding"] = value::string("UTF-8");
    v["maxBatchSize"] = value::number(200);
    value list = value::array();
    size_t i = 0;
    for (const auto& def : s_.schema) {
      value o = value::object();
      o["name"] = value::string(def.name);
      o["label"] = value::string(def.name);
      o["keyPrefix"] = value::string(def.key_prefix);
      o["createable"] = value::boolean(true);
      o["queryable"] = value::boolean(true);
      o["urls"] = value::object();
      list[i++] = o;
    }
    v["sobjects"] = list;
    return JsonReply(200, v);
  }
  Table* table = s_.FindTable(seg[4]);
  if (!table) return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 5) {
    if (method_ == "POST") {
      value input;
      try {
        input = value::parse(body_);
      } catch (const std::exception& e) {
        return Errors(400, "JSON_PARSER_ERROR", e.what());
      }
      SaveOutcome out = s_.Create(*table, input);
      if (!out.success) return JsonReply(400, ErrorList(out.errors, false));
      return JsonReply(201, SaveJson(out, false));
    }
    if (method_ == "GET") {
      value v = value::object();
      v["objectDescribe"] = Describe(*table->def);
      v["recentItems"] = value::array();
      return JsonReply(200, v);
    }
    return Errors(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed");
  }
  if (seg.size() == 6 && seg[5] == "describe") return JsonReply(200, Describe(*table->def));
  if (seg.size() == 6) {
    const std::string id = NormalizeId(seg[5]);
    auto it = id.empty() ? table->by_id.end() : table->by_id.find(id);
    if (method_ == "GET") {
      if (it == table->by_id.end())
        return Errors(404, "NOT_FOUND", "The requested resource does not exist");
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
      return JsonReply(200, s_.Render(*table, it->second, fields));
    }
    if (method_ == "PATCH") {
      if (it == table->by_id.end())
        return Errors(404, "NOT_FOUND", "The requested resource does not exist");
      value input;
      try {
        input = value::parse(body_);
      } catch (const std::exception& e) {
        return Errors(400, "JSON_PARSER_ERROR", e.what());
      }
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
  if (seg.size() == 7 && method_ == "PATCH") {
    value input;
    try {
      input = value::parse(body_);
    } catch (const std::exception& e) {
      return Errors(400, "JSON_PARSER_ERROR", e.what());
    }
    SaveOutcome out = s_.Upsert(*table, seg[5], seg[6], input);
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
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::Composite(const std::vector<std::string>& seg) {
  // seg: services data vXX composite sobjects [Object ExtField]
  if (seg.size() < 5 || seg[4] != "sobjects")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (method_ == "DELETE") {
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
  value body;
  try {
    body = value::parse(body_);
  } catch (const std::exception& e) {
    return Errors(400, "JSON_PARSER_ERROR", e.what());
  }
  if (!body.has_field("records") || !body.at("records").is_array())
    return Errors(400, "INVALID_FIELD", "records is required");
  const auto& records = body.at("records").as_array();
  if (records.size() > 200)
    return Errors(400, "EXCEEDED_ID_LIMIT", "Maximum number of records allowed is 200.");
  const bool upsert = seg.size() == 7;
  value out = value::array();
  size_t i = 0;
  for (const auto& rec : records) {
    SaveOutcome o;
    // A record-level lock fault fails this record without touching it.
    const bool locked =
        s_.faults
            .Take(method_, path_,
                  [](const Fault& f) { return f.error_code == "UNABLE_TO_LOCK_ROW"; })
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
      o.errors.push_back(
          SfError{"INVALID_TYPE", "sObject type '" + type + "' is not supported", {}});
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
        o.errors.push_back(
            SfError{"MISSING_ARGUMENT", "Id not specified in an update call", {"Id"}});
      else
        o = s_.Update(*table, id, rec);
    }
    out[i++] = SaveJson(o, upsert);
  }
  return JsonReply(200, out);
}

Reply Handler::Jobs(const std::vector<std::string>& seg) {
  // seg: services data vXX jobs ingest [id
  // [batches|successfulResults|failedResults|unprocessedrecords]]
  if (seg.size() < 5 || seg[4] != "ingest")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 5) {
    if (method_ != "POST") return Errors(405, "METHOD_NOT_ALLOWED", "use POST");
    value req;
    try {
      req = value::parse(body_);
    } catch (const std::exception& e) {
      return Errors(400, "JSON_PARSER_ERROR", e.what());
    }
    BulkJob job;
    job.object = req.has_field("object") ? req.at("object").as_string() : "";
    job.operation = req.has_field("operation") ? req.at("operation").as_string() : "";
    if (req.has_field("externalIdFieldName"))
      job.external_id_field = req.at("externalIdFieldName").as_string();
    if (!s_.FindTable(job.object))
      return Errors(400, "INVALIDJOB",
                    "Entity '" + job.object + "' is not supported by the Bulk API.");
    if (job.operation != "insert" && job.operation != "update" && job.operation != "upsert" &&
        job.operation != "delete")
      return Errors(400, "INVALIDJOB", "InvalidJob : Invalid operation: " + job.operation);
    if (job.operation == "upsert" && job.external_id_field.empty())
      return Errors(400, "INVALIDJOB", "InvalidJob : External ID was blank for " + job.object);
    job.id = MakeId("750", ++s_.job_seq);
    job.created_ms = s_.NowMs();
    s_.jobs[job.id] = job;
    return JsonReply(200, s_.JobInfo(job));
  }
  auto it = s_.jobs.find(NormalizeId(seg[5]));
  if (it == s_.jobs.end()) return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  BulkJob& job = it->second;
  if (seg.size() == 6) {
    if (method_ == "GET") {
      value info = s_.JobInfo(job);
      if (job.state == "UploadComplete") {
        job.state = "InProgress";
        s_.ProcessJob(job);
        info["state"] = value::string("InProgress");
      } else if (job.state == "InProgress") {
        job.state = "JobComplete";
        info = s_.JobInfo(job);
      }
      return JsonReply(200, info);
    }
    if (method_ == "PATCH") {
      value req;
      try {
        req = value::parse(body_);
      } catch (const std::exception& e) {
        return Errors(400, "JSON_PARSER_ERROR", e.what());
      }
      const std::string state = req.has_field("state") ? req.at("state").as_string() : "";
      if (state == "UploadComplete" && job.state == "Open")
        job.state = "UploadComplete";
      else if (state == "Aborted" && (job.state == "Open" || job.state == "UploadComplete"))
        job.state = "Aborted";
      else if (state != job.state)
        return Errors(400, "INVALIDJOBSTATE",
                      "Invalid state transition from " + job.state + " to " + state);
      return JsonReply(200, s_.JobInfo(job));
    }
    if (method_ == "DELETE") {
      s_.jobs.erase(it);
      return Reply{204, "", "text/plain"};
    }
    return Errors(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed");
  }
  const std::string& what = seg[6];
  if (what == "batches" && method_ == "PUT") {
    if (job.state != "Open") return Errors(400, "INVALIDJOBSTATE", "Job is not open for uploads");
    job.csv += body_;
    return Reply{201, "", "text/plain"};
  }
  if (method_ == "GET" &&
      (what == "successfulResults" || what == "failedResults" || what == "unprocessedrecords")) {
    if (job.state != "JobComplete" && job.state != "Failed" && job.state != "Aborted")
      return Errors(400, "INVALIDJOBSTATE", "job is not complete");
    const std::string& csv = what == "successfulResults" ? job.successful
                             : what == "failedResults"   ? job.failed
                                                         : job.unprocessed;
    return Reply{200, csv, "text/csv"};
  }
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::Data(const std::vector<std::string>& seg) {
  if (seg.size() == 2) {  // GET /services/data
    value arr = value::array();
    const char* versions[] = {"59.0", "60.0", "61.0", "62.0"};
    for (size_t i = 0; i < 4; ++i) {
      value v = value::object();
      v["label"] = value::string(std::string("v") + versions[i]);
      v["url"] = value::string(std::string("/services/data/v") + versions[i]);
      v["version"] = value::string(versions[i]);
      arr[i] = v;
    }
    return JsonReply(200, arr);
  }
  if (seg[2].size() < 2 || seg[2][0] != 'v')
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  version_ = seg[2].substr(1);
  if (seg.size() == 3) {
    value v = value::object();
    for (const char* r : {"sobjects", "query", "queryAll", "composite", "limits", "jobs"})
      v[r] = value::string("/services/data/v" + version_ + "/" + r);
    return JsonReply(200, v);
  }
  const std::string& resource = seg[3];
  if (resource == "limits") {
    value v = value::object();
    value daily = value::object();
    daily["Max"] = value::number(s_.options.daily_api_max);
    daily["Remaining"] =
        value::number(std::max<int64_t>(0, s_.options.daily_api_max - s_.api_used));
    v["DailyApiRequests"] = daily;
    value bulk = value::object();
    bulk["Max"] = value::number(15000);
    bulk["Remaining"] = value::number(15000);
    v["DailyBulkV2QueryJobs"] = bulk;
    return JsonReply(200, v);
  }
  if (resource == "sobjects") return SObjects(seg);
  if (resource == "composite") return Composite(seg);
  if (resource == "jobs") return Jobs(seg);
  if ((resource == "query" || resource == "queryAll") && method_ == "GET") {
    int page = s_.options.default_page_size;
    const std::string opts = Header("Sforce-Query-Options");
    if (auto p = opts.find("batchSize="); p != std::string::npos) {
      page = std::atoi(opts.c_str() + p + 10);
      page = std::clamp(page, 200, 2000);
    }
    if (seg.size() == 4) {
      const std::string q = QueryParam("q");
      if (q.empty()) return Errors(400, "MALFORMED_QUERY", "a query is required (q=)");
      auto [status, body] = s_.RunQuery(q, page, version_);
      return JsonReply(status, body);
    }
    // query/<locator>-<position>
    const std::string& next = seg[4];
    const auto dash = next.find('-');
    auto it = s_.locators.find(next.substr(0, dash));
    if (it == s_.locators.end() || dash == std::string::npos)
      return Errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    Locator& loc = it->second;
    loc.next = static_cast<size_t>(std::max(0L, std::atol(next.c_str() + dash + 1)));
    value page_json = s_.Page(loc, it->first, version_);
    if (loc.next >= loc.ids.size()) s_.locators.erase(it);
    return JsonReply(200, page_json);
  }
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::Admin(const std::vector<std::string>& seg) {
  if (seg.size() < 2) return Errors(404, "NOT_FOUND", "unknown admin endpoint");
  const std::string& what = seg[1];
  if (what == "faults" && method_ == "POST") {
    std::vector<Fault> faults;
    if (Status st = ParseFaults(body_, &faults); !st.ok())
      return Errors(400, "JSON_PARSER_ERROR", st.message());
    for (const auto& f : faults) s_.faults.Add(f);
    return Reply{204, "", "application/json"};
  }
  if (what == "faults" && method_ == "DELETE") {
    s_.faults.Clear();
    return Reply{204, "", "application/json"};
  }
  if (what == "expire-tokens" && method_ == "POST") {
    s_.tokens.clear();
    return Reply{204, "", "application/json"};
  }
  if (what == "reset" && method_ == "POST") {
    s_.Reset();
    return Reply{204, "", "application/json"};
  }
  if (what == "stats" && method_ == "GET") {
    value v = value::object();
    value by = value::object();
    int64_t total = 0;
    for (const auto& [k, n] : s_.by_endpoint) {
      by[k] = value::number(n);
      total += n;
    }
    v["api_calls"] = value::number(total);
    value hits = value::object();
    for (const auto& [kind, n] : s_.faults.hits()) hits[kind] = value::number(n);
    v["fault_hits"] = hits;
    v["by_endpoint"] = by;
    value counts = value::object();
    for (const auto& [name, t] : s_.tables)
      counts[t.def->name] = value::number(static_cast<int64_t>(t.by_id.size()));
    v["records"] = counts;
    return JsonReply(200, v);
  }
  return Errors(404, "NOT_FOUND", "unknown admin endpoint");
}

Reply Handler::Serve() {
  const auto seg = Split(path_);
  if (!seg.empty() && seg[0] == "__sandbox") return Admin(seg);
  if (seg.size() >= 3 && seg[0] == "services" && seg[1] == "oauth2" && seg[2] == "token")
    return Token();
  if (seg.size() < 2 || seg[0] != "services" || seg[1] != "data")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 2) return Data(seg);
  // Everything under /services/data/vXX needs a valid session and counts against the limit.
  const std::string auth = Header("Authorization");
  const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
  if (token.empty() || !s_.tokens.count(token))
    return Errors(401, "INVALID_SESSION_ID", "Session expired or invalid");
  if (s_.api_used >= s_.options.daily_api_max)
    return Errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
  ++s_.api_used;
  ++s_.by_endpoint[EndpointLabel(method_, seg)];
  return Data(seg);
}

}  // namespace

Status SalesforceSandbox::Start() {
  Impl* impl = impl_.get();
  // The listener cannot report the port it bound: find a free private one first.
  const int inner_port = FreeLoopbackPort();  // the listener cannot report its port
  auto listener =
      OpenLoopbackListener(inner_port, std::chrono::seconds(120), [impl](IncomingRequest& in) {
        const std::string& method = in.method;
        const std::string& path = in.path;
        const std::string& query = in.query;
        const std::string& body = in.body;
        wh::http_request& req = in.raw;
        // Faults first: latency outside the lock, answers instead of the real one.
        int latency = 0;
        bool lose_response = false;
        std::optional<Reply> fault_reply;
        {
          std::lock_guard<std::mutex> lock(impl->mu);
          const bool is_api = path.rfind("/services", 0) == 0;
          const bool is_collection = path.find("/composite/sobjects") != std::string::npos;
          auto fault = impl->faults.Take(method, path, [&](const Fault& f) {
            // Lock faults on Collections are applied per record by their handler.
            return is_api && !(f.error_code == "UNABLE_TO_LOCK_ROW" && is_collection);
          });
          if (fault) {
            latency = fault->latency_ms;
            if (fault->error_code == "LOSE_RESPONSE") {
              lose_response = true;
            } else if (fault->error_code == "DROP_CONNECTION") {
              fault_reply = Reply{500, "", "text/plain"};
              lose_response = true;
            } else if (fault->status != 0) {
              if (fault->error_code == "REQUEST_LIMIT_EXCEEDED")
                fault_reply = Errors(fault->status, "REQUEST_LIMIT_EXCEEDED",
                                     "ConcurrentPerOrgLongTxn Limit exceeded.");
              else if (fault->error_code == "UNABLE_TO_LOCK_ROW")
                fault_reply = Errors(fault->status, "UNABLE_TO_LOCK_ROW",
                                     "unable to obtain exclusive access to this record");
              else
                fault_reply = Errors(fault->status, fault->error_code, "injected fault");
            }
          }
        }
        if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
        Reply reply;
        int64_t used = 0;
        {
          std::lock_guard<std::mutex> lock(impl->mu);
          if (fault_reply) {
            reply = *fault_reply;
          } else {
            try {
              reply = Handler(*impl, method, path, query, req.headers(), body).Serve();
            } catch (const std::exception& e) {
              reply = Errors(500, "UNKNOWN_EXCEPTION", std::string("sandbox error: ") + e.what());
            }
          }
          used = impl->api_used;
        }
        wh::http_response resp(static_cast<wh::status_code>(reply.status));
        if (lose_response) resp.headers().add(kDropMarker, "1");
        if (path.rfind("/services/data/v", 0) == 0)
          resp.headers().add("Sforce-Limit-Info", "api-usage=" + std::to_string(used) + "/" +
                                                      std::to_string(impl->options.daily_api_max));
        if (reply.status != 204) resp.set_body(reply.body, reply.content_type);
        SendReply(in, resp);
      });
  if (!listener.ok()) return listener.status().WithContext("Salesforce sandbox");
  impl->listener = std::move(listener).value();
  Status st = impl->proxy.Start(impl->options.host, impl->options.port, inner_port);
  if (!st.ok()) {
    Stop();
    return st;
  }
  impl->port = impl->proxy.port();
  return Status::Ok();
}

void SalesforceSandbox::Stop() {
  impl_->proxy.Stop();
  if (!impl_->listener) return;
  impl_->listener->Close();  // waits for handlers still running
  impl_->listener.reset();
}

}  // namespace tandem::sandbox::salesforce
