// A customer as the mapping's billing paths describe it ("name", "address.city",
// "metadata[k]") and as BillingSystem takes it. Shared by sync, query and migration.
#pragma once

#include "connector/billing/billing_system.h"
#include "util/json.h"

namespace tandem::connector::billing {

BillingAccount PayloadToAccount(const Json& payload);
Json AccountToPayload(const BillingAccount& account);

}  // namespace tandem::connector::billing
