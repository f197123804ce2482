// The billing systems the BillingSystem conformance suite runs over, each as its adapter
// connected to its emulator on loopback (as the store suite runs over both databases): the
// suite states the interface's contract once, and every adapter must keep it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connector/billing/billing_system.h"
#include "connector/billing/gtv/connection.h"
#include "sandbox/faults/faults.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/stripe_env.h"

namespace tandem::testing {

class BillingBackend {
 public:
  virtual ~BillingBackend() = default;
  virtual connector::billing::BillingSystem& billing() = 0;
  // The emulator's request path (after the base URL) that creates an object of `kind`
  // ("account", "subscription"): where a test aims a fault.
  virtual std::string CreatePath(const std::string& kind) const = 0;
  virtual void AddFault(const sandbox::Fault& fault) = 0;
  virtual int64_t FaultHits(const std::string& fault_kind) const = 0;
  // Objects of `kind` ("account", "subscription", "charge": a one-time charge) the emulator
  // holds.
  virtual int64_t Count(const std::string& kind) const = 0;
  // The billing system's largest list page: a test lists more than that.
  virtual int PageSize() const = 0;
  // An id of `kind` the billing system never issued, in its own id format.
  virtual std::string UnknownId(const std::string& kind) const = 0;
  // Invoices every active subscription of `account_id`; payments of the accounts in `fail`
  // fail. Returns the invoices made.
  virtual int BillRun(const std::string& account_id, const std::vector<std::string>& fail) = 0;
  // Moves billing's clock on (scheduled starts and cancellations take effect).
  virtual void Advance(Millis by) = 0;
  // The config file's `billing:` section for the `tandem` binary (secrets as SandboxEnv()'s).
  virtual std::string ConfigSection() const = 0;
};

struct BillingBackendParam {
  std::string name;  // "stripe" | "gotransverse"
  std::function<std::unique_ptr<BillingBackend>()> make;
};
inline void PrintTo(const BillingBackendParam& p, std::ostream* os) { *os << p.name; }

class StripeBackend : public BillingBackend {
 public:
  connector::billing::BillingSystem& billing() override { return env_.billing(); }
  std::string CreatePath(const std::string& kind) const override {
    return kind == "account" ? "/v1/customers" : "/v1/" + kind + "s";
  }
  void AddFault(const sandbox::Fault& fault) override { env_.sandbox.AddFault(fault); }
  int64_t FaultHits(const std::string& fault_kind) const override {
    auto hits = env_.sandbox.FaultHits();
    auto it = hits.find(fault_kind);
    return it == hits.end() ? 0 : it->second;
  }
  int64_t Count(const std::string& kind) const override {
    return env_.sandbox.CountObjects(kind == "account"  ? "customer"
                                     : kind == "charge" ? "invoiceitem"
                                                        : kind);
  }
  int PageSize() const override { return 100; }
  std::string UnknownId(const std::string& kind) const override {
    return (kind == "account"        ? "cus_"
            : kind == "subscription" ? "sub_"
                                     : "in_") +
           std::string("NoSuchThing000");
  }
  int BillRun(const std::string& account_id, const std::vector<std::string>& fail) override {
    return env_.sandbox.BillRun(account_id, fail).invoices;
  }
  void Advance(Millis by) override { env_.clock.Advance(by); }
  StripeEnv& env() { return env_; }
  std::string ConfigSection() const override {
    return StripeBillingSection(env_.sandbox.base_url());
  }

 private:
  StripeEnv env_;
};

// The Gotransverse emulator and the GTV adapter. The emulator keeps its own clock (a test
// moves it on, as a tenant's days pass); the client's retry waits are fake.
class GtvBackend : public BillingBackend {
 public:
  GtvBackend() : sleeper_(fake_clock_), random_(7), sandbox_({}, clock_) {
    Status st = sandbox_.Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    connector::billing::gtv::GtvConnectionOptions o;
    o.base_url = sandbox_.base_url();
    o.api_key = "gtv-sandbox-key";
    o.rate_per_second = 0;
    o.api.notification_token = "gtv-notification-token";
    // Accounts bill in euros, as the tests' catalog does (the cycle decides the currency).
    for (const auto& text : sandbox_.Objects("bill-cycle"))
      if (text.find("\"EUR\"") != std::string::npos)
        euro_cycle_ = Json::Parse(text).value()["id"].as_string();
    o.api.default_bill_cycle = euro_cycle_;
    connection_ = std::make_unique<connector::billing::gtv::GtvConnection>(
        o, connector::http::RestClientDeps{clock_, sleeper_, random_, counter_}, redactor_);
  }

  connector::billing::BillingSystem& billing() override { return connection_->billing(); }
  std::string CreatePath(const std::string& kind) const override {
    return kind == "account" ? "/billing/2/billing-accounts" : "/billing/2/orders";
  }
  void AddFault(const sandbox::Fault& fault) override { sandbox_.AddFault(fault); }
  int64_t FaultHits(const std::string& fault_kind) const override {
    auto hits = sandbox_.FaultHits();
    auto it = hits.find(fault_kind);
    return it == hits.end() ? 0 : it->second;
  }
  int64_t Count(const std::string& kind) const override {
    if (kind == "account") return sandbox_.CountObjects("billing-account");
    if (kind == "charge") return sandbox_.CountObjects("adjustment");
    // A subscription is the order that made it (add-on orders hang on a service).
    int64_t n = 0;
    for (const auto& text : sandbox_.Objects("order"))
      n += text.find("\"parent_service\":{") == std::string::npos;
    return n;
  }
  int PageSize() const override { return 50; }
  std::string UnknownId(const std::string&) const override { return "987654321"; }
  int BillRun(const std::string& account_id, const std::vector<std::string>& fail) override {
    return sandbox_.BillRun(account_id, fail).invoices;
  }
  void Advance(Millis by) override { clock_.Advance(by); }
  std::string ConfigSection() const override {
    // A loopback emulator answers at once: a short timeout keeps the key lease a killed
    // process leaves behind (timeout x (attempts + 2)) to seconds.
    return "billing:\n  system: gotransverse\n  base_url: " + sandbox_.base_url() +
           "\n  api_key: env:GTV_KEY\n  bill_cycle: \"" + euro_cycle_ +
           "\"\n  timeout_ms: 3000\n";
  }
  sandbox::gtv::GtvSandbox& sandbox() { return sandbox_; }
  const Clock& clock() const { return clock_; }

 private:
  ShiftedClock clock_;
  FakeClock fake_clock_;
  FakeSleeper sleeper_;
  SeededRandom random_;
  connector::http::CallCounter counter_;
  Redactor redactor_;
  sandbox::gtv::GtvSandbox sandbox_;
  std::string euro_cycle_;
  std::unique_ptr<connector::billing::gtv::GtvConnection> connection_;
};

inline BillingBackendParam StripeBilling() {
  return {"stripe",
          [] { return std::unique_ptr<BillingBackend>(std::make_unique<StripeBackend>()); }};
}
inline BillingBackendParam GtvBilling() {
  return {"gotransverse",
          [] { return std::unique_ptr<BillingBackend>(std::make_unique<GtvBackend>()); }};
}

}  // namespace tandem::testing
