// A connected billing system: the adapter (BillingSystem) with the HTTP client, retries and
// rate limit it runs on. The composition root (app/runtime.cpp) builds the one the config's
// billing.system names; everything else sees only this and BillingSystem.
// Thread-safety: billing() is thread-safe; the connection must outlive its users.
#pragma once

#include "connector/billing/billing_system.h"

namespace tandem::connector::billing {

class BillingConnection {
 public:
  virtual ~BillingConnection() = default;
  virtual BillingSystem& billing() = 0;
};
using BillingConnectionPtr = std::unique_ptr<BillingConnection>;

}  // namespace tandem::connector::billing
