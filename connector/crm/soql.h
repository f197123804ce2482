// Building SOQL safely. Every value put into a query goes through Quote()/QuoteLike(), and
// every field or object name through a strict identifier check, so a hostile id such as
// "x' OR Name != '" stays a string literal and cannot change the query.
// Escapes per Salesforce's "Quoted String Escape Sequences" (SOQL and SOSL Reference).
// Thread-safety: pure functions and a value-type builder.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace tandem::connector::crm {

// 'value' with \ ' " and control characters escaped.
std::string SoqlQuote(std::string_view value);
// Like SoqlQuote, and also escapes the LIKE wildcards % and _ so they match literally.
std::string SoqlQuoteLike(std::string_view value);
// True for names like Name, Account.Name, Billing_Id__c, ns__Field__r.Name.
bool IsSoqlIdentifier(std::string_view name);
// True for 15/18-character Salesforce ids (alphanumeric).
bool IsSalesforceId(std::string_view id);

class SoqlBuilder {
 public:
  SoqlBuilder(std::string object, std::vector<std::string> fields);

  // Conditions are ANDed. Field names are validated; values are quoted.
  SoqlBuilder& WhereEquals(const std::string& field, const std::string& value);
  SoqlBuilder& WhereIn(const std::string& field, const std::vector<std::string>& values);
  SoqlBuilder& WhereLike(const std::string& field, const std::string& literal_prefix);
  // A comparison with a non-string literal already in SOQL form (a number, a datetime).
  SoqlBuilder& WhereLiteral(const std::string& field, const std::string& op,
                            const std::string& soql_literal);
  // Keyset paging: rows at or after `datetime_literal` (>=, so rows sharing the boundary
  // time are never skipped) and, at that very time, only ids after `after_id`. Pair with
  // OrderBy(time_field), OrderBy("Id").
  SoqlBuilder& WhereAfter(const std::string& time_field, const std::string& datetime_literal,
                          const std::string& after_id);
  SoqlBuilder& OrderBy(const std::string& field, bool ascending = true);
  SoqlBuilder& Limit(int64_t n);

  // The query, or InvalidArgument naming the bad identifier or operator.
  Result<std::string> Build() const;

 private:
  std::string object_;
  std::vector<std::string> fields_;
  std::vector<std::string> where_;
  std::vector<std::string> order_;
  int64_t limit_ = -1;
  std::string error_;
};

}  // namespace tandem::connector::crm
