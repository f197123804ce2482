// A Salesforce sandbox on loopback and a SalesforceConnection to it, as the app wires them,
// with one fake clock for both (retries and bulk polls do not sleep; stamps are stable).
#pragma once

#include <memory>

#include "connector/crm/salesforce/connection.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "tests/fakes/fake_clock.h"

namespace tandem::testing {

struct SalesforceEnv {
  explicit SalesforceEnv(sandbox::salesforce::SalesforceSandboxOptions sandbox_options = {},
                         connector::crm::salesforce::ConnectionOptions options = {})
      : sleeper(clock),
        random(42),
        redactor(std::make_shared<Redactor>()),
        sandbox(std::move(sandbox_options), clock) {
    Status st = sandbox.Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    options.instance_url = sandbox.base_url();
    if (options.oauth.client_id.empty()) {
      options.oauth.client_id = "tandem-sandbox";
      options.oauth.client_secret = "sandbox-secret";
    }
    connection = std::make_unique<connector::crm::salesforce::SalesforceConnection>(
        options, connector::http::RestClientDeps{clock, sleeper, random, counter}, *redactor,
        sleeper);
  }

  connector::crm::salesforce::SalesforceClient& client() { return connection->client(); }

  FakeClock clock;
  FakeSleeper sleeper;
  SeededRandom random;
  connector::http::CallCounter counter;
  RedactorPtr redactor;
  sandbox::salesforce::SalesforceSandbox sandbox;
  std::unique_ptr<connector::crm::salesforce::SalesforceConnection> connection;
};

}  // namespace tandem::testing
