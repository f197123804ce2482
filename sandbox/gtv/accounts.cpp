// Reference data (bill cycles, account categories, payment terms, custom field definitions)
// and billing accounts: create, read, list, partial update, deactivate. Reference data must
// exist before an account can name it, as in GTV.
#include <cctype>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

const std::set<std::string> kCustomFieldTypes = {"billing-account", "order", "service", "product"};

std::string UpperCode(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool ThreeLetters(const std::string& s) {
  if (s.size() != 3) return false;
  for (char c : s)
    if (!std::isalpha(static_cast<unsigned char>(c))) return false;
  return true;
}

// One address of a request, checked and completed (its purpose defaulted).
value Address(const value& a, const std::string& where) {
  if (!a.is_object()) Invalid(where + " must be an object");
  const std::string type = Str(a, "address_type");
  value out = value::object();
  out["address_type"] = value::string(type);
  std::string purpose = Str(a, "purpose");
  if (type == "postal") {
    if (purpose.empty()) purpose = "BILLING";
    for (const char* k : {"line1", "line2", "line3", "city", "region_or_state", "postal_code"})
      if (Field(a, k)) out[k] = value::string(Str(a, k));
    const std::string country = Str(a, "country");
    if (!country.empty() && !ThreeLetters(country))
      Invalid(where + ".country must be an ISO 3166 alpha-3 code (e.g. USA)");
    if (!country.empty()) out["country"] = value::string(UpperCode(country));
  } else if (type == "email") {
    if (purpose.empty()) purpose = "PRIMARY";
    if (Str(a, "email").empty()) Invalid(where + ".email is required");
    out["email"] = value::string(Str(a, "email"));
  } else if (type == "telecom") {
    if (purpose.empty()) purpose = "PRIMARY";
    if (Str(a, "number").empty()) Invalid(where + ".number is required");
    for (const char* k : {"country_code", "area_code", "number", "extension"})
      if (Field(a, k)) out[k] = value::string(Str(a, k));
  } else {
    Invalid(where + ".address_type must be postal, email or telecom");
  }
  out["purpose"] = value::string(UpperCode(purpose));
  return out;
}

value Named(const value& ref, std::initializer_list<const char*> keys) {
  value out = value::object();
  for (const char* k : keys)
    if (Field(ref, k)) out[k] = ref.at(k);
  return out;
}

}  // namespace

value Impl::AddCustomField(const std::string& type, const std::string& name) {
  value f = value::object();
  f["id"] = value::string(NewId("custom-field"));
  f["name"] = value::string(name);
  f["custom_field_value_type"] = value::string(type);
  return Store("custom-field", f);
}

value Impl::CustomValues(const value& requested, const std::string& type, value current) {
  if (!requested.is_array()) Invalid("custom_field_values must be an array");
  if (!current.is_array()) current = value::array();
  for (size_t i = 0; i < requested.size(); ++i) {
    const value& r = requested.at(i);
    const std::string where = "custom_field_values[" + std::to_string(i) + "]";
    const std::string field_id = RefId(r, "custom_field");
    const value* field = Find("custom-field", field_id);
    if (!field || Str(*field, "custom_field_value_type") != type)
      Invalid(where + ".custom_field: no " + type + " custom field with id '" + field_id + "'");
    std::vector<value> kept;
    value existing = value::null();
    for (const auto& cv : current.as_array()) {
      if (RefId(cv, "custom_field") == field_id)
        existing = cv;
      else
        kept.push_back(cv);
    }
    const value* v = Field(r, "value");
    if (v) {  // null clears the field
      value cv = value::object();
      cv["id"] =
          value::string(existing.is_null() ? NewId("custom-field-value") : Str(existing, "id"));
      value ref = Ref(field_id);
      ref["name"] = field->at("name");
      cv["custom_field"] = ref;
      cv["value"] = *v;
      kept.push_back(cv);
    }
    current = Arr(kept);
  }
  return current;
}

void Impl::RefreshTotals(const std::string& account_id) {
  value* account = Find("billing-account", account_id);
  if (!account) return;
  int64_t balance = 0, pending = 0;
  for (const value* inv : All("invoice"))
    if (RefId(*inv, "billing_account") == account_id && Str(*inv, "status") == "OPEN")
      balance += MinorOf(inv->at("amount_to_pay"));
  for (const value* c : All("one-time-charge"))
    if (RefId(*c, "billing_account") == account_id && !c->at("invoiced").as_bool())
      pending += MinorOf(c->at("total_amount"));
  for (const value* a : All("adjustment"))
    if (RefId(*a, "billing_account") == account_id && !a->at("invoiced").as_bool())
      pending += (a->at("credit").as_bool() ? -1 : 1) * MinorOf(a->at("amount"));
  const std::string currency = Str(*account, "currency_code");
  (*account)["balance"] = Money(balance, currency);
  (*account)["pending_charges_total"] = Money(pending, currency);
}

Reply Handler::Reference() {
  static const std::map<std::string, std::string> kKinds = {
      {"bill-cycles", "bill-cycle"},
      {"billing-account-categories", "billing-account-category"},
      {"payment-terms", "payment-term"},
      {"custom-fields", "custom-field"}};
  const std::string& kind = kKinds.at(seg_[0]);
  if (method_ != "GET") return NoRoute();
  if (seg_.size() == 1) return List(kind);
  if (seg_.size() == 2) return Ok(s_.Get(kind, seg_[1]));
  return NoRoute();
}

value Handler::Party(const value& requested, value current, bool create) {
  if (!requested.is_object()) Invalid("responsible_party must be an object");
  const std::string type = Str(requested, "party_type");
  if (!(type.empty() && !create) && type != "organization")
    Invalid("responsible_party.party_type must be organization");
  if (create) {
    current = value::object();
    current["id"] = value::string(s_.NewId("party"));
    current["party_type"] = value::string("organization");
    current["addresses"] = value::array();
  }
  if (create || Field(requested, "organization_name")) {
    if (Str(requested, "organization_name").empty())
      Invalid("responsible_party.organization_name is required");
    current["organization_name"] = value::string(Str(requested, "organization_name"));
  }
  if (Field(requested, "external_customer_num"))
    current["external_customer_num"] = value::string(Str(requested, "external_customer_num"));
  if (const value* addresses = Field(requested, "addresses")) {
    if (!addresses->is_array()) Invalid("responsible_party.addresses must be an array");
    // An address replaces the one of the same (address_type, purpose); others stay.
    std::vector<value> out;
    for (const auto& a : current.at("addresses").as_array()) out.push_back(a);
    for (size_t i = 0; i < addresses->size(); ++i) {
      // On an update, an e-mail or telecom address without its value removes that address
      // (how a cleared CRM phone reaches billing) [I].
      const value& asked = addresses->at(i);
      const std::string kind = asked.is_object() ? Str(asked, "address_type") : "";
      if (!create && ((kind == "email" && Str(asked, "email").empty()) ||
                      (kind == "telecom" && Str(asked, "number").empty()))) {
        const std::string purpose =
            Str(asked, "purpose").empty() ? "PRIMARY" : UpperCode(Str(asked, "purpose"));
        std::vector<value> kept;
        for (const auto& old : out)
          if (!(Str(old, "address_type") == kind && Str(old, "purpose") == purpose))
            kept.push_back(old);
        out = kept;
        continue;
      }
      value a = Address(asked, "responsible_party.addresses[" + std::to_string(i) + "]");
      bool replaced = false;
      for (auto& old : out) {
        if (Str(old, "address_type") == Str(a, "address_type") &&
            Str(old, "purpose") == Str(a, "purpose")) {
          a["id"] = old.at("id");
          old = a;
          replaced = true;
        }
      }
      if (!replaced) {
        a["id"] = value::string(s_.NewId("address"));
        out.push_back(a);
      }
    }
    current["addresses"] = Arr(out);
  }
  return current;
}

void Handler::ApplyAccount(value& account, const value& body, bool create) {
  if (create || Field(body, "bill_cycle")) {
    const value* cycle = s_.Find("bill-cycle", RefId(body, "bill_cycle"));
    if (!cycle) Invalid("bill_cycle: a bill cycle id from GET /bill-cycles is required");
    account["bill_cycle"] = Named(*cycle, {"id", "name", "bill_cycle_type", "currency_code"});
    if (create && !Field(body, "currency_code"))
      account["currency_code"] = cycle->at("currency_code");
  }
  if (create || Field(body, "billing_account_category")) {
    const value* category =
        s_.Find("billing-account-category", RefId(body, "billing_account_category"));
    if (!category)
      Invalid(
          "billing_account_category: a category id from GET /billing-account-categories is "
          "required");
    account["billing_account_category"] = Named(*category, {"id", "code", "name"});
  }
  if (Field(body, "payment_term") || create) {
    const std::string id = RefId(body, "payment_term");
    const value* term = s_.Find("payment-term", id.empty() && create ? "301" : id);
    if (!term) Invalid("payment_term: no payment term with id '" + id + "'");
    account["payment_term"] = Named(*term, {"id", "name", "days"});
  }
  if (Field(body, "currency_code")) {
    const std::string currency = UpperCode(Str(body, "currency_code"));
    if (!ThreeLetters(currency)) Invalid("currency_code must be an ISO 4217 code (e.g. USD)");
    account["currency_code"] = value::string(currency);
  }
  if (Field(body, "external_account_num"))
    account["external_account_num"] = value::string(Str(body, "external_account_num"));
  if (Field(body, "start_date"))
    account["start_date"] =
        value::string(DateOf(s_.When(Str(body, "start_date"), "start_date"), s_.offset_min));
  else if (create)
    account["start_date"] = value::string(s_.Today());
  if (Field(body, "bill_type") || create) {
    const std::string bill_type = Field(body, "bill_type") ? Str(body, "bill_type") : "EMAIL";
    if (bill_type != "PAPER" && bill_type != "EMAIL" && bill_type != "PAPER_EMAIL" &&
        bill_type != "NONE")
      Invalid("bill_type must be PAPER, EMAIL, PAPER_EMAIL or NONE");
    account["bill_type"] = value::string(bill_type);
  }
  if (const value* party = Field(body, "responsible_party"))
    account["responsible_party"] = Party(*party, account["responsible_party"], create);
  else if (create)
    Invalid("responsible_party.organization_name is required");
  if (const value* cfv = Field(body, "custom_field_values"))
    account["custom_field_values"] =
        s_.CustomValues(*cfv, "billing-account", account["custom_field_values"]);
  if (Field(body, "description")) account["description"] = value::string(Str(body, "description"));
}

Reply Handler::CreateAccount() {
  value account = value::object();
  account["external_account_num"] = value::null();
  account["description"] = value::null();
  account["custom_field_values"] = value::array();
  ApplyAccount(account, body_, true);
  // Ids last: a refused create leaves no gap in the sequences a client might notice.
  account["id"] = value::string(s_.NewId("billing-account"));
  account["account_num"] = value::string(std::to_string(1000000 + ++s_.account_nums));
  account["status"] = value::string("ACTIVE");
  account["created_on"] = value::string(s_.NowStamp());
  account["updated_on"] = value::string(s_.NowStamp());
  s_.Store("billing-account", account);
  s_.RefreshTotals(account.at("id").as_string());
  return Ok(s_.Get("billing-account", account.at("id").as_string()));
}

Reply Handler::UpdateAccount(value& account) {
  value changed = account;  // applied to a copy: a refused update changes nothing
  ApplyAccount(changed, body_, false);
  changed["updated_on"] = value::string(s_.NowStamp());
  account = changed;
  return Ok(account);
}

Reply Handler::BillingAccounts() {
  if (seg_.size() == 1 && method_ == "POST") return CreateAccount();
  if (seg_.size() == 1 && method_ == "GET") return List("billing-account");
  if (seg_.size() < 2) return NoRoute();
  value& account = s_.Get("billing-account", seg_[1]);
  if (seg_.size() == 2 && method_ == "GET") return Ok(account);
  if (seg_.size() == 2 && method_ == "PUT") return UpdateAccount(account);
  if (seg_.size() == 3 && method_ == "POST" && seg_[2] == "deactivate") {
    if (Str(account, "status") == "DEACTIVATED") Invalid("billing account is already DEACTIVATED");
    account["status"] = value::string("DEACTIVATED");
    account["updated_on"] = value::string(s_.NowStamp());
    return Ok(account);
  }
  if (seg_.size() == 3 && method_ == "POST" && seg_[2] == "change-service")
    return ChangeService(seg_[1]);
  return NoRoute();
}

}  // namespace tandem::sandbox::gtv
