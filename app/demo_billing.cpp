#include "app/demo_billing.h"

#include <iostream>

#include "actions/billing_poll.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "sandbox/stripe/stripe_sandbox.h"

namespace tandem::app {
namespace {

class StripeDemoBilling final : public DemoBilling {
 public:
  explicit StripeDemoBilling(const Clock& clock) : sandbox_({}, clock) {}
  std::string name() const override { return "Stripe"; }
  std::string system() const override { return "stripe"; }
  Status Start() override { return sandbox_.Start(); }
  std::string base_url() const override { return sandbox_.base_url(); }
  std::string api_key() const override { return "sk_test_sandbox"; }
  int64_t requests() const override { return sandbox_.requests(); }
  std::array<int, 3> BillRun(const std::vector<std::string>& fail) override {
    const auto run = sandbox_.BillRun("", fail);
    return {run.invoices, run.paid, run.failed};
  }
  void Deliver(Runtime&) override { sandbox_.FlushWebhooks(); }
  int64_t OneTimeCharges() const override { return sandbox_.CountObjects("invoiceitem"); }
  int64_t Invoices() const override { return sandbox_.CountObjects("invoice"); }
  std::string Subscribe(const std::string& url) override {
    return sandbox_.AddWebhookEndpoint(url);
  }

 private:
  sandbox::stripe::StripeSandbox sandbox_;
};

class GtvDemoBilling final : public DemoBilling {
 public:
  explicit GtvDemoBilling(const Clock& clock) : sandbox_({}, clock) {}
  std::string name() const override { return "Gotransverse"; }
  std::string system() const override { return "gotransverse"; }
  Status Start() override { return sandbox_.Start(); }
  std::string base_url() const override { return sandbox_.base_url(); }
  std::string api_key() const override { return "gtv-sandbox-key"; }
  int64_t requests() const override { return sandbox_.requests(); }
  std::array<int, 3> BillRun(const std::vector<std::string>& fail) override {
    const auto run = sandbox_.BillRun("", fail);
    return {run.invoices, run.paid, run.failed};
  }
  void Deliver(Runtime& rt) override {
    actions::BillingPoller poller(rt.billing->billing(), *rt.store, rt.clock);
    auto round = poller.PollOnce();
    if (round.ok())
      std::cout << "  billing poll: " << round->events << " changes in " << round->reads
                << " list calls (GTV calls no webhooks)\n";
  }
  void Prime(Runtime& rt) override {
    (void)actions::BillingPoller(rt.billing->billing(), *rt.store, rt.clock).PollOnce();
  }
  int64_t OneTimeCharges() const override { return sandbox_.CountObjects("adjustment"); }
  void Configure(Config* config) const override {
    // The demo sells in euros; a GTV account's currency is its bill cycle's.
    for (const auto& text : sandbox_.Objects("bill-cycle")) {
      auto cycle = Json::Parse(text);
      if (cycle.ok() && (*cycle)["currency_code"].as_string() == "EUR")
        config->billing.bill_cycle = (*cycle)["id"].as_string();
    }
  }
  int64_t Invoices() const override { return sandbox_.CountObjects("invoice"); }
  std::string Subscribe(const std::string&) override { return "gtv-demo-notification-token"; }

 private:
  sandbox::gtv::GtvSandbox sandbox_;
};

}  // namespace

std::unique_ptr<DemoBilling> NewDemoBilling(const std::string& system, const Clock& clock) {
  if (system == "gotransverse") return std::make_unique<GtvDemoBilling>(clock);
  return std::make_unique<StripeDemoBilling>(clock);
}

}  // namespace tandem::app
