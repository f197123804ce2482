// Records a sync could not bring to billing, as JSON, one code path for both ways in: the HTTP
// API's POST /api/v1/syncs/failures and `tandem sync failures`. Each is retried by `serve` on
// its back-off schedule (store/sync_retries.h) until it succeeds or is given up.
// Request members: state ("pending" | "given_up" | "" both), object, after ("OBJECT/CRM_ID",
// the last of the previous page), limit (1 to 500, default 50).
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include "app/runtime.h"
#include "app/server.h"
#include "app/workorder_routes.h"
#include "util/json.h"

namespace tandem::app {

RecoveryAnswer SyncFailureList(store::SyncRetryStore& retries, const Json& request);

void RegisterSyncFailureRoutes(ApiServer& server, Runtime& runtime);

}  // namespace tandem::app
