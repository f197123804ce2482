#include "reconcile/report.h"

#include <sstream>

#include "util/csv.h"

namespace tandem::reconcile {
namespace {

std::vector<std::string> Row(const Finding& f) {
  return {f.object,    f.kind,          f.crm_id, f.billing_id, f.field,
          f.crm_value, f.billing_value, f.detail, f.action};
}

std::string Quote(const std::string& v) { return v.empty() ? "(empty)" : "\"" + v + "\""; }

}  // namespace

Result<std::unique_ptr<Report>> Report::Open(const std::string& csv_path, int examples_per_kind) {
  std::unique_ptr<Report> r(new Report(examples_per_kind));
  if (!csv_path.empty()) {
    r->csv_.open(csv_path, std::ios::binary | std::ios::trunc);
    if (!r->csv_) return Status::InvalidArgument("cannot write the report " + csv_path);
    r->csv_path_ = csv_path;
    r->csv_ << CsvLine({"OBJECT", "KIND", "CRM_ID", "BILLING_ID", "FIELD", "CRM_VALUE",
                        "BILLING_VALUE", "DETAIL", "ACTION"},
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
  }
  for (Finding& e : c.examples[f.kind])
    if (e.crm_id == f.crm_id && e.billing_id == f.billing_id && e.field == f.field)
      e.action = action;
  Finding row = f;
  row.action = action;
  return Write(row);
}

void Report::Checked(const std::string& object, int64_t records) {
  by_object_[object].checked += records;
}

Status Report::Close() {
  if (!csv_.is_open()) return Status::Ok();
  csv_.close();
  if (!csv_) return Status::IoError("writing the report " + csv_path_ + " failed");
  return Status::Ok();
}

std::string Report::Summary(bool fix) const {
  std::ostringstream out;
  for (const auto& [object, c] : by_object_) {
    int64_t found = 0;
    for (const auto& [kind, n] : c.found) found += n;
    out << object << ": " << c.checked << " checked, " << found
        << (found == 1 ? " difference" : " differences") << "\n";
    for (const auto& [kind, n] : c.found) {
      const auto fixed = c.fixed.find(kind);
      out << "  " << kind << ": " << n;
      if (fix) out << " (" << (fixed == c.fixed.end() ? 0 : fixed->second) << " fixed)";
      out << "\n";
      for (const Finding& f : c.examples.at(kind)) {
        out << "    - ";
        if (!f.crm_id.empty()) out << "CRM " << f.crm_id;
        if (!f.crm_id.empty() && !f.billing_id.empty()) out << " / ";
        if (!f.billing_id.empty()) out << "billing " << f.billing_id;
        if (!f.field.empty())
          out << ": " << f.field << " CRM " << Quote(f.crm_value) << " vs billing "
              << Quote(f.billing_value);
        if (!f.detail.empty()) out << " — " << f.detail;
        if (!f.action.empty()) out << " [" << f.action << "]";
        out << "\n";
      }
      if (n > static_cast<int64_t>(c.examples.at(kind).size()))
        out << "    … " << n - static_cast<int64_t>(c.examples.at(kind).size()) << " more"
            << (csv_path_.empty() ? "" : " in " + csv_path_) << "\n";
    }
  }
  out << "total: " << differences_ << (differences_ == 1 ? " difference" : " differences");
  if (fix) out << ", " << fixed_ << " fixed, " << remaining() << " remaining";
  out << "\n";
  return out.str();
}

}  // namespace tandem::reconcile
