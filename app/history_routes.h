// A record's history — the first question of every support case: what Tandem did to this
// record (a CRM or a billing id), when, who or what asked, how it came out; its links; and, for
// an Order, its work-order tasks with their keys (billing's idempotency keys). One code path
// for `tandem history ID` and GET /api/v1/records/{id}/history?before=&limit=.
// Thread-safety: register before the server starts; the handler is thread-safe.
#pragma once

#include <string>

#include "app/runtime.h"
#include "app/server.h"
#include "app/workorder_routes.h"

namespace tandem::app {

// `before`: the page of entries older than this entry id (0: the newest); `limit` 1 to 500.
RecoveryAnswer HistoryCall(Runtime& rt, const std::string& id, int64_t before, int limit);

void RegisterHistoryRoutes(ApiServer& server, Runtime& runtime);

}  // namespace tandem::app
