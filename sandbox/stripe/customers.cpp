// Customers: create, retrieve, update, delete, list (by email) and search.
#include <utility>
#include <vector>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

using SearchClauses = std::vector<std::pair<std::string, std::string>>;

// query: clause (AND clause)*, clause = field:'value' | metadata['key']:'value'
SearchClauses ParseSearchQuery(const std::string& q) {
  SearchClauses clauses;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < q.size() && q[i] == ' ') ++i;
  };
  while (i < q.size()) {
    skip_space();
    std::string field;
    if (q.compare(i, 10, "metadata['") == 0) {
      const auto end = q.find("']", i + 10);
      if (end == std::string::npos) ThrowInvalid("query", "Invalid search query");
      field = "metadata." + q.substr(i + 10, end - i - 10);
      i = end + 2;
    } else {
      const auto colon = q.find(':', i);
      if (colon == std::string::npos) ThrowInvalid("query", "Invalid search query");
      field = q.substr(i, colon - i);
      i = colon;
    }
    if (i >= q.size() || q[i] != ':' || i + 1 >= q.size() || q[i + 1] != '\'')
      ThrowInvalid("query", "Invalid search query: expected :'value'");
    i += 2;
    std::string v;
    while (i < q.size() && q[i] != '\'') {
      if (q[i] == '\\' && i + 1 < q.size()) ++i;
      v.push_back(q[i++]);
    }
    if (i >= q.size()) ThrowInvalid("query", "Invalid search query: unterminated string");
    ++i;
    clauses.emplace_back(field, v);
    skip_space();
    if (i < q.size()) {
      if (q.compare(i, 3, "AND") != 0)
        ThrowInvalid("query", "Only AND is supported in the sandbox");
      i += 3;
    }
  }
  return clauses;
}

bool MatchesSearch(const value* c, const SearchClauses& clauses) {
  bool match = true;
  for (const auto& [field, v] : clauses) {
    if (field.rfind("metadata.", 0) == 0) {
      const std::string k = field.substr(9);
      const value& m = c->at("metadata");
      match = match && m.has_field(k) && m.at(k).as_string() == v;
    } else {
      match =
          match && c->has_field(field) && c->at(field).is_string() && c->at(field).as_string() == v;
    }
  }
  return match;
}

value SearchResult(const std::vector<value>& data) {
  value out = value::object();
  out["object"] = value::string("search_result");
  value arr = value::array();
  for (size_t k = 0; k < data.size() && k < 100; ++k) arr[k] = data[k];
  out["data"] = arr;
  out["has_more"] = value::boolean(data.size() > 100);
  out["next_page"] = value::null();
  out["url"] = value::string("/v1/customers/search");
  return out;
}

}  // namespace

value StripeSandbox::Impl::NewCustomer(const value& p) {
  CheckKnown(p, {"name", "email", "phone", "description", "address", "metadata", "currency",
                 "invoice_prefix", "expand"});
  value c = value::object();
  c["id"] = value::string(NewId("cus"));
  c["object"] = value::string("customer");
  c["address"] = value::null();
  c["balance"] = value::number(0);
  c["created"] = value::number(Now());
  c["currency"] = value::null();
  c["default_source"] = value::null();
  c["delinquent"] = value::boolean(false);
  c["description"] = value::null();
  c["discount"] = value::null();
  c["email"] = value::null();
  c["invoice_prefix"] = value::string("SBX" + std::to_string(seq % 100000));
  value settings = value::object();
  settings["custom_fields"] = value::null();
  settings["default_payment_method"] = value::null();
  settings["footer"] = value::null();
  settings["rendering_options"] = value::null();
  c["invoice_settings"] = settings;
  c["livemode"] = value::boolean(false);
  c["metadata"] = value::object();
  c["name"] = value::null();
  c["next_invoice_sequence"] = value::number(1);
  c["phone"] = value::null();
  c["preferred_locales"] = value::array();
  c["shipping"] = value::null();
  c["tax_exempt"] = value::string("none");
  c["test_clock"] = value::null();
  ApplyCustomer(c, p);
  return c;
}

void StripeSandbox::Impl::ApplyCustomer(value& c, const value& p) {
  for (const char* k : {"name", "email", "phone", "description", "currency"})
    if (Has(p, k)) c[k] = Str(p, k).empty() ? value::null() : value::string(Str(p, k));
  if (Has(p, "address")) {
    const value& a = p.at("address");
    value addr = c.at("address").is_object() ? c.at("address") : value::object();
    for (const char* k : {"line1", "line2", "city", "state", "postal_code", "country"}) {
      if (!addr.has_field(k)) addr[k] = value::null();
      if (a.is_object() && a.has_field(k))
        addr[k] = Str(a, k).empty() ? value::null() : value::string(Str(a, k));
    }
    c["address"] = addr;
  }
  c["metadata"] = Metadata(p, c.at("metadata"));
}

Reply Handler::Customers() {
  if (seg_.size() == 2 && method_ == "POST") {
    value c = s_.NewCustomer(p_);
    s_.Emit("customer.created", s_.Store("customer", c));
    return Ok(c);
  }
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string email = Str(p_, "email");
    return s_.ListOf("customer", p_, "/v1/customers", [&](const value& c) {
      return email.empty() || (c.at("email").is_string() && c.at("email").as_string() == email);
    });
  }
  if (seg_.size() == 3 && seg_[2] == "search" && method_ == "GET") return SearchCustomers();
  if (seg_.size() != 3) return Missing("resource", url_);
  value* c = s_.Find("customer", seg_[2]);
  if (!c) return Missing("customer", seg_[2]);
  if (method_ == "GET") return Ok(s_.Expand(*c, p_, false));
  if (method_ == "POST") return UpdateCustomer(c);
  if (method_ == "DELETE") return DeleteCustomer(*c);
  return Missing("resource", url_);
}

Reply Handler::SearchCustomers() {
  const std::string q = Str(p_, "query");
  if (q.empty()) ThrowMissingParam("query");
  const SearchClauses clauses = ParseSearchQuery(q);
  std::vector<value> data;
  for (auto it = s_.order["customer"].rbegin(); it != s_.order["customer"].rend(); ++it) {
    const value* c = s_.Find("customer", *it);
    if (!c) continue;
    if (MatchesSearch(c, clauses)) data.push_back(*c);
  }
  return Ok(SearchResult(data));
}

Reply Handler::UpdateCustomer(value* c) {
  CheckKnown(
      p_, {"name", "email", "phone", "description", "address", "metadata", "currency", "expand"});
  value before = *c;
  s_.ApplyCustomer(*c, p_);
  value prev = value::object();
  for (const auto& kv : c->as_object())
    if (!before.has_field(kv.first) || before.at(kv.first) != kv.second)
      prev[kv.first] = before.has_field(kv.first) ? before.at(kv.first) : value::null();
  if (prev.size() > 0) s_.Emit("customer.updated", *c, prev);
  return Ok(*c);
}

Reply Handler::DeleteCustomer(const value& c) {
  value gone = value::object();
  gone["id"] = value::string(seg_[2]);
  gone["object"] = value::string("customer");
  gone["deleted"] = value::boolean(true);
  s_.Emit("customer.deleted", c);
  s_.objects["customer"].erase(seg_[2]);
  return Ok(gone);
}

}  // namespace tandem::sandbox::stripe
