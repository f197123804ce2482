// How reconciliation compares one linked pair, shared by the reconciler's link pass and the
// sign-off extract (reconcile/extract.h), so that both call the same pair "in step".
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "actions/sync.h"
#include "mapping/mapping.h"
#include "util/json.h"

namespace tandem::reconcile {

// Equal as the CRM stores them: null and "" alike, numbers by value (2 == 2.0).
bool SameValue(const Json& want, const Json& have);

struct CrmFieldDrift {
  std::string field;  // the CRM field
  std::string have;   // what the CRM holds
  Json want;          // what billing says it should hold
};

struct PairDrift {
  // Customer maps: the to-billing fields where billing differs from the CRM record's mapping.
  std::vector<actions::FieldDiff> to_billing;
  // The CRM fields billing decides, and the CRM's billing-id field, where the CRM differs.
  std::vector<CrmFieldDrift> to_crm;
  bool in_step() const { return to_billing.empty() && to_crm.empty(); }
};

// The CRM fields a comparison reads: what the map sends to billing, what billing decides, the
// billing-id field and Id.
std::vector<std::string> CrmFieldsToCompare(const mapping::ObjectMap& map);

// `billing_payload` is the billing record in mapping paths (AccountToPayload,
// SubscriptionToPayload); `crm_record` holds at least the fields the map reads and decides.
PairDrift ComparePair(const mapping::ObjectMap& map, const Json& crm_record,
                      const Json& billing_payload, const std::string& billing_id);

}  // namespace tandem::reconcile
