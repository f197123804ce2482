// GtvConnection: a working Gotransverse adapter — a RestClient sending X-Api-Key, the
// client-side rate limit (GTV publishes none: billing.rate_per_second, unlimited by default),
// and the GtvBilling over it.
// Thread-safety: billing() is thread-safe; the connection must outlive its users.
#pragma once

#include <memory>

#include "connector/billing/billing_connection.h"
#include "connector/billing/gtv/gtv_billing.h"

namespace tandem::connector::billing::gtv {

struct GtvConnectionOptions {
  std::string base_url;  // https://<tenant host> (the API is under /billing/2)
  std::string api_key;   // X-Api-Key
  GtvOptions api;
  Millis timeout = Millis(30'000);
  double rate_per_second = 10;
  double burst = 10;
  int max_attempts = 4;  // GETs; creates and commands go by GtvOptions::max_attempts
};

class GtvConnection : public BillingConnection {
 public:
  GtvConnection(GtvConnectionOptions options, http::RestClientDeps deps, Redactor& redactor,
                http::HttpTransportPtr transport = nullptr);
  ~GtvConnection() override;

  GtvBilling& billing() override { return *billing_; }
  http::RestClient& rest() { return *rest_; }
  void ShareLimits(int processes) override { rest().SetShare(processes); }

 private:
  std::unique_ptr<http::RestClient> rest_;
  std::unique_ptr<GtvBilling> billing_;
};

}  // namespace tandem::connector::billing::gtv
