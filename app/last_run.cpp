#include "app/last_run.h"

namespace tandem::app {

Status StoreLastRun(store::CursorStore& cursors, const char* name, const Json& result,
                    WallTime at) {
  return cursors.SetCursor(name, result.Dump(), ToEpochMillis(at));
}

Result<Json> LastRun(store::CursorStore& cursors, const char* name) {
  auto stored = cursors.GetCursor(name);
  if (!stored.ok()) return stored.status();
  if (!*stored) return Json();
  return Json::Parse(**stored);
}

}  // namespace tandem::app
