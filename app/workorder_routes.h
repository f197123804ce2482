// Work-order recovery as JSON, one code path for both ways in: the HTTP API's
// POST /api/v1/workorders/{list|show|retry|restart|dismiss|complete} (so a Salesforce action
// can call it) and `tandem workorder …` (app/commands/workorder.cpp).
// Request members: order_id, task_id, by (who asks: required for a change), reason, result
// (complete: a JSON object), and for list: state (failed | open | done), account_id,
// older_than_s, after, limit (at most 500).
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/runtime.h"
#include "app/server.h"
#include "util/json.h"
#include "workorders/recovery.h"

namespace tandem::app {

struct RecoveryAnswer {
  Status status;  // not ok: `body` is the error
  Json body;
};

// A whole-number member: `fallback` when absent; a number or a numeric string (what a
// Salesforce Flow sends) otherwise, or InvalidArgument naming the member.
Result<int64_t> IntMember(const Json& request, const char* name, int64_t fallback);

// The HTTP reply for an answer: 200 with its body, or the error (`error_code`) at its status.
ApiReply ReplyOf(const RecoveryAnswer& answer, const std::string& error_code);
// Registers POST `path`: its JSON body (none: {}) goes to `call`, and the answer back (a body
// that is not JSON: 400).
void JsonPostRoute(ApiServer& server, const std::string& path, const std::string& error_code,
                   std::function<RecoveryAnswer(const Json&)> call);

// The verbs: list, show, retry, restart, dismiss, complete. An unknown verb: InvalidArgument.
RecoveryAnswer RecoveryCall(workorders::Recovery& recovery, const Clock& clock,
                            const std::string& verb, const Json& request);

// An engine and a recovery over the runtime, for the routes or a command.
struct RecoveryParts {
  std::unique_ptr<workorders::Engine> engine;
  std::unique_ptr<workorders::Recovery> recovery;
};
RecoveryParts NewRecovery(Runtime& rt);

void RegisterWorkOrderRoutes(ApiServer& server, Runtime& runtime);

}  // namespace tandem::app
