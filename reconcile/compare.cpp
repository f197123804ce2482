#include "reconcile/compare.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "connector/billing/account_payload.h"

namespace tandem::reconcile {
namespace {

bool ParseNumber(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(text.c_str(), &end);
  return end && *end == '\0' && errno == 0;
}

}  // namespace

bool SameValue(const Json& want, const Json& have) {
  const std::string a = want.ToText(), b = have.ToText();
  if (a == b) return true;
  double x = 0, y = 0;
  if ((want.is_number() || have.is_number()) && ParseNumber(a, &x) && ParseNumber(b, &y))
    return std::fabs(x - y) <= 1e-9 * std::max(1.0, std::fabs(x));
  return false;
}

std::vector<std::string> CrmFieldsToCompare(const mapping::ObjectMap& map) {
  std::vector<std::string> fields = mapping::CrmFieldsToRead(map);
  const Json probe = mapping::BillingDecidedFields(
      map, map.billing == "account"
               ? connector::billing::AccountToPayload(connector::billing::BillingAccount{})
               : connector::billing::SubscriptionToPayload(connector::billing::Subscription{}));
  std::set<std::string> have(fields.begin(), fields.end());
  for (const auto& f : map.fields)
    if (!f.crm.empty() && have.insert(f.crm).second) fields.push_back(f.crm);
  for (const auto& [k, v] : probe.object())
    if (have.insert(k).second) fields.push_back(k);
  if (!map.link.billing_id.empty() && have.insert(map.link.billing_id).second)
    fields.push_back(map.link.billing_id);
  if (have.insert("Id").second) fields.push_back("Id");
  return fields;
}

PairDrift ComparePair(const mapping::ObjectMap& map, const Json& crm_record,
                      const Json& billing_payload, const std::string& billing_id) {
  PairDrift drift;
  if (map.billing == "account")
    drift.to_billing = actions::Actions::Diff(map, crm_record, billing_payload);
  Json expected = mapping::BillingDecidedFields(map, billing_payload);
  // The CRM shows which billing record it is linked to (a sync's write-back).
  if (!map.link.billing_id.empty()) expected.Set(map.link.billing_id, billing_id);
  for (const auto& [field, want] : expected.object())
    if (!SameValue(want, crm_record[field]))
      drift.to_crm.push_back(CrmFieldDrift{field, crm_record[field].ToText(), want});
  return drift;
}

}  // namespace tandem::reconcile
