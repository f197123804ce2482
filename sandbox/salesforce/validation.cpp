// Checking a record's fields against the schema, as Salesforce does on insert and update: types,
// required fields, restricted picklists, email addresses, lengths, references and unique
// values.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {
namespace {

bool BadType(const FieldDef& f, const value& in, const std::string& expected, SfError* err) {
  *err = SfError{
      "INVALID_TYPE_ON_FIELD_IN_RECORD",
      f.name + ": value not of required type: " + in.serialize() + " (expected " + expected + ")",
      {f.name}};
  return false;
}

bool ConvertBoolean(const FieldDef& f, const value& in, value* out, SfError* err) {
  if (in.is_boolean()) {
    *out = in;
    return true;
  }
  if (in.is_string() && (Lower(in.as_string()) == "true" || Lower(in.as_string()) == "false")) {
    *out = value::boolean(Lower(in.as_string()) == "true");
    return true;
  }
  return BadType(f, in, "boolean", err);
}

bool ConvertNumber(const FieldDef& f, const value& in, value* out, SfError* err) {
  double d;
  if (in.is_number()) {
    d = in.as_double();
  } else if (in.is_string()) {
    char* end = nullptr;
    d = std::strtod(in.as_string().c_str(), &end);
    if (in.as_string().empty() || *end != '\0') return BadType(f, in, "number", err);
  } else {
    return BadType(f, in, "number", err);
  }
  if (!std::isfinite(d)) return BadType(f, in, "number", err);
  *out = value::number(d);
  return true;
}

bool ConvertDate(const FieldDef& f, const std::string& s, value* out, SfError* err) {
  const std::string& t = f.type;
  bool is_date = false;
  int64_t ms = 0;
  if (!ParseSoqlDateTime(s, &is_date, &ms) || (t == "date" && !is_date)) {
    *err = SfError{
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f.name + ": value not of required type: " + s, {f.name}};
    return false;
  }
  *out = value::string(t == "date" ? s : FormatDateTime(ms));
  return true;
}

// A text value: a restricted picklist's values, an email's shape, the field's length.
bool ConvertText(const FieldDef& f, const std::string& s, value* out, SfError* err) {
  const std::string& t = f.type;
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
  // Salesforce counts a text field's length in characters, not in UTF-8 bytes.
  const auto characters = std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  if (f.length > 0 && characters > f.length) {
    *err = SfError{"STRING_TOO_LONG",
                   f.name + ": data value too large: " + s.substr(0, 40) +
                       " (max length=" + std::to_string(f.length) + ")",
                   {f.name}};
    return false;
  }
  *out = value::string(s);
  return true;
}

}  // namespace

bool SalesforceSandbox::Impl::ConvertValue(const FieldDef& f, const value& in, value* out,
                                           SfError* err) {
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
  if (t == "boolean") return ConvertBoolean(f, in, out, err);
  if (t == "int" || t == "double" || t == "currency" || t == "percent")
    return ConvertNumber(f, in, out, err);
  if (!in.is_string()) return BadType(f, in, t, err);
  const std::string s = in.as_string();
  if (t == "date" || t == "datetime") return ConvertDate(f, s, out, err);
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
  return ConvertText(f, s, out, err);
}

bool SalesforceSandbox::Impl::Apply(Table& table, const value& input, bool create,
                                    const std::string& own_id, value* record,
                                    std::vector<SfError>* errors) {
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
      errors->push_back(SfError{
          "INVALID_FIELD", "No such column '" + name + "' on sobject of type " + def.name, {name}});
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

}  // namespace tandem::sandbox::salesforce
