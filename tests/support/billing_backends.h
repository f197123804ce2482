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
#include "sandbox/faults/faults.h"
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
  // Objects of `kind` ("account", "subscription") the emulator holds.
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
    return env_.sandbox.CountObjects(kind == "account" ? "customer" : kind);
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

 private:
  StripeEnv env_;
};

}  // namespace tandem::testing
