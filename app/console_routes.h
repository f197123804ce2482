// The operator console: a page, a script and a style sheet compiled into the binary (console/,
// embedded by console/console.cmake) and served at /console, plus the one read it needs beyond
// the recovery and history routes: GET /api/v1/console/overview (health, queue depths, the last
// hour minute by minute, recent runs). The page holds no data; everything it shows comes from
// the JSON API with the operator's token, and it loads nothing from anywhere else.
// Thread-safety: register before the server starts; the handlers are thread-safe.
#pragma once

#include <vector>

#include "app/runtime.h"
#include "app/server.h"
#include "util/json.h"

namespace tandem::app {

struct ConsoleFile {
  const char* name;  // "index.html"
  const char* body;
};
const std::vector<ConsoleFile>& ConsoleFiles();  // generated

// What GET /api/v1/console/overview answers: {"now", "health", "queues", "activity", "runs",
// "catalog", "reconcile"}; a part the store cannot give carries {"error"} instead.
Json ConsoleOverview(Runtime& rt);

void RegisterConsole(ApiServer& server, Runtime& rt);

}  // namespace tandem::app
