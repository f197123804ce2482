// `serve`'s scheduled reconciliation (config `reconcile:`): one run over the configured objects,
// its outcome kept in the store (cursor "reconcile.last", JSON) so every process's /metrics
// and console show the last result whichever process ran it.
// Thread-safety: RunScheduledReconcile one at a time (the upkeep thread); the rest thread-safe.
#pragma once

#include <string>

#include "app/config.h"
#include "app/runtime.h"
#include "util/json.h"
#include "util/metrics.h"

namespace tandem::app {

// InvalidArgument naming an object the mapping cannot reconcile (checked at `serve` start).
Status CheckReconcileSchedule(const ReconcileSchedule& schedule, const mapping::Mapping& mapping);

// One run: reconciles, writes the CSV under report_dir (reconcile-YYYYMMDDTHHMMSSZ.csv) when
// set, and stores the result: {"at","seconds","objects","fix","ok","error","differences",
// "fixed","remaining","report"}. A run that cannot finish is stored (ok false) and returned.
Status RunScheduledReconcile(Runtime& rt, const ReconcileSchedule& schedule);

// Whether a scheduled run is due: none stored yet, or the last started `every` ago or more (so
// a restart of `serve` does not reconcile again at once).
bool ReconcileDue(store::CursorStore& cursors, const Clock& clock, Millis every);

// The last stored result; null when none ran yet.
Result<Json> LastReconcile(store::CursorStore& cursors);

// Gauges from the last stored result: tandem_reconcile_last_run_timestamp_seconds,
// tandem_reconcile_last_ok, tandem_reconcile_last_differences, tandem_reconcile_last_remaining
// (-1 before any run).
void DescribeReconcileMetrics(Metrics& metrics, store::CursorStore& cursors);

}  // namespace tandem::app
