// The HTTP API's action routes: the CRM's quick actions (sync, open, query) and the billing
// system's webhook callbacks, served over the runtime's actions.
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include <string>

#include "actions/sync.h"
#include "app/action_jobs.h"
#include "app/runtime.h"
#include "app/server.h"

namespace tandem::app {

// Where long syncs go: with `jobs`, a sync of more than `async_after` ids (or one asking
// "async": true) answers 202 with a job (app/action_jobs.h); without, every sync answers at once.
struct AsyncSyncs {
  ActionJobs* jobs = nullptr;
  size_t async_after = 200;
};

// Registers POST /api/v1/actions/{object}/{sync|open|query} for every object map, and
// POST /api/v1/callbacks/billing (authenticated by the webhook signature, not the token).
void RegisterActionRoutes(ApiServer& server, Runtime& runtime, AsyncSyncs async = {});
// GET /api/v1/jobs/{id}?after=SEQ&limit=N (scope actions or operator): a job's progress and
// outcomes.
void RegisterJobRoutes(ApiServer& server, Runtime& runtime);
// ActionJobs' on_report: counts each chunk's outcomes as a synchronous sync does.
std::function<void(const std::string&, const actions::SyncReport&)> CountSyncOutcomes(
    Metrics& metrics);

// JSON for a sync report / open / query answer (the API's and the CLI's output).
std::string SyncReportJson(const std::string& object, const actions::SyncReport& report);

}  // namespace tandem::app
