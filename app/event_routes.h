// Billing events that failed, recoverable as JSON, one code path for both ways in: the HTTP
// API's POST /api/v1/events/{list|replay|dismiss} and `tandem events …`. A replay applies the
// event again at once (and `serve` would on its next pass); a dismissal needs a reason. Each
// change is audited with who asked (object "billing_event").
// Request members: event_id, by (who asks: required for a change), reason, after, limit.
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include <string>

#include "app/runtime.h"
#include "app/server.h"
#include "app/workorder_routes.h"
#include "util/json.h"

namespace tandem::app {

// The verbs: list, replay, dismiss. An unknown verb: InvalidArgument.
RecoveryAnswer EventCall(Runtime& rt, const std::string& verb, const Json& request);

void RegisterEventRoutes(ApiServer& server, Runtime& runtime);

}  // namespace tandem::app
