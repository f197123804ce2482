#include "reconcile/report.h"

#include <cstdlib>
#include <sstream>

#include "reconcile/money.h"
#include "util/csv.h"

namespace tandem::reconcile {
namespace {

std::vector<std::string> Row(const Finding& f) {
  std::vector<std::string> row = {f.object,    f.kind,          f.crm_id, f.billing_id, f.field,
                                  f.crm_value, f.billing_value, f.detail, f.action};
  // The money columns, in major units of the currency; empty for the record-level kinds.
  const bool money = !f.currency.empty();
  row.insert(row.end(), {f.account_id, f.customer_id, f.currency,
                         money ? FormatMinor(f.sold_monthly, f.currency) : "",
                         money ? FormatMinor(f.billed_monthly, f.currency) : "",
                         money ? FormatMinor(f.difference(), f.currency) : ""});
  return row;
}

std::string Quote(const std::string& v) { return v.empty() ? "(empty)" : "\"" + v + "\""; }

void Example(const Finding& f, std::ostream& out) {
  const bool money = !f.currency.empty();
  out << "    - ";
  if (!f.crm_id.empty()) out << "CRM " << f.crm_id;
  if (!f.crm_id.empty() && !f.billing_id.empty()) out << " / ";
  if (!f.billing_id.empty()) out << "billing " << f.billing_id;
  if (!f.field.empty())
    out << ": " << f.field << (money ? " sold " : " CRM ") << Quote(f.crm_value)
        << (money ? " vs billed " : " vs billing ") << Quote(f.billing_value);
  if (!f.detail.empty()) out << " — " << f.detail;
  if (!f.action.empty()) out << " [" << f.action << "]";
  out << "\n";
}

}  // namespace

Result<std::unique_ptr<Report>> Report::Open(const std::string& csv_path, int examples_per_kind) {
  std::unique_ptr<Report> r(new Report(examples_per_kind));
  if (!csv_path.empty()) {
    r->csv_.open(csv_path, std::ios::binary | std::ios::trunc);
    if (!r->csv_) return Status::InvalidArgument("cannot write the report " + csv_path);
    r->csv_path_ = csv_path;
    r->csv_ << CsvLine({"OBJECT", "KIND", "CRM_ID", "BILLING_ID", "FIELD", "CRM_VALUE",
                        "BILLING_VALUE", "DETAIL", "ACTION", "ACCOUNT_ID", "CUSTOMER_ID",
                        "CURRENCY", "SOLD_MONTHLY", "BILLED_MONTHLY", "DIFFERENCE_MONTHLY"},
                       "\r\n");
  }
  return r;
}

Status Report::Write(const Finding& f) {
  if (!csv_.is_open()) return Status::Ok();
  csv_ << CsvLine(Row(f), "\r\n");
  if (!csv_) return Status::IoError("writing the report " + csv_path_ + " failed");
  return Status::Ok();
}

Status Report::Add(const Finding& f) {
  Counts& c = by_object_[f.object];
  ++c.found[f.kind];
  ++differences_;
  if (!f.currency.empty()) {
    c.monthly[f.kind][f.currency] += std::llabs(f.difference());
    MonthlyAtStake& m = monthly_[f.currency];
    (f.difference() > 0 ? m.under_billed : m.over_billed) += std::llabs(f.difference());
  }
  auto& ex = c.examples[f.kind];
  if (static_cast<int>(ex.size()) < examples_) ex.push_back(f);
  return Write(f);
}

Status Report::Resolve(const Finding& f, const std::string& action) {
  Counts& c = by_object_[f.object];
  const bool fixed = action == "fixed";
  if (fixed) {
    ++c.fixed[f.kind];
    ++fixed_;
    if (!f.currency.empty()) {
      MonthlyAtStake& m = monthly_[f.currency];
      (f.difference() > 0 ? m.under_fixed : m.over_fixed) += std::llabs(f.difference());
    }
  }
  for (Finding& e : c.examples[f.kind])
    if (e.crm_id == f.crm_id && e.billing_id == f.billing_id && e.field == f.field &&
        e.currency == f.currency)
      e.action = action;
  Finding row = f;
  row.action = action;
  return Write(row);
}

void Report::Checked(const std::string& object, int64_t records) {
  by_object_[object].checked += records;
}

Status Report::AddAccountTotal(const Finding& total) {
  ++monthly_[total.currency].accounts;
  return Write(total);
}

void Report::Note(const std::string& object, const std::string& key, const std::string& text) {
  by_object_[object].notes[key] = text;
}

Status Report::Close() {
  if (!csv_.is_open()) return Status::Ok();
  csv_.close();
  if (!csv_) return Status::IoError("writing the report " + csv_path_ + " failed");
  return Status::Ok();
}

void Report::SummarizeObject(const std::string& object, const Counts& c, bool fix,
                             std::ostream& out) const {
  int64_t found = 0;
  for (const auto& [kind, n] : c.found) found += n;
  out << object << ": " << c.checked << " checked, " << found
      << (found == 1 ? " difference" : " differences") << "\n";
  for (const auto& [kind, n] : c.found) {
    const auto fixed = c.fixed.find(kind);
    out << "  " << kind << ": " << n;
    if (fix) out << " (" << (fixed == c.fixed.end() ? 0 : fixed->second) << " fixed)";
    if (auto money = c.monthly.find(kind); money != c.monthly.end()) {
      const char* sep = ", ";
      for (const auto& [currency, amount] : money->second) {
        out << sep << FormatMinor(amount, currency) << " " << currency;
        sep = " + ";
      }
      out << " a month";
    }
    out << "\n";
    for (const Finding& f : c.examples.at(kind)) Example(f, out);
    if (n > static_cast<int64_t>(c.examples.at(kind).size()))
      out << "    … " << n - static_cast<int64_t>(c.examples.at(kind).size()) << " more"
          << (csv_path_.empty() ? "" : " in " + csv_path_) << "\n";
  }
  for (const auto& [key, text] : c.notes) out << "  " << text << "\n";
}

std::string Report::Summary(bool fix) const {
  std::ostringstream out;
  for (const auto& [object, c] : by_object_) SummarizeObject(object, c, fix, out);
  // The money at stake: what a finance person reads first.
  for (const auto& [currency, m] : monthly_) {
    out << "monthly at stake in " << currency << ": under-billed "
        << FormatMinor(m.under_billed, currency) << ", over-billed "
        << FormatMinor(m.over_billed, currency) << " (" << m.accounts
        << (m.accounts == 1 ? " account" : " accounts") << ")";
    if (fix)
      out << "; repaired " << FormatMinor(m.under_fixed, currency) << " under, "
          << FormatMinor(m.over_fixed, currency) << " over";
    out << "\n";
  }
  out << "total: " << differences_ << (differences_ == 1 ? " difference" : " differences");
  if (fix) out << ", " << fixed_ << " fixed, " << remaining() << " remaining";
  out << "\n";
  return out.str();
}

}  // namespace tandem::reconcile
