// The last run of a scheduled job (catalog sync, reconciliation) as a JSON object kept in the
// store's cursors, so every `serve` process — and the console — shows it, whichever ran it.
// Thread-safety: as the store.
#pragma once

#include <string>

#include "store/cursors.h"
#include "util/clock.h"
#include "util/json.h"

namespace tandem::app {

inline constexpr char kCatalogLastRun[] = "catalog.last";
inline constexpr char kReconcileLastRun[] = "reconcile.last";

Status StoreLastRun(store::CursorStore& cursors, const char* name, const Json& result, WallTime at);
// The stored object; null when none ran yet.
Result<Json> LastRun(store::CursorStore& cursors, const char* name);

}  // namespace tandem::app
