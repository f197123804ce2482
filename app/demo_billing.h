// The billing emulator `tandem demo` runs on (--billing stripe | gotransverse): the one place
// the demo knows which, so its steps read the same on both.
// Thread-safety: used from the demo's thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/config.h"
#include "app/runtime.h"
#include "util/clock.h"

namespace tandem::app {

// The billing emulator the demo runs on, as the steps need it: Stripe's pushes its events
// as signed webhooks, Gotransverse's is polled.
class DemoBilling {
 public:
  virtual ~DemoBilling() = default;
  virtual std::string name() const = 0;    // "Stripe" | "Gotransverse"
  virtual std::string system() const = 0;  // billing.system
  virtual Status Start() = 0;
  virtual std::string base_url() const = 0;
  virtual std::string api_key() const = 0;
  virtual int64_t requests() const = 0;
  // The invoices made, paid and failed; payments of `fail` fail.
  virtual std::array<int, 3> BillRun(const std::vector<std::string>& fail) = 0;
  // Brings what billing did to Tandem's inbox: webhooks delivered, or one poll.
  virtual void Deliver(Runtime& rt) = 0;
  // Before billing acts: a polled billing system is polled once, so that the next poll
  // finds what happens from now on (serve does this when it starts).
  virtual void Prime(Runtime& rt) { (void)rt; }
  virtual int64_t OneTimeCharges() const = 0;  // charges and fees billing holds
  virtual int64_t Invoices() const = 0;        // invoices billing holds
  // The emulator's settings a runtime needs beyond its URL and key (GTV: the bill cycle in the
  // demo's currency).
  virtual void Configure(Config* config) const { (void)config; }
  // Where billing sends its events (Stripe) and the secret they carry.
  virtual std::string Subscribe(const std::string& url) = 0;
};

// "stripe" or "gotransverse" (the command checked which).
std::unique_ptr<DemoBilling> NewDemoBilling(const std::string& system, const Clock& clock);

}  // namespace tandem::app
