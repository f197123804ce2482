#include "mapping/mapping.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

#include <yaml-cpp/yaml.h>

#include "util/ascii.h"

namespace tandem::mapping {
namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    const auto m = n.Mark();
    std::string where = file_;
    if (!m.is_null())
      where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    errors_.push_back(where + ": " + path + ": " + msg);
  }

  // A `when` condition's shape (ConditionHolds reads it).
  void CheckCondition(const YAML::Node& n, const std::string& path, const std::string& when) {
    if (!when.empty() && ConditionField(when).empty())
      Error(n, path,
            "expected \"Field == 'v'\", \"Field != 'v'\", \"Field is set\" or \"Field is empty\"");
  }

  bool Keys(const YAML::Node& n, const std::string& path,
            std::initializer_list<const char*> allowed) {
    if (!n.IsMap()) {
      Error(n, path, "expected a mapping");
      return false;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      bool ok = false;
      for (const char* a : allowed) ok = ok || k == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        Error(kv.first, path + "." + k, "unknown key (expected one of: " + list + ")");
      }
    }
    return true;
  }

  std::string Str(const YAML::Node& n, const char* key, const std::string& path) {
    YAML::Node v = n[key];
    if (!v.IsDefined() || v.IsNull()) return "";
    if (!v.IsScalar()) {
      Error(v, path + "." + key, "expected a single value");
      return "";
    }
    return v.Scalar();
  }

  Mapping Run(const YAML::Node& root) {
    Mapping m;
    m.source = file_;
    if (!Keys(root, "mapping", {"version", "objects"})) return m;
    if (root["version"].IsDefined() && Str(root, "version", "mapping") != "1")
      Error(root["version"], "version", "only version 1 is known");
    const YAML::Node objects = root["objects"];
    if (!objects.IsSequence()) {
      Error(objects.IsDefined() ? objects : root, "objects", "expected a list of object maps");
      return m;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < objects.size(); ++i) {
      const YAML::Node o = objects[i];
      ObjectMap om;
      std::string path = "objects[" + std::to_string(i) + "]";
      if (!Keys(o, path,
                {"name", "crm", "billing", "master", "repair", "link_fields", "sync", "eligible",
                 "fields"}))
        continue;
      om.name = Str(o, "name", path);
      if (!om.name.empty()) path = "objects[" + om.name + "]";
      om.crm = Str(o, "crm", path);
      om.billing = Str(o, "billing", path);
      om.master = o["master"].IsDefined() ? Str(o, "master", path) : "crm";
      om.line = o.Mark().line + 1;
      if (om.name.empty()) Error(o, path + ".name", "required");
      if (om.crm.empty()) Error(o, path + ".crm", "required: the CRM object (e.g. Account)");
      if (om.billing.empty())
        Error(o, path + ".billing", "required: the billing object (e.g. account)");
      else if (const char* now = RenamedBillingObject(om.billing))
        Error(o["billing"], path + ".billing",
              "'" + om.billing + "' is now called '" + now +
                  "': the mapping names billing objects in billing terms, not one vendor's");
      else if (BillingPaths(om.billing).empty())
        Error(o["billing"], path + ".billing",
              "unknown billing object '" + om.billing +
                  "' (account, product, price, subscription, subscription_item, charge)");
      if (om.master != "crm" && om.master != "billing")
        Error(o["master"], path + ".master", "expected crm or billing, got '" + om.master + "'");
      if (!names.insert(om.name).second) Error(o, path + ".name", "duplicate object map name");
      if (const YAML::Node r = o["repair"]; r.IsDefined()) {
        if (!r.IsSequence()) {
          Error(r, path + ".repair", "expected a list (field_drift, missing_in_billing, ...)");
        } else {
          for (size_t k = 0; k < r.size(); ++k) {
            const std::string kind = r[k].IsScalar() ? r[k].Scalar() : "";
            const auto& known = RepairKinds();
            const bool money =
                kind == "under_billed" || kind == "over_billed" || kind == "missing_add_on";
            if (std::find(known.begin(), known.end(), kind) == known.end()) {
              std::string list;
              for (const auto& known_kind : known) list += (list.empty() ? "" : ", ") + known_kind;
              Error(r[k], path + ".repair[" + std::to_string(k) + "]",
                    "unknown repair '" + kind + "' (" + list + ")");
            } else if (money && om.billing != "subscription") {
              // The revenue reconcile repairs subscriptions: elsewhere the entry would do nothing.
              Error(r[k], path + ".repair[" + std::to_string(k) + "]",
                    "'" + kind + "' is a revenue repair: it belongs on the subscription map");
            } else {
              om.repair.insert(kind);
            }
          }
        }
      }
      if (o["sync"].IsDefined()) {
        const std::string sync = Str(o, "sync", path);
        if (sync != "manual" && sync != "on_change")
          Error(o["sync"], path + ".sync", "expected manual or on_change, got '" + sync + "'");
        om.sync_on_change = sync == "on_change";
      }
      if (const YAML::Node e = o["eligible"]; e.IsDefined()) {
        if (Keys(e, path + ".eligible", {"when", "since", "record_types"})) {
          if (const YAML::Node rt = e["record_types"]; rt.IsDefined()) {
            if (!rt.IsSequence() || rt.size() == 0)
              Error(rt, path + ".eligible.record_types",
                    "expected a list of record type developer names ([Business, Partner])");
            for (size_t k = 0; rt.IsSequence() && k < rt.size(); ++k) {
              const std::string name = rt[k].IsScalar() ? rt[k].Scalar() : "";
              // A developer name: a letter, then letters, digits and single underscores.
              const bool valid = !name.empty() &&
                                 std::isalpha(static_cast<unsigned char>(name[0])) &&
                                 name.back() != '_' && name.find("__") == std::string::npos &&
                                 std::all_of(name.begin(), name.end(), [](char c) {
                                   return c == '_' || std::isalnum(static_cast<unsigned char>(c));
                                 });
              if (!valid)
                Error(rt[k], path + ".eligible.record_types[" + std::to_string(k) + "]",
                      "'" + name + "' is not a record type developer name");
              else
                om.eligible_record_types.push_back(name);
            }
          }
          om.eligible_when = Str(e, "when", path + ".eligible");
          CheckCondition(e["when"], path + ".eligible.when", om.eligible_when);
          om.eligible_since = Str(e, "since", path + ".eligible");
          const std::string& d = om.eligible_since;
          const bool date = d.size() == 10 && d[4] == '-' && d[7] == '-' &&
                            std::all_of(d.begin(), d.end(), [](char c) {
                              return c == '-' || std::isdigit(static_cast<unsigned char>(c));
                            });
          if (!d.empty() && !date)
            Error(e["since"], path + ".eligible.since",
                  "expected a date YYYY-MM-DD, got '" + d + "'");
        }
      }
      if (const YAML::Node lf = o["link_fields"]; lf.IsDefined()) {
        if (Keys(lf, path + ".link_fields",
                 {"billing_id", "account_number", "status", "time", "error"})) {
          om.link.billing_id = Str(lf, "billing_id", path);
          om.link.account_number = Str(lf, "account_number", path);
          om.link.status = Str(lf, "status", path);
          om.link.time = Str(lf, "time", path);
          om.link.error = Str(lf, "error", path);
        }
      }
      const YAML::Node fields = o["fields"];
      if (!fields.IsSequence()) {
        Error(fields.IsDefined() ? fields : o, path + ".fields", "expected a list of field maps");
      } else {
        for (size_t f = 0; f < fields.size(); ++f)
          om.fields.push_back(Field(fields[f], path + ".fields[" + std::to_string(f) + "]"));
      }
      m.objects.push_back(std::move(om));
    }
    return m;
  }

  FieldMap Field(const YAML::Node& n, const std::string& path) {
    FieldMap f;
    f.line = n.Mark().line + 1;
    if (!Keys(n, path,
              {"crm", "billing", "direction", "transform", "currency", "value_map", "default",
               "format", "constant", "when", "required"}))
      return f;
    f.crm = Str(n, "crm", path);
    f.billing = Str(n, "billing", path);
    if (f.billing.rfind("metadata[", 0) == 0 && f.billing.back() == ']')
      Error(n["billing"], path + ".billing",
            "'" + f.billing + "' is now written 'custom." +
                f.billing.substr(9, f.billing.size() - 10) +
                "': custom fields are named in billing terms; each billing system keeps them "
                "its own way");
    f.transform = Str(n, "transform", path);
    f.currency = Str(n, "currency", path);
    f.format = Str(n, "format", path);
    f.when = Str(n, "when", path);
    if (n["constant"].IsDefined()) f.constant = Str(n, "constant", path);
    if (n["default"].IsDefined()) f.default_value = Str(n, "default", path);
    if (n["required"].IsDefined()) f.required = Str(n, "required", path) == "true";
    const std::string dir = n["direction"].IsDefined() ? Str(n, "direction", path) : "to_billing";
    if (dir == "to_billing")
      f.direction = Direction::kToBilling;
    else if (dir == "to_crm")
      f.direction = Direction::kToCrm;
    else if (dir == "both")
      f.direction = Direction::kBoth;
    else
      Error(n["direction"], path + ".direction",
            "expected to_billing, to_crm or both, got '" + dir + "'");
    static const std::set<std::string> kTransforms = {
        "", "text", "number", "integer", "boolean", "date", "datetime", "money_to_minor"};
    if (!kTransforms.count(f.transform))
      Error(n["transform"], path + ".transform",
            "unknown transform '" + f.transform +
                "' (text, number, integer, boolean, date, datetime, money_to_minor)");
    if (f.transform == "money_to_minor" && f.currency.empty())
      Error(n, path + ".currency", "money_to_minor needs a currency (a code or {Field})");
    if (const YAML::Node vm = n["value_map"]; vm.IsDefined()) {
      if (!vm.IsMap())
        Error(vm, path + ".value_map", "expected pairs of CRM value: billing value");
      else
        for (const auto& kv : vm)
          f.value_map[kv.first.Scalar()] = kv.second.IsNull() ? "" : kv.second.Scalar();
    }
    const int sources = !f.crm.empty() + !f.format.empty() + f.constant.has_value();
    if (f.billing.empty()) Error(n, path + ".billing", "required: the billing path");
    if (f.direction == Direction::kToBilling && sources != 1)
      Error(n, path, "needs exactly one source: crm, format or constant");
    if (f.direction != Direction::kToBilling && f.crm.empty())
      Error(n, path + ".crm", "a field written to the CRM needs its CRM field");
    CheckCondition(n["when"], path + ".when", f.when);
    return f;
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

bool IsEmpty(const Json& v) { return v.is_null() || (v.is_string() && v.as_string().empty()); }

// Days since 1970-01-01 for a civil date (proleptic Gregorian), and back: no time zone, so a
// date stays the same calendar date whatever TZ the server runs in.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool ParseDate(const std::string& s, int* y, int* m, int* d) {
  return s.size() >= 10 && std::sscanf(s.c_str(), "%4d-%2d-%2d", y, m, d) == 3 && *m >= 1 &&
         *m <= 12 && *d >= 1 && *d <= 31 && s[4] == '-' && s[7] == '-';
}

// ISO 8601 with an offset (Z, +hh:mm, +hhmm) → epoch seconds; a bare date → its midnight UTC.
bool ParseDateTime(const std::string& s, int64_t* epoch) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!ParseDate(s, &y, &mo, &d)) return false;
  int64_t offset = 0;
  if (s.size() > 10) {
    if ((s[10] != 'T' && s[10] != ' ') ||
        std::sscanf(s.c_str() + 11, "%2d:%2d:%2d", &h, &mi, &sec) != 3)
      return false;
    size_t i = 19;
    if (i < s.size() && s[i] == '.')
      while (++i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      }
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      const int sign = s[i] == '-' ? -1 : 1;
      int oh = 0, om = 0;
      if (std::sscanf(s.c_str() + i + 1, "%2d", &oh) != 1) return false;
      const size_t mpos = s[i + 3] == ':' ? i + 4 : i + 3;
      if (mpos < s.size()) std::sscanf(s.c_str() + mpos, "%2d", &om);
      offset = sign * (oh * 3600 + om * 60);
    } else if (i < s.size() && s[i] != 'Z') {
      return false;
    } else if (i >= s.size()) {
      return false;  // a datetime without a zone is ambiguous: refuse it
    }
  }
  *epoch = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return true;
}

std::string FormatUtc(int64_t epoch) {
  int64_t days = epoch >= 0 ? epoch / 86400 : (epoch - 86399) / 86400;
  int64_t rem = epoch - days * 86400;
  // civil_from_days
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / 3600), static_cast<long long>(rem % 3600 / 60),
                static_cast<long long>(rem % 60));
  return buf;
}

std::string Format(const std::string& pattern, const Json& record, std::vector<std::string>* refs) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      const auto close = pattern.find('}', i);
      if (close != std::string::npos) {
        const std::string field = pattern.substr(i + 1, close - i - 1);
        if (refs) refs->push_back(field);
        out += record[field].ToText();
        i = close;
        continue;
      }
    }
    out.push_back(pattern[i]);
  }
  // Collapse what empty references leave behind ("A  ()" → "A").
  while (out.find("  ") != std::string::npos) out.replace(out.find("  "), 2, " ");
  for (const char* empty : {" ()", "()", " - ", " ,"})
    if (out.size() >= std::string(empty).size() &&
        out.compare(out.size() - std::string(empty).size(), std::string::npos, empty) == 0)
      out.erase(out.size() - std::string(empty).size());
  while (!out.empty() && out.back() == ' ') out.pop_back();
  while (!out.empty() && out.front() == ' ') out.erase(0, 1);
  return out;
}

// Converts one value; sets *error on failure.
Json Convert(const FieldMap& f, const Json& in, const Json& record, std::string* error) {
  if (in.is_null()) return in;
  const std::string& t = f.transform;
  if (t.empty()) return in;
  if (t == "text") return Json(in.ToText());
  if (t == "number" || t == "integer") {
    double d;
    if (in.is_number())
      d = in.as_number();
    else {
      char* end = nullptr;
      const std::string s = in.ToText();
      d = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') {
        *error = "'" + s + "' is not a number";
        return Json();
      }
    }
    return t == "integer" ? Json(static_cast<int64_t>(std::llround(d))) : Json(d);
  }
  if (t == "boolean") {
    if (in.is_bool()) return in;
    const std::string s = Lower(in.ToText());
    if (s == "true" || s == "1" || s == "yes") return Json(true);
    if (s == "false" || s == "0" || s == "no" || s.empty()) return Json(false);
    *error = "'" + in.ToText() + "' is not a boolean";
    return Json();
  }
  if (t == "date") {
    int y, m, d;
    if (!ParseDate(in.ToText(), &y, &m, &d) || in.ToText().size() != 10) {
      *error = "'" + in.ToText() + "' is not a date (YYYY-MM-DD)";
      return Json();
    }
    return Json(in.ToText().substr(0, 10));  // the calendar date, untouched by any time zone
  }
  if (t == "datetime") {
    int64_t epoch;
    if (!ParseDateTime(in.ToText(), &epoch)) {
      *error = "'" + in.ToText() + "' is not a datetime with a time zone";
      return Json();
    }
    return Json(epoch);
  }
  if (t == "money_to_minor") {
    std::string currency = f.currency;
    if (currency.size() > 2 && currency.front() == '{')
      currency = record[currency.substr(1, currency.size() - 2)].ToText();
    if (currency.empty()) currency = "USD";
    double amount = 0;
    if (in.is_number()) {
      amount = in.as_number();
    } else {
      const std::string text = in.ToText();
      char* end = nullptr;
      amount = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0') {
        *error = "'" + text + "' is not an amount";
        return Json();
      }
    }
    return Json(ToMinorUnits(amount, currency));
  }
  return in;
}

}  // namespace

const ObjectMap* Mapping::Find(const std::string& name) const {
  for (const auto& o : objects)
    if (Lower(o.name) == Lower(name) || Lower(o.crm) == Lower(name)) return &o;
  return nullptr;
}

Result<Mapping> ParseMapping(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": YAML syntax: " + e.msg);
  }
  Parser p(file);
  Mapping m;
  try {
    m = p.Run(root);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ": " + e.msg);
  }
  if (!p.errors().empty()) {
    std::string msg;
    for (const auto& e : p.errors()) msg += (msg.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(msg);
  }
  return m;
}

const std::vector<std::string>& BillingPaths(const std::string& billing_object) {
  static const std::map<std::string, std::vector<std::string>> kPaths = {
      {"account",
       {"name", "email", "phone", "description", "currency", "address.line1", "address.line2",
        "address.city", "address.state", "address.postal_code", "address.country", "billing_cycle",
        "category"}},
      {"product", {"name", "description", "active", "kind", "parent_product_id"}},
      {"price",
       {"product_id", "currency", "unit_amount_minor", "interval", "interval_count", "active",
        "nickname"}},
      {"subscription",
       {"account_id", "status", "cancel_at", "start_at", "current_period_end", "quantity", "amount",
        "currency", "interval", "interval_count"}},
      {"subscription_item", {"price_id", "quantity"}},
      {"charge", {"account_id", "amount_minor", "currency", "description"}},
      {"invoice",
       {"id", "number", "status", "amount_due", "amount_paid", "amount_remaining", "currency",
        "due_date", "account_id"}},
  };
  static const std::vector<std::string> kNone;
  auto it = kPaths.find(billing_object);
  return it == kPaths.end() ? kNone : it->second;
}

std::vector<std::string> Validate(const Mapping& mapping,
                                  const std::map<std::string, Json>& describe) {
  std::vector<std::string> errors;
  for (const auto& o : mapping.objects) {
    auto d = describe.find(o.crm);
    const std::string where_obj =
        mapping.source + ":" + std::to_string(o.line) + ": objects[" + o.name + "]";
    if (d == describe.end()) {
      errors.push_back(where_obj + ": the CRM has no object '" + o.crm + "'");
      continue;
    }
    std::map<std::string, const Json*> crm_fields;  // lower-case name → describe entry
    for (const auto& f : d->second["fields"].array()) crm_fields[Lower(f["name"].as_string())] = &f;
    auto crm_field = [&](const std::string& name) -> const Json* {
      auto it = crm_fields.find(Lower(name));
      return it == crm_fields.end() ? nullptr : it->second;
    };
    for (const auto* link :
         {&o.link.billing_id, &o.link.account_number, &o.link.status, &o.link.time, &o.link.error})
      if (!link->empty() && !crm_field(*link))
        errors.push_back(where_obj + ".link_fields: unknown " + o.crm + " field '" + *link +
                         "' (is Tandem's Salesforce package, salesforce/, deployed?)");
    // Only an object with record types in the org has RecordTypeId.
    if (!o.eligible_record_types.empty() && !crm_field("RecordTypeId"))
      errors.push_back(where_obj + ".eligible.record_types: " + o.crm +
                       " has no record types in this org (no RecordTypeId field)");
    const std::string eligible_field = ConditionField(o.eligible_when);
    if (!eligible_field.empty() && !crm_field(eligible_field))
      errors.push_back(where_obj + ".eligible.when: unknown " + o.crm + " field '" +
                       eligible_field + "'");
    const auto& paths = BillingPaths(o.billing);
    std::set<std::string> mapped_paths;
    for (size_t i = 0; i < o.fields.size(); ++i) {
      const FieldMap& f = o.fields[i];
      const std::string where = mapping.source + ":" + std::to_string(f.line) + ": objects[" +
                                o.name + "].fields[" + std::to_string(i) + "]";
      mapped_paths.insert(f.billing);
      const bool meta = IsCustomFieldPath(f.billing);
      if (!meta && std::find(paths.begin(), paths.end(), f.billing) == paths.end())
        errors.push_back(where + ".billing: unknown " + o.billing + " field '" + f.billing + "'");
      else if (!meta && o.billing == "subscription" && f.direction != Direction::kToCrm)
        // A work order sets a subscription's items, dates and term from the order's lines;
        // a map from the CRM could only claim to.
        errors.push_back(where +
                         ".billing: a subscription takes only custom.* fields from the CRM "
                         "(its items, dates and term come from the order's lines), "
                         "not '" +
                         f.billing + "'");
      std::vector<std::string> refs;
      if (!f.format.empty()) Format(f.format, Json::MakeObject(), &refs);
      if (!f.crm.empty()) refs.push_back(f.crm);
      for (const auto& r : refs)
        if (!crm_field(r)) errors.push_back(where + ": unknown " + o.crm + " field '" + r + "'");
      const Json* src = f.crm.empty() ? nullptr : crm_field(f.crm);
      if (!src) continue;
      const std::string type = (*src)["type"].as_string();
      if (f.transform == "money_to_minor" && type != "currency" && type != "double" &&
          type != "int")
        errors.push_back(where + ".transform: money_to_minor needs a number field; " + f.crm +
                         " is " + type);
      if ((f.transform == "date" && type != "date") ||
          (f.transform == "datetime" && type != "datetime" && type != "date"))
        errors.push_back(where + ".transform: " + f.transform + " does not fit " + f.crm + " (" +
                         type + ")");
      if (f.transform == "boolean" && type != "boolean" && type != "string" && type != "picklist")
        errors.push_back(where + ".transform: boolean does not fit " + f.crm + " (" + type + ")");
      if (type == "boolean" && f.transform.empty() && !meta && f.billing != "active")
        errors.push_back(where + ": " + f.crm + " is boolean; give transform: text or boolean");
      // Every CRM value must reach billing; values only written to the CRM need no entry.
      if (type == "picklist" && !f.value_map.empty() && !f.default_value &&
          f.direction != Direction::kToCrm) {
        for (const auto& pv : (*src)["picklistValues"].array()) {
          const std::string v = pv["value"].as_string();
          if (!f.value_map.count(v))
            errors.push_back(where + ".value_map: picklist value '" + v + "' of " + f.crm +
                             " has no billing value (map it or give a default)");
        }
      }
    }
    // Required billing fields: an account needs a name.
    if (o.billing == "account" && !mapped_paths.count("name"))
      errors.push_back(where_obj + ": the billing account needs a name: map one to 'name'");
    if (o.billing == "product" && !mapped_paths.count("name"))
      errors.push_back(where_obj + ": the billing product needs a name: map one to 'name'");
  }
  return errors;
}

bool IsCustomFieldPath(const std::string& path) {
  return path.size() > 7 && path.rfind("custom.", 0) == 0;
}

const char* RenamedBillingObject(const std::string& old_name) {
  if (old_name == "customer") return "account";
  if (old_name == "invoiceitem") return "charge";
  return nullptr;
}

const Json& GetPath(const Json& payload, const std::string& path) {
  const auto dot = path.find('.');
  if (dot == std::string::npos) return payload[path];
  return payload[path.substr(0, dot)][path.substr(dot + 1)];
}

void SetPath(Json& payload, const std::string& path, Json value) {
  const auto dot = path.find('.');
  if (dot == std::string::npos) {
    payload.Set(path, std::move(value));
    return;
  }
  Json* parent = payload.Find(path.substr(0, dot));
  if (!parent) parent = &payload.Set(path.substr(0, dot), Json::MakeObject());
  parent->Set(path.substr(dot + 1), std::move(value));
}

Mapped ApplyToBilling(const ObjectMap& map, const Json& record, bool for_create) {
  Mapped out;
  for (const auto& f : map.fields) {
    if (f.direction == Direction::kToCrm) continue;
    if (!ConditionHolds(f.when, record)) continue;
    Json v;
    if (f.constant)
      v = Json(*f.constant);
    else if (!f.format.empty())
      v = Json(Format(f.format, record, nullptr));
    else
      v = record[f.crm];
    if (!f.value_map.empty() && !v.is_null()) {
      auto it = f.value_map.find(v.ToText());
      if (it != f.value_map.end()) {
        v = Json(it->second);
      } else if (!f.default_value) {
        out.failed_field = f.crm;
        out.reason = f.crm + ": value '" + v.ToText() + "' has no billing value in the mapping";
        return out;
      } else {
        v = Json();
      }
    }
    if (IsEmpty(v) && f.default_value) v = Json(*f.default_value);
    std::string error;
    v = Convert(f, v, record, &error);
    if (!error.empty()) {
      out.failed_field = f.crm.empty() ? f.billing : f.crm;
      out.reason = out.failed_field + ": " + error;
      return out;
    }
    if (IsEmpty(v)) {
      if (f.required && for_create) {
        out.failed_field = f.crm.empty() ? f.billing : f.crm;
        out.reason = out.failed_field + ": required, but empty";
        return out;
      }
      continue;  // nothing to send: leave the billing value alone
    }
    SetPath(out.payload, f.billing, std::move(v));
  }
  out.hash = StableHash(out.payload.Dump());
  return out;
}

std::vector<std::string> EmptiedBillingPaths(const ObjectMap& map, const Json& payload) {
  std::vector<std::string> out;
  for (const auto& f : map.fields)
    if (f.direction != Direction::kToCrm && GetPath(payload, f.billing).ToText().empty())
      out.push_back(f.billing);
  return out;
}

namespace {

// The CRM values of the fields `take` selects, read back from billing's payload: value maps
// inverted, minor units to the currency's major, epoch seconds to dates.
// `strict`: a value the value map has no CRM value for reads back as null, not as itself.
Json ReadBack(const ObjectMap& map, const Json& payload,
              const std::function<bool(const FieldMap&)>& take, bool strict = false) {
  Json out = Json::MakeObject();
  for (const auto& f : map.fields) {
    if (f.crm.empty() || !take(f)) continue;
    Json v = GetPath(payload, f.billing);
    if (!f.value_map.empty() && !v.is_null()) {
      bool mapped = false;
      for (const auto& [crm_value, billing_value] : f.value_map)
        if (billing_value == v.ToText()) {
          v = Json(crm_value);
          mapped = true;
          break;
        }
      if (!mapped && strict) v = Json();
    }
    if (f.transform == "money_to_minor" && v.is_number()) {
      std::string currency = f.currency;
      if (currency.size() > 2 && currency.front() == '{') currency = payload["currency"].ToText();
      v = Json(ToMajorUnits(std::llround(v.as_number()), currency.empty() ? "USD" : currency));
    } else if (f.transform == "datetime" && v.is_number()) {
      v = Json(FormatUtc(v.as_int()));
    } else if (f.transform == "date" && v.is_number()) {
      v = Json(FormatUtc(v.as_int()).substr(0, 10));  // epoch seconds → the UTC calendar day
    }
    out.Set(f.crm, v);
  }
  return out;
}

}  // namespace

Json ApplyToCrm(const ObjectMap& map, const Json& payload) {
  return ReadBack(map, payload,
                  [](const FieldMap& f) { return f.direction != Direction::kToBilling; });
}

Json CrmValuesOf(const ObjectMap& map, const Json& payload) {
  Json all = ReadBack(
      map, payload,
      [](const FieldMap& f) {
        return f.direction != Direction::kToCrm && f.format.empty() && !f.constant &&
               f.when.empty();
      },
      /*strict=*/true);
  Json out = Json::MakeObject();
  for (const auto& [field, value] : all.object())
    if (!value.is_null() && !value.ToText().empty()) out.Set(field, value);
  return out;
}

Json BillingDecidedFields(const ObjectMap& map, const Json& billing_payload) {
  const Json all = ApplyToCrm(map, billing_payload);
  Json out = Json::MakeObject();
  for (const auto& f : map.fields) {
    const bool billing_decides = f.direction == Direction::kToCrm ||
                                 (f.direction == Direction::kBoth && map.master == "billing");
    if (billing_decides && !f.crm.empty()) out.Set(f.crm, all.Has(f.crm) ? all[f.crm] : Json());
  }
  return out;
}

std::vector<std::string> CrmFieldsToRead(const ObjectMap& map) {
  std::vector<std::string> out = {"Id"};
  auto add = [&](const std::string& f) {
    if (!f.empty() && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  };
  for (const auto& f : map.fields) {
    add(f.crm);
    std::vector<std::string> refs;
    if (!f.format.empty()) Format(f.format, Json::MakeObject(), &refs);
    if (f.currency.size() > 2 && f.currency.front() == '{')
      refs.push_back(f.currency.substr(1, f.currency.size() - 2));
    if (!f.when.empty()) refs.push_back(f.when.substr(0, f.when.find(' ')));
    for (const auto& r : refs) add(r);
  }
  add(map.link.billing_id);
  return out;
}

std::string ConditionField(const std::string& when) {
  for (const char* op : {" is set", " is empty", " == ", " != "})
    if (auto p = when.find(op); p != std::string::npos) return when.substr(0, p);
  return "";
}

bool ConditionHolds(const std::string& when, const Json& record) {
  if (when.empty()) return true;
  auto field_of = [&](size_t end) { return when.substr(0, end); };
  if (auto p = when.find(" is set"); p != std::string::npos) return !IsEmpty(record[field_of(p)]);
  if (auto p = when.find(" is empty"); p != std::string::npos) return IsEmpty(record[field_of(p)]);
  const bool eq = when.find(" == ") != std::string::npos;
  const auto p = eq ? when.find(" == ") : when.find(" != ");
  std::string v = when.substr(p + 4);
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
  const bool same = record[field_of(p)].ToText() == v;
  return eq ? same : !same;
}

}  // namespace tandem::mapping
