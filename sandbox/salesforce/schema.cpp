// The schema (objects and their fields, from schema.json or the options) and describe: the
// global list of sObjects and one object's fields.
#include <cctype>

#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

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
    fj["caseSensitive"] = value::boolean(f.case_sensitive);
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

value Handler::DescribeGlobal() {
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
  return v;
}

}  // namespace tandem::sandbox::salesforce
