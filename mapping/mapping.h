// Steps 1–2: object maps and field maps, loaded from a YAML mapping file, and the transforms
// that turn a CRM record into a billing payload (and back). Pure: text and records in,
// records and errors out — no network, no database, no clock (times come in as arguments).
// Thread-safety: a loaded Mapping is immutable; Apply* are const and thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/json.h"
#include "util/money_units.h"
#include "util/result.h"

namespace tandem::mapping {

enum class Direction { kToBilling, kToCrm, kBoth };

// One field map. Exactly one source: `crm` (a CRM field), `format` ("{Name} ({Id})") or
// `constant`.
struct FieldMap {
  std::string crm;      // CRM field name (source for to-billing, target for to-CRM)
  std::string billing;  // billing path: "name", "address.city", "custom.crm_segment"
  Direction direction = Direction::kToBilling;
  std::string transform;  // text | number | integer | boolean | date | datetime |
                          // money_to_minor | "" (as is)
  std::string currency;   // money_to_minor: ISO code, or "{Field}" to read it from the record
  std::map<std::string, std::string> value_map;  // picklist value → billing value
  std::optional<std::string> default_value;      // when the source is empty / unmapped
  std::string format;  // "{FirstName} {LastName}": concatenation and formatting
  std::optional<std::string> constant;
  std::string when;  // condition: "Field == 'x'", "Field != 'x'", "Field is set", "Field is empty"
  bool required = false;  // a record whose mapped value is empty fails with this field named
  int line = 0;           // where it stands in the mapping file
};

// The CRM fields Tandem writes back after a sync (never mapped, never hashed).
struct LinkFields {
  std::string billing_id, account_number, status, time, error;
};

// What `tandem reconcile --fix` may repair for an object map (the `repair:` list). The last
// three are money-level (`--object revenue`) and belong on the subscription map.
inline const std::vector<std::string>& RepairKinds() {
  static const std::vector<std::string> kinds = {
      "field_drift",  "missing_in_billing", "unlinked",      "orphaned_link",
      "under_billed", "over_billed",        "missing_add_on"};
  return kinds;
}

struct ObjectMap {
  std::string name;              // "account"
  std::string crm;               // "Account"
  std::string billing;           // "account"
  std::string master = "crm";    // which side wins: crm | billing
  std::set<std::string> repair;  // reconcile --fix may repair these kinds (RepairKinds())
  LinkFields link;
  // `sync: on_change`: `serve` syncs a record when the CRM changes it (actions/change_poller.h);
  // `manual` (the default): only when asked. `eligible:` limits which records that applies to:
  // a condition (as a field's `when`), a creation date (YYYY-MM-DD, inclusive) and record
  // types (developer names; the CRM filters by RecordType.DeveloperName).
  bool sync_on_change = false;
  std::string eligible_when;
  std::string eligible_since;
  std::vector<std::string> eligible_record_types;
  std::vector<FieldMap> fields;
  int line = 0;
};

struct Mapping {
  std::string source;  // file name, for messages
  std::vector<ObjectMap> objects;

  const ObjectMap* Find(const std::string& name) const;  // by name or CRM object (case-insensitive)
};

// Parses a mapping file's text. Failure: InvalidArgument listing each problem as
// "FILE:LINE:COL: PATH: what was expected".
Result<Mapping> ParseMapping(const std::string& yaml_text, const std::string& file_name);

// Validates against the CRM's describe of each object ({"fields":[{name,type,picklistValues,
// nillable,...}]}) and the billing object's known paths. Returns every problem, one per line,
// "FILE:LINE: objects[NAME].fields[N]: ..."; empty when the mapping is sound.
std::vector<std::string> Validate(const Mapping& mapping,
                                  const std::map<std::string, Json>& crm_describe_by_object);

// The billing paths an object kind accepts ("account": name, email, address.city, ...;
// custom fields, "custom.<key>", are always accepted: each adapter keeps them its own way,
// Stripe as metadata, Gotransverse as custom field values).
const std::vector<std::string>& BillingPaths(const std::string& billing_object);
bool IsCustomFieldPath(const std::string& path);
// The name a billing object had when the mapping used Stripe's ("customer" is "account" now);
// null when `old_name` was never renamed.
const char* RenamedBillingObject(const std::string& old_name);

// One record's mapping result.
struct Mapped {
  Json payload = Json::MakeObject();  // nested: {"name":..,"address":{..},"custom":{..}}
  std::string hash;                   // stable hash of the payload: "unchanged" detection
  std::string failed_field;           // set when the record cannot be mapped
  std::string reason;
  bool ok() const { return failed_field.empty() && reason.empty(); }
};

// A `when` condition ("Field == 'v'", "Field != 'v'", "Field is set", "Field is empty") holds
// for the record; "" always holds. ConditionField: the field it reads ("" for none).
bool ConditionHolds(const std::string& when, const Json& record);
std::string ConditionField(const std::string& when);

// CRM record → billing payload, per the object's to-billing field maps. `for_create`: a
// `required` field left empty fails the record (required is a rule for creating a record;
// linking two records that exist, nothing is written from it).
Mapped ApplyToBilling(const ObjectMap& map, const Json& crm_record, bool for_create = true);
// The billing paths a to-billing field map leaves empty in this payload: an update sends them
// as cleared, so a value emptied in the CRM is emptied in billing (an update leaves the fields
// it does not name as they are).
std::vector<std::string> EmptiedBillingPaths(const ObjectMap& map, const Json& payload);
// Billing payload → CRM fields, per the to-CRM field maps (for query diffs and callbacks).
Json ApplyToCrm(const ObjectMap& map, const Json& billing_payload);
// What the CRM fields the map sends to billing hold, read back from billing's payload: the
// fields a one-to-one mapping can give back (no format, constant or condition), set only where
// billing has a value. A CRM record made from a billing customer starts from these.
Json CrmValuesOf(const ObjectMap& map, const Json& billing_payload);
// The CRM fields billing decides — to-CRM fields, and two-way ones when billing is the
// master — as the payload has them (a field the payload lacks is null: billing has no value).
Json BillingDecidedFields(const ObjectMap& map, const Json& billing_payload);

// The CRM fields a sync must read for this object (mapped sources, format references, Id).
std::vector<std::string> CrmFieldsToRead(const ObjectMap& map);

// Reads a billing path ("address.city", "custom.k") from a payload; null when absent.
const Json& GetPath(const Json& payload, const std::string& path);
void SetPath(Json& payload, const std::string& path, Json value);

using ::tandem::StableHash;  // util/money_units.h

using ::tandem::CurrencyDecimals;  // util/money_units.h

}  // namespace tandem::mapping
