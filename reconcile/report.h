// The reconciliation report: every finding as a CSV row, written as it is found (constant
// memory), and a text summary with counts per object and kind and the first few examples.
// Thread-safety: not thread-safe; one reconciliation writes it.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::reconcile {

// The kinds of difference. Object maps name the ones `--fix` may repair (mapping `repair:`).
inline constexpr char kMissingInBilling[] =
    "missing_in_billing";  // the CRM says billed; billing has no record
inline constexpr char kMissingInCrm[] =
    "missing_in_crm";                                 // billing has it; the CRM knows nothing of it
inline constexpr char kUnlinked[] = "unlinked";       // both exist and name each other; no link
inline constexpr char kFieldDrift[] = "field_drift";  // linked; a mapped field differs
inline constexpr char kOrphanedLink[] = "orphaned_link";  // a link whose record is gone on a side

struct Finding {
  std::string object;  // object map (account, subscription) or invoice / payment
  std::string kind;
  std::string crm_id, billing_id;
  std::string field;  // field_drift: the CRM field or billing path
  std::string crm_value, billing_value;
  std::string detail;  // what a person needs to decide
  std::string action;  // "" reported only; "fixed" or "fix failed: ..."
};

class Report {
 public:
  // `csv_path` "": no CSV. The CSV is RFC 4180 with CRLF, a header row first.
  static Result<std::unique_ptr<Report>> Open(const std::string& csv_path, int examples_per_kind);

  Status Add(const Finding& finding);
  // Marks an earlier finding (by object, kind, ids, field) as fixed or failed: the CSV gets a
  // follow-up row with the action, the counts move.
  Status Resolve(const Finding& finding, const std::string& action);
  void Checked(const std::string& object, int64_t records);
  Status Close();

  std::string Summary(bool fix) const;
  int64_t differences() const { return differences_; }
  int64_t fixed() const { return fixed_; }
  int64_t remaining() const { return differences_ - fixed_; }

 private:
  Report(int examples) : examples_(examples) {}
  Status Write(const Finding& f);

  struct Counts {
    int64_t checked = 0;
    std::map<std::string, int64_t> found, fixed;
    std::map<std::string, std::vector<Finding>> examples;
  };
  const int examples_;
  std::ofstream csv_;
  std::string csv_path_;
  std::map<std::string, Counts> by_object_;
  int64_t differences_ = 0, fixed_ = 0;
};

}  // namespace tandem::reconcile
