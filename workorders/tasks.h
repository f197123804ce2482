// Step 5's task library: one function per task kind, each over BillingSystem (and the CRM
// for the service inventory), each keyed by its task's key so a retry after a crash or a
// lost answer replays instead of doubling. A task reads what it needs from its payload (the
// order as planned) and from the results of the tasks before it in its chain.
// Errors: a transient Status (timeouts, 429, 5xx) is retried by the engine; any other fails
// the task for good.
// Thread-safety: Run may be called from several threads.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "actions/sync.h"
#include "connector/billing/billing_system.h"
#include "connector/crm/crm_client.h"
#include "mapping/mapping.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/json.h"

namespace tandem::workorders {

struct TaskDeps {
  connector::crm::CrmClient& crm;
  connector::billing::BillingSystem& billing;
  store::Store& store;
  const mapping::Mapping& mapping;
  const Clock& clock;
  actions::Actions& actions;  // sync_account runs step 3's sync
};

class TaskLibrary {
 public:
  explicit TaskLibrary(TaskDeps deps) : deps_(deps) {}

  // Runs one task. `earlier`: the results of the tasks done before it in its order, by kind
  // (the last one of each kind in its chain). Returns the task's result; a kind it does not
  // know fails the task for good (InvalidArgument).
  Result<Json> Run(const store::Task& task, const std::map<std::string, Json>& earlier);

 private:
  // What every kind's function reads.
  struct Call {
    const store::Task& task;  // task.key: the billing idempotency key
    const Json& p;            // the payload: the order item as planned
    const std::map<std::string, Json>& earlier;
    std::string effective;  // the order's effective date
    int64_t term;           // Term_Months__c; 0 = none
  };

  // One function per task kind (Run's table names them).
  Result<Json> SyncAccount(const Call& c);
  Result<Json> CreateSubscription(const Call& c);
  Result<Json> StartSubscription(const Call& c);
  Result<Json> RecordSubscription(const Call& c);
  Result<Json> RecordAddOn(const Call& c);
  Result<Json> AddAddOn(const Call& c);
  Result<Json> ChangeAddOn(const Call& c);
  Result<Json> RemoveAddOn(const Call& c);
  Result<Json> ChangeQuantity(const Call& c);
  Result<Json> ChangePrice(const Call& c);
  Result<Json> OneTimeCharge(const Call& c);
  Result<Json> ReTerm(const Call& c);
  Result<Json> Cancel(const Call& c);
  Result<Json> ChargeEarlyTermination(const Call& c);
  Result<Json> Renew(const Call& c);
  Result<Json> Replace(const Call& c);

  Result<std::string> AccountBillingId(const Json& p, const std::map<std::string, Json>& earlier);
  Result<std::string> SubscriptionId(const Json& p, const std::map<std::string, Json>& earlier);
  Result<connector::billing::SubscriptionItem> BilledItem(const Json& p);
  Result<connector::billing::SubscriptionItem> FindItem(const std::string& subscription_id,
                                                        const std::string& price_id, bool base);
  Result<connector::billing::SubscriptionItem> ItemToChange(const Call& c, bool base,
                                                            std::string* subscription_id);

  // A catalog price as read within the last kPriceFresh: every new line of one product asks for
  // the same price, and a read per line was a fifth of the billing calls of a work order.
  // While a price is being read, the others asking for it wait and take that read's answer,
  // a failure too (tasks.cpp). `fresh`: read from billing whatever the cache holds.
  Result<connector::billing::Price> CatalogPrice(const std::string& id, bool fresh);

  TaskDeps deps_;
  std::mutex prices_mu_;
  std::map<std::string, std::pair<SteadyTime, connector::billing::Price>>
      prices_;  // GUARDED_BY(prices_mu_)
  // The reads out now, by price id (not the fresh ones): their answer, for those who wait.
  std::map<std::string, std::shared_future<Result<connector::billing::Price>>>
      price_reads_;  // GUARDED_BY(prices_mu_)
};

}  // namespace tandem::workorders
