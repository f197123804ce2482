// Balances: each billing account's open invoices as billing events reported them, so the
// balance the CRM shows (what the open invoices still ask for) comes from the events' own data
// once the account's set is complete, instead of a listing of its invoices per event.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

// An invoice's state as of `version` (epoch s). Not open, or nothing remaining: it leaves the
// balance.
struct InvoiceState {
  std::string invoice_id, billing_account;
  bool open = false;
  int64_t amount_remaining = 0;  // minor units
  std::string currency;
  int64_t version = 0;
};

struct Balance {
  int64_t owed = 0;      // minor units, over the account's open invoices
  std::string currency;  // of its open invoices ("" when none)
};

class BalanceStore {
 public:
  explicit BalanceStore(Pool& pool) : pool_(pool) {}

  // The balances of those `accounts` whose set of open invoices is complete; an account
  // missing from the answer must be listed from billing first (ReplaceOpenInvoices).
  Result<std::map<std::string, Balance>> KnownBalances(const std::vector<std::string>& accounts);
  // Applies invoice states newer than what is stored for each invoice (an older one changes
  // nothing), in one transaction.
  Status ApplyInvoiceStates(const std::vector<InvoiceState>& states);
  // The account's complete set, as a listing read at `version` found it.
  Status ReplaceOpenInvoices(const std::string& billing_account,
                             const std::vector<InvoiceState>& open, int64_t version,
                             int64_t now_ms);
  // A customer Tandem just created: it has no invoices, so its set is complete and empty.
  Status MarkBalanceComplete(const std::string& billing_account, int64_t now_ms);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
