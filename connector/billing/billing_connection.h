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
  // Several processes sharing one store split the billing system's rate limit: this one keeps
  // 1/`processes` of it (connector/http/rest_client.h, RestClient::SetShare).
  virtual void ShareLimits(int processes) = 0;
};
using BillingConnectionPtr = std::unique_ptr<BillingConnection>;

}  // namespace tandem::connector::billing
