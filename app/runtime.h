// The composition root's wiring: from a Config to connected remotes, the store, the mapping
// and the actions — the one place that names the concrete Salesforce and Stripe classes,
// opens the store and builds what runs on the remotes (the work-order engine, the order
// poller, the catalog sync, the migrator, the reconciler). Commands, the demo and the
// work-order service ask here for them (tests/arch checks that no other app file names a
// concrete adapter).
// Thread-safety: built once; the parts are thread-safe as their own headers say.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actions/callbacks.h"
#include "actions/sync.h"
#include "app/config.h"
#include "app/scheduler.h"
#include "catalog-sync/apply.h"
#include "connector/billing/billing_connection.h"
#include "connector/billing/key_lock.h"
#include "connector/crm/coalescing_client.h"
#include "connector/crm/salesforce/connection.h"
#include "mapping/mapping.h"
#include "migration/migrator.h"
#include "reconcile/reconciler.h"
#include "store/store.h"
#include "util/metrics.h"
#include "workorders/engine.h"
#include "workorders/poller.h"
#include "workorders/renewals.h"
#include "workorders/templates.h"

namespace tandem::app {

// The store's key locks as the billing adapters' KeyLock: one holder among every process on
// the store (GTV's creates, which no idempotency key protects).
class StoreKeyLock final : public connector::billing::KeyLock {
 public:
  StoreKeyLock(store::KeyLockStore& store, const Clock& clock) : store_(store), clock_(clock) {}
  Result<bool> TryLock(const std::string& key, const std::string& holder, Millis lease) override {
    const int64_t now = ToEpochMillis(clock_.Now());
    return store_.TryLockKey(key, holder, now, now + lease.count());
  }
  Status Unlock(const std::string& key, const std::string& holder) override {
    return store_.UnlockKey(key, holder);
  }

 private:
  store::KeyLockStore& store_;
  const Clock& clock_;
};

struct Runtime {
  explicit Runtime(RedactorPtr r) : redactor(std::move(r)) {}

  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random{static_cast<uint64_t>(ToEpochMillis(std::chrono::system_clock::now()))};
  connector::http::CallCounter counter;
  Metrics metrics;
  RedactorPtr redactor;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<StoreKeyLock> key_lock;  // over `store`, for `billing`
  mapping::Mapping mapping;
  workorders::Templates templates;
  std::unique_ptr<connector::crm::salesforce::SalesforceConnection> crm;
  connector::billing::BillingConnectionPtr billing;  // the adapter billing.system names
  actions::ActionOptions action_options;             // billing concurrency, the sync retry policy
  std::unique_ptr<actions::Actions> actions;         // actor "api"
  // Work-order tasks write one CRM record each from many threads: through `task_crm` those
  // writes share Collections calls, so they do not fill the org's concurrent-request cap.
  std::unique_ptr<connector::crm::CoalescingCrmClient> task_crm;
  std::unique_ptr<actions::Actions> task_actions;  // over task_crm, actor "api"
  std::unique_ptr<actions::Callbacks> callbacks;
  std::unique_ptr<catalog_sync::CatalogSync> catalog;
  std::unique_ptr<Scheduler> scheduler;  // started by `serve`
};

// Loads and parses the mapping file named by the config (relative paths are taken from the
// config file's folder, then the working directory).
Result<mapping::Mapping> LoadMappingFile(const std::string& path, const std::string& config_source);

Result<workorders::Templates> LoadTemplatesFile(const std::string& path,
                                                const std::string& config_source);

// Opens the store the config names. `migrate` applies pending schema migrations on open;
// `crash` (tests) arms the store's crash points.
Result<std::unique_ptr<store::Store>> OpenStore(const Config& config, bool migrate,
                                                CrashPoints* crash);

// The billing system the config names (billing.system), connected: the one place that
// chooses an adapter. `key_lock`: what an adapter without idempotency keys holds around a
// create (null: its own, one process). InvalidArgument for an unknown system or missing
// settings.
Result<connector::billing::BillingConnectionPtr> ConnectBilling(
    const Config& config, const connector::http::RestClientDeps& deps, Redactor& redactor,
    connector::billing::KeyLock* key_lock = nullptr);

// Opens the store, loads the mapping, connects both remotes. InvalidArgument for a bad
// mapping or missing settings; IoError when the store cannot be opened.
Result<std::unique_ptr<Runtime>> BuildRuntime(const Config& config, RedactorPtr redactor);

// Actions over the runtime's remotes and store, auditing as `actor`, with its options.
std::unique_ptr<actions::Actions> NewActions(Runtime& rt, const std::string& actor);

// What the work-order tasks run over: the runtime's remotes, store, mapping and clock.
workorders::TaskDeps TaskDepsOf(Runtime& rt);

// The remotes, store, mapping and clock an action (or the sign-off extract) works with.
actions::ActionDeps ActionDepsOf(Runtime& rt);

// This process among those sharing the store: "host:pid".
std::string ProcessId();
// Gives this process 1/`processes` of the CRM's concurrent requests and of the billing rate
// (app/limit_share.h).
void ShareLimits(Runtime& rt, int processes);

// A work-order engine over the runtime's remotes, store, mapping, actions and templates.
std::unique_ptr<workorders::Engine> NewEngine(Runtime& rt, workorders::EngineOptions options,
                                              CrashPoints* crash = nullptr);

// What the leader of the order poll runs: the poller, the engine it enqueues through, and
// the daily renewal scan.
struct OrderIntake {
  std::unique_ptr<workorders::Engine> engine;
  std::unique_ptr<workorders::OrderPoller> poller;
  std::unique_ptr<workorders::RenewalScan> renewals;
};
// `on_tasks_added`: see workorders::EngineOptions.
OrderIntake NewOrderIntake(Runtime& rt, std::function<void()> on_tasks_added = {});

// A catalog sync over the runtime's remotes that also writes entries into `pricebooks`
// (BuildRuntime gives the scheduler's the config's catalog price books).
std::unique_ptr<catalog_sync::CatalogSync> NewCatalogSync(Runtime& rt,
                                                          std::vector<std::string> pricebooks);

// The CSV migrator; `random` makes the job ids.
std::unique_ptr<migration::Migrator> NewMigrator(Runtime& rt, Random& random, CrashPoints* crash);

// A reconciler that writes what it finds (and repairs through the runtime's actions) to
// `report`.
// `actions`: what repairs go through (its actor is audited); null: the runtime's ("api").
std::unique_ptr<reconcile::Reconciler> NewReconciler(Runtime& rt, reconcile::Report& report,
                                                     actions::Actions* actions = nullptr);

// A CRM connection of its own for a command that only reads the CRM's describe (`mapping
// check`): the configured org's address and credentials with the connector's default
// timeouts and retries, or, when `sandbox_url` is set, that sandbox with its fixed credentials.
struct DescribeConnection {
  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random{1};
  connector::http::CallCounter counter;
  std::string instance_url;
  std::unique_ptr<connector::crm::salesforce::SalesforceConnection> crm;
};
std::unique_ptr<DescribeConnection> ConnectCrmForDescribe(const Config& config,
                                                          const std::string& sandbox_url,
                                                          Redactor& redactor);

}  // namespace tandem::app
