// The sandbox's SOQL parser: the subset Tandem and standard clients use — field lists with
// parent relationships (Account.Name), COUNT(), WHERE with = != <> < > <= >= IN, NOT IN, LIKE,
// AND / OR / NOT and parentheses, NULL, TRUE/FALSE, numbers, strings, date and datetime
// literals; ORDER BY (ASC|DESC, NULLS FIRST|LAST), LIMIT, OFFSET. Written for the emulator
// alone (it shares nothing with the client). Never throws, never crashes: any input either
// parses or gives a MALFORMED_QUERY message with its position. Fuzzed (tests/fuzz).
// Thread-safety: pure functions; the AST is an immutable value.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tandem::sandbox::salesforce {

struct SoqlLiteral {
  enum class Kind { kNull, kBool, kNumber, kString, kDate, kDateTime } kind = Kind::kNull;
  bool b = false;
  double number = 0;
  std::string text;      // string value (unescaped), or the date/datetime as written
  int64_t epoch_ms = 0;  // kDate (midnight UTC) / kDateTime
};

struct SoqlExpr {
  enum class Kind { kAnd, kOr, kNot, kCompare } kind = Kind::kCompare;
  std::vector<std::unique_ptr<SoqlExpr>> children;  // kAnd/kOr: 2; kNot: 1
  std::string field;                                // kCompare
  std::string op;                                   // = != < > <= >= IN NOT_IN LIKE
  std::vector<SoqlLiteral> values;                  // one, or the IN list
};

struct SoqlOrder {
  std::string field;
  bool ascending = true;
  bool nulls_first = true;  // Salesforce's default: NULLS FIRST for ASC, NULLS LAST for DESC
};

struct SoqlQuery {
  bool count_only = false;          // SELECT COUNT()
  std::vector<std::string> fields;  // as written (case kept)
  std::string object;
  std::unique_ptr<SoqlExpr> where;
  std::vector<SoqlOrder> order_by;
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
};

struct SoqlParseResult {
  std::unique_ptr<SoqlQuery> query;  // null on error
  std::string error;                 // Salesforce-style message naming the position
};

SoqlParseResult ParseSoql(const std::string& text);

// A field value as the evaluator sees it.
using SoqlValue = SoqlLiteral;
// Reads a (possibly dotted) field of the record being tested; nullopt = unknown field.
using FieldReader = std::function<std::optional<SoqlValue>(const std::string& field)>;

// Evaluates a WHERE expression. Comparisons with NULL follow SOQL: only = / != match null.
bool EvaluateSoql(const SoqlExpr& expr, const FieldReader& read);
// Orders two values for ORDER BY: negative, zero or positive (null handling by the caller).
int CompareSoqlValues(const SoqlValue& a, const SoqlValue& b);
// Parses "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ss(.sss)(Z|±hh:mm|±hhmm)" to epoch ms.
bool ParseSoqlDateTime(const std::string& text, bool* is_date, int64_t* epoch_ms);

}  // namespace tandem::sandbox::salesforce
