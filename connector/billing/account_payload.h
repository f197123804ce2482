// Billing records as the mapping's billing paths describe them ("name", "address.city",
// "custom.k"; "status", "start_at", "cancel_at") and as BillingSystem takes them. Shared
// by sync, query, callbacks, work orders, migration and reconciliation, so that every path
// that writes a record and every path that compares it see the same values.
#pragma once

#include "connector/billing/billing_system.h"
#include "util/json.h"

namespace tandem::connector::billing {

BillingAccount PayloadToAccount(const Json& payload);
Json AccountToPayload(const BillingAccount& account);
// The number people use for the account: billing's own (GTV's account_num), else the one
// kept in its custom fields (custom.account_number), else its id.
std::string AccountNumber(const BillingAccount& account);
// status, account_id, start_at (the service's start; the current period's when billing has
// no start date), current_period_end, and cancel_at: when the service ends — the moment of
// cancellation for a canceled (or ending) subscription, else the scheduled end.
Json SubscriptionToPayload(const Subscription& subscription);

}  // namespace tandem::connector::billing
