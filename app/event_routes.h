// Billing events that failed, recoverable as JSON, one code path for both ways in: the HTTP
// API's POST /api/v1/events/{list|replay|dismiss} and `tandem events …`. A replayed event is
// applied again (by `serve`'s callback worker, or by the CLI at once); a dismissal needs a
// reason and keeps the event's error. Each
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

// The verbs: list, replay, dismiss. An unknown verb: InvalidArgument. `apply_now`: a replayed
// event is applied before the answer (the CLI, a process of its own); in `serve` it is left to
// the callback worker (one batch at a time per process), which the answer's "pending" says.
RecoveryAnswer EventCall(Runtime& rt, const std::string& verb, const Json& request, bool apply_now);

void RegisterEventRoutes(ApiServer& server, Runtime& runtime);

}  // namespace tandem::app
