#include "connector/crm/soql.h"

#include <cctype>

#include "connector/crm/crm_client.h"

namespace tandem::connector::crm {
namespace {

void Escape(std::string_view value, bool like, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\'':
        out->append("\\'");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '%':
        if (like)
          out->append("\\%");
        else
          out->push_back(c);
        break;
      case '_':
        if (like)
          out->append("\\_");
        else
          out->push_back(c);
        break;
      default:
        out->push_back(c);
    }
  }
}

}  // namespace

std::string SoqlQuote(std::string_view value) {
  std::string out = "'";
  Escape(value, false, &out);
  return out + "'";
}

std::string SoqlQuoteLike(std::string_view value) {
  std::string out = "'";
  Escape(value, true, &out);
  return out + "'";
}

bool IsSoqlIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  bool segment_start = true;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      if (segment_start) return false;
      segment_start = true;
      continue;
    }
    if (segment_start && !std::isalpha(u)) return false;
    if (!std::isalnum(u) && c != '_') return false;
    segment_start = false;
  }
  return !segment_start;
}

bool IsSalesforceId(std::string_view id) {
  if (id.size() != 15 && id.size() != 18) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

SoqlBuilder::SoqlBuilder(std::string object, std::vector<std::string> fields)
    : object_(std::move(object)), fields_(std::move(fields)) {
  if (!IsSoqlIdentifier(object_)) error_ = "invalid object name '" + object_ + "'";
  if (fields_.empty()) error_ = "a query needs at least one field";
  for (const auto& f : fields_)
    if (error_.empty() && !IsSoqlIdentifier(f)) error_ = "invalid field name '" + f + "'";
}

SoqlBuilder& SoqlBuilder::WhereEquals(const std::string& field, const std::string& value) {
  if (!IsSoqlIdentifier(field)) error_ = "invalid field name '" + field + "'";
  where_.push_back(field + " = " + SoqlQuote(value));
  return *this;
}

SoqlBuilder& SoqlBuilder::WhereIn(const std::string& field,
                                  const std::vector<std::string>& values) {
  if (!IsSoqlIdentifier(field)) error_ = "invalid field name '" + field + "'";
  if (values.empty()) error_ = "IN needs at least one value";
  std::string list;
  for (const auto& v : values) list += (list.empty() ? "" : ", ") + SoqlQuote(v);
  where_.push_back(field + " IN (" + list + ")");
  return *this;
}

SoqlBuilder& SoqlBuilder::WhereLike(const std::string& field, const std::string& literal_prefix) {
  if (!IsSoqlIdentifier(field)) error_ = "invalid field name '" + field + "'";
  std::string quoted = SoqlQuoteLike(literal_prefix);
  quoted.insert(quoted.size() - 1, "%");  // prefix match: the only wildcard is ours
  where_.push_back(field + " LIKE " + quoted);
  return *this;
}

SoqlBuilder& SoqlBuilder::WhereAfter(const std::string& time_field,
                                     const std::string& datetime_literal,
                                     const std::string& after_id) {
  WhereLiteral(time_field, ">=", datetime_literal);
  where_.push_back("(" + time_field + " > " + datetime_literal + " OR Id > " + SoqlQuote(after_id) +
                   ")");
  return *this;
}

SoqlBuilder& SoqlBuilder::WhereLiteral(const std::string& field, const std::string& op,
                                       const std::string& soql_literal) {
  if (!IsSoqlIdentifier(field)) error_ = "invalid field name '" + field + "'";
  if (op != "=" && op != "!=" && op != "<" && op != ">" && op != "<=" && op != ">=")
    error_ = "invalid operator '" + op + "'";
  // Only number, boolean, null and date/datetime literals are accepted here.
  for (char c : soql_literal) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != ':' && c != '.' && c != '+')
      error_ = "invalid literal '" + soql_literal + "'";
  }
  where_.push_back(field + " " + op + " " + soql_literal);
  return *this;
}

SoqlBuilder& SoqlBuilder::OrderBy(const std::string& field, bool ascending) {
  if (!IsSoqlIdentifier(field)) error_ = "invalid field name '" + field + "'";
  order_.push_back(field + (ascending ? " ASC" : " DESC"));
  return *this;
}

SoqlBuilder& SoqlBuilder::Limit(int64_t n) {
  limit_ = n;
  return *this;
}

Result<std::string> SoqlBuilder::Build() const {
  if (!error_.empty()) return Status::InvalidArgument("SOQL: " + error_);
  std::string q = "SELECT ";
  for (size_t i = 0; i < fields_.size(); ++i) q += (i ? ", " : "") + fields_[i];
  q += " FROM " + object_;
  for (size_t i = 0; i < where_.size(); ++i) q += (i ? " AND " : " WHERE ") + where_[i];
  for (size_t i = 0; i < order_.size(); ++i) q += (i ? ", " : " ORDER BY ") + order_[i];
  if (limit_ >= 0) q += " LIMIT " + std::to_string(limit_);
  return q;
}

Status CrmClient::QueryByIds(const std::string& object, const std::vector<std::string>& fields,
                             const std::vector<std::string>& ids, const RecordCallback& on_record) {
  if (ids.empty()) return Status::Ok();
  if (ids.size() > kIdsPerRead)
    return Status::InvalidArgument("query " + object + " by id: " + std::to_string(ids.size()) +
                                   " ids; at most " + std::to_string(kIdsPerRead) + " a query");
  auto soql = SoqlBuilder(object, fields).WhereIn("Id", ids).Build();
  if (!soql.ok()) return soql.status();
  return Query(*soql, on_record);
}

}  // namespace tandem::connector::crm
