// The composition root's wiring: from a Config to connected remotes, the store, the mapping
// and the actions — the one place that names the concrete Salesforce and Stripe classes.
// Thread-safety: built once; the parts are thread-safe as their own headers say.
#pragma once

#include <memory>

#include "actions/callbacks.h"
#include "actions/sync.h"
#include "app/config.h"
#include "app/scheduler.h"
#include "app/server.h"
#include "connector/billing/stripe/connection.h"
#include "connector/crm/salesforce/connection.h"
#include "mapping/mapping.h"
#include "store/store.h"
#include "workorders/templates.h"

namespace tandem::app {

struct Runtime {
  explicit Runtime(RedactorPtr r) : redactor(std::move(r)) {}

  SystemClock clock;
  RealSleeper sleeper;
  SeededRandom random{static_cast<uint64_t>(ToEpochMillis(std::chrono::system_clock::now()))};
  connector::http::CallCounter counter;
  Metrics metrics;
  RedactorPtr redactor;
  std::unique_ptr<store::Store> store;
  mapping::Mapping mapping;
  workorders::Templates templates;
  std::unique_ptr<connector::crm::salesforce::SalesforceConnection> crm;
  std::unique_ptr<connector::billing::stripe::StripeConnection> billing;
  std::unique_ptr<actions::Actions> actions;
  std::unique_ptr<actions::Callbacks> callbacks;
  std::unique_ptr<catalog_sync::CatalogSync> catalog;
  std::unique_ptr<Scheduler> scheduler;  // started by `serve`
};

// Loads and parses the mapping file named by the config (relative paths are taken from the
// config file's folder, then the working directory).
Result<mapping::Mapping> LoadMappingFile(const std::string& path, const std::string& config_source);

Result<workorders::Templates> LoadTemplatesFile(const std::string& path,
                                                const std::string& config_source);

// Opens the store, loads the mapping, connects both remotes. InvalidArgument for a bad
// mapping or missing settings; IoError when the store cannot be opened.
Result<std::unique_ptr<Runtime>> BuildRuntime(const Config& config, RedactorPtr redactor);

// Registers POST /api/v1/actions/{object}/{sync|open|query} for every object map, and
// POST /api/v1/callbacks/billing (authenticated by the webhook signature, not the token).
void RegisterActionRoutes(ApiServer& server, Runtime& runtime);

// JSON for a sync report / open / query answer (the API's and the CLI's output).
std::string SyncReportJson(const std::string& object, const actions::SyncReport& report);

}  // namespace tandem::app
