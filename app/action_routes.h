// The HTTP API's action routes: the CRM's quick actions (sync, open, query) and the billing
// system's webhook callbacks, served over the runtime's actions.
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include <string>

#include "actions/sync.h"
#include "app/runtime.h"
#include "app/server.h"

namespace tandem::app {

// Registers POST /api/v1/actions/{object}/{sync|open|query} for every object map, and
// POST /api/v1/callbacks/billing (authenticated by the webhook signature, not the token).
void RegisterActionRoutes(ApiServer& server, Runtime& runtime);

// JSON for a sync report / open / query answer (the API's and the CLI's output).
std::string SyncReportJson(const std::string& object, const actions::SyncReport& report);

}  // namespace tandem::app
