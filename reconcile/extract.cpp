#include "reconcile/extract.h"

#include <map>
#include <set>
#include <vector>

#include "connector/billing/account_payload.h"
#include "connector/crm/soql.h"
#include "reconcile/compare.h"
#include "util/csv.h"

namespace tandem::reconcile {
namespace {

using connector::billing::BillingAccount;

constexpr size_t kPage = 200;  // billing records per flush: one SOQL call for their CRM side

// A value for a file people open in a spreadsheet: one that would start a formula (=, +, -, @)
// is shown as text (a leading '), since billing's values can come from the customer.
std::string ForPeople(const std::string& v) {
  return !v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') ? "'" + v : v;
}

// The CRM's 15-character case-sensitive form: 15- and 18-character ids of one record agree.
std::string Id15(const std::string& id) { return id.substr(0, 15); }

class Extract {
 public:
  Extract(actions::ActionDeps deps, const mapping::ObjectMap& map, std::ostream& out,
          const ExtractProgress& progress)
      : deps_(deps), map_(map), out_(out), progress_(progress) {
    std::set<std::string> seen;
    for (const auto& f : map_.fields)
      if (f.direction != mapping::Direction::kToCrm && !f.billing.empty() &&
          seen.insert(f.billing).second)
        paths_.push_back(f.billing);
    crm_fields_ = CrmFieldsToCompare(map_);
  }

  Result<ExtractSummary> Run() {
    std::vector<std::string> header = {"CRM_ID", "BILLING_ID", "ACCOUNT_NUMBER", "IN_STEP",
                                       "DIFFERS"};
    for (const auto& p : paths_) {
      header.push_back("crm:" + p);
      header.push_back("billing:" + p);
    }
    out_ << CsvLine(header, "\r\n");
    TANDEM_RETURN_IF_ERROR(deps_.billing.ListAccounts([&](const BillingAccount& a) {
      page_.push_back(a);
      return page_.size() < kPage ? Status::Ok() : Flush();
    }));
    TANDEM_RETURN_IF_ERROR(Flush());
    auto links = deps_.store.CountLinks(map_.name);
    if (!links.ok()) return links.status();
    summary_.not_listed = std::max<int64_t>(0, *links - summary_.pairs);
    out_.flush();
    if (!out_) return Status::IoError("the extract could not be written");
    return summary_;
  }

 private:
  Status Flush() {
    if (page_.empty()) return Status::Ok();
    std::vector<BillingAccount> page;
    page.swap(page_);
    std::vector<std::string> bids;
    for (const auto& a : page) bids.push_back(a.id);
    auto links = deps_.store.FindLinksByBillingIds(map_.name, bids);
    if (!links.ok()) return links.status();
    std::map<std::string, store::Link> link_of;
    std::vector<std::string> crm_ids;
    for (const auto& l : *links) {
      link_of[l.billing_id] = l;
      crm_ids.push_back(l.crm_id);
    }
    std::map<std::string, Json> crm;  // by 15-character id
    if (!crm_ids.empty()) {
      auto soql = connector::crm::SoqlBuilder(map_.crm, crm_fields_).WhereIn("Id", crm_ids).Build();
      if (!soql.ok()) return soql.status();
      TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
        crm[Id15(r["Id"].as_string())] = r;
        return Status::Ok();
      }));
    }
    for (const auto& a : page) {
      auto l = link_of.find(a.id);
      if (l == link_of.end()) continue;  // not linked under this map
      WritePair(l->second, a, crm.find(Id15(l->second.crm_id)), crm.end());
    }
    if (progress_) progress_(summary_.pairs);
    return out_ ? Status::Ok() : Status::IoError("the extract could not be written");
  }

  void WritePair(const store::Link& link, const BillingAccount& account,
                 std::map<std::string, Json>::const_iterator crm,
                 std::map<std::string, Json>::const_iterator none) {
    const Json billing = connector::billing::AccountToPayload(account);
    std::vector<std::string> row = {link.crm_id, account.id,
                                    connector::billing::AccountNumber(account)};
    ++summary_.pairs;
    if (crm == none) {
      ++summary_.crm_missing;
      ++summary_.differing;
      row.push_back("no");
      row.push_back("the CRM record is gone");
      for (const auto& p : paths_) {
        row.push_back("");
        row.push_back(ForPeople(mapping::GetPath(billing, p).ToText()));
      }
      out_ << CsvLine(row, "\r\n");
      return;
    }
    const PairDrift drift = ComparePair(map_, crm->second, billing, account.id);
    std::string differs;
    for (const auto& d : drift.to_billing) differs += (differs.empty() ? "" : " ") + d.field;
    for (const auto& d : drift.to_crm) differs += (differs.empty() ? "" : " ") + ("crm:" + d.field);
    if (!drift.in_step()) ++summary_.differing;
    row.push_back(drift.in_step() ? "yes" : "no");
    row.push_back(differs);
    const Json mapped = mapping::ApplyToBilling(map_, crm->second, /*for_create=*/false).payload;
    for (const auto& p : paths_) {
      row.push_back(ForPeople(mapping::GetPath(mapped, p).ToText()));
      row.push_back(ForPeople(mapping::GetPath(billing, p).ToText()));
    }
    out_ << CsvLine(row, "\r\n");
  }

  actions::ActionDeps deps_;
  const mapping::ObjectMap& map_;
  std::ostream& out_;
  const ExtractProgress& progress_;
  std::vector<std::string> paths_, crm_fields_;
  std::vector<BillingAccount> page_;
  ExtractSummary summary_;
};

}  // namespace

Result<ExtractSummary> ExtractLinkedPairs(actions::ActionDeps deps, const std::string& object,
                                          std::ostream& out, const ExtractProgress& progress) {
  const mapping::ObjectMap* map = deps.mapping.Find(object);
  if (!map || map->billing != "account")
    return Status::InvalidArgument("'" + object +
                                   "' is not an object map of billing customers (the extract "
                                   "lists linked customers: account, contact)");
  return Extract(deps, *map, out, progress).Run();
}

}  // namespace tandem::reconcile
