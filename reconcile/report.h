// The reconciliation report: every finding as a CSV row, written as it is found (constant
// memory), and a text summary with counts per object and kind and the first few examples;
// for the revenue kinds also the monthly amounts at stake per currency.
// Thread-safety: not thread-safe; one reconciliation writes it.
#pragma once

#include <cstdint>
#include <fstream>
#include <iosfwd>
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
// One billing record linked under two object maps (an Account and a Contact): a sync of either
// overwrites what the other wrote, so its fields are not compared and `--fix` never repairs
// it (a repair would flip it back and forth on every run); a person decides which link goes.
inline constexpr char kLinkedTwice[] = "linked_twice";
// Money-level kinds (`--object revenue`): a line billing charges less for a month than was
// sold, more, or a sold recurring add-on billing does not charge at all.
inline constexpr char kUnderBilled[] = "under_billed";
inline constexpr char kOverBilled[] = "over_billed";
inline constexpr char kMissingAddOn[] = "missing_add_on";
// Not a difference: a revenue row per account and currency that differs, with its totals.
inline constexpr char kAccountTotal[] = "account_total";

struct Finding {
  std::string object;  // object map (account, subscription) or invoice / payment
  std::string kind;
  std::string crm_id, billing_id;
  std::string field;  // field_drift: the CRM field or billing path
  std::string crm_value, billing_value;
  std::string detail;  // what a person needs to decide
  std::string action;  // "" reported only; "fixed" or "fix failed: ..."
  // Revenue findings: the CRM account, the billing customer, and the monthly amounts in minor
  // units of `currency` (empty for the other kinds). Sold − billed > 0: under-billed.
  std::string account_id = {}, customer_id = {}, currency = {};
  int64_t sold_monthly = 0, billed_monthly = 0;

  int64_t difference() const { return sold_monthly - billed_monthly; }
};

// The monthly amounts at stake in one currency, in its minor units.
struct MonthlyAtStake {
  int64_t under_billed = 0, over_billed = 0;  // findings (missing add-ons count as under)
  int64_t under_fixed = 0, over_fixed = 0;    // of which repaired
  int64_t accounts = 0;                       // accounts with a difference in this currency
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
  // Writes a revenue account_total row (a summary, not a difference) and counts the account.
  Status AddAccountTotal(const Finding& total);
  // A line under the object in the summary (what was not compared, and why); the same `key`
  // again replaces it.
  void Note(const std::string& object, const std::string& key, const std::string& text);
  Status Close();

  std::string Summary(bool fix) const;
  int64_t differences() const { return differences_; }
  int64_t fixed() const { return fixed_; }
  int64_t remaining() const { return differences_ - fixed_; }
  // By currency (upper case): the revenue findings' monthly amounts.
  const std::map<std::string, MonthlyAtStake>& monthly() const { return monthly_; }

 private:
  Report(int examples) : examples_(examples) {}
  Status Write(const Finding& f);

  struct Counts {
    int64_t checked = 0;
    std::map<std::string, int64_t> found, fixed;
    std::map<std::string, std::vector<Finding>> examples;
    std::map<std::string, std::map<std::string, int64_t>> monthly;  // kind → currency → amount
    std::map<std::string, std::string> notes;
  };
  void SummarizeObject(const std::string& object, const Counts& c, bool fix,
                       std::ostream& out) const;
  const int examples_;
  std::ofstream csv_;
  std::string csv_path_;
  std::map<std::string, Counts> by_object_;
  std::map<std::string, MonthlyAtStake> monthly_;
  int64_t differences_ = 0, fixed_ = 0;
};

}  // namespace tandem::reconcile
