#include "app/scheduled_reconcile.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "app/last_run.h"
#include "util/log.h"

namespace tandem::app {

Status CheckReconcileSchedule(const ReconcileSchedule& schedule, const mapping::Mapping& mapping) {
  const auto known = reconcile::ReconcilableObjects(mapping);
  for (const auto& o : schedule.objects)
    if (std::find(known.begin(), known.end(), o) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("reconcile.objects: '" + o +
                                     "' cannot be reconciled (known: " + list + ")");
    }
  return Status::Ok();
}

Status RunScheduledReconcile(Runtime& rt, const ReconcileSchedule& schedule) {
  const auto started = rt.clock.SteadyNow();
  const auto at = rt.clock.Now();
  std::string csv;
  if (!schedule.report_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(schedule.report_dir, ec);
    std::string stamp = FormatRfc3339(at);  // 2026-12-02T10:00:00.000Z -> 20261202T100000Z
    stamp.erase(
        std::remove_if(stamp.begin(), stamp.end(), [](char c) { return c == '-' || c == ':'; }),
        stamp.end());
    if (auto dot = stamp.find('.'); dot != std::string::npos) stamp = stamp.substr(0, dot) + "Z";
    csv = (std::filesystem::path(schedule.report_dir) / ("reconcile-" + stamp + ".csv")).string();
  }
  Json result = Json::MakeObject();
  result.Set("at", FormatRfc3339(at));
  Json objects = Json::MakeArray();
  for (const auto& o : schedule.objects) objects.Push(o);
  result.Set("objects", objects);
  result.Set("fix", schedule.fix);
  Status st;
  auto report = reconcile::Report::Open(csv, 3);
  if (!report.ok()) {
    st = report.status();
  } else {
    reconcile::ReconcileOptions options;
    options.objects = schedule.objects;
    options.fix = schedule.fix;
    // Repairs are audited as the schedule's, not as an API caller's.
    const auto repairs = NewActions(rt, "tandem:reconcile");
    st = NewReconciler(rt, **report, repairs.get())->Run(options);
    const Status closed = (*report)->Close();
    if (st.ok()) st = closed;
    result.Set("differences", (*report)->differences());
    result.Set("fixed", (*report)->fixed());
    result.Set("remaining", (*report)->remaining());
    if (!csv.empty()) result.Set("report", csv);
  }
  result.Set("ok", st.ok());
  if (!st.ok()) result.Set("error", st.ToString());
  result.Set("seconds", std::chrono::duration<double>(rt.clock.SteadyNow() - started).count());
  TANDEM_RETURN_IF_ERROR(StoreLastRun(*rt.store, kReconcileLastRun, result, at));
  log::Get("app.reconcile")
      ->info("scheduled reconcile: {} differences, {} remaining{}", result["differences"].ToText(),
             result["remaining"].ToText(), st.ok() ? "" : " (stopped: " + st.ToString() + ")");
  return st;
}

bool ReconcileDue(store::CursorStore& cursors, const Clock& clock, Millis every) {
  auto last = LastReconcile(cursors);
  if (!last.ok() || last->is_null()) return true;
  auto at = ParseRfc3339((*last)["at"].ToText());
  return !at.ok() || clock.Now() - *at >= every;
}

Result<Json> LastReconcile(store::CursorStore& cursors) {
  return LastRun(cursors, kReconcileLastRun);
}

void DescribeReconcileMetrics(Metrics& metrics, store::CursorStore& cursors) {
  struct Gauge {
    const char* name;
    const char* help;
    const char* member;
  };
  static const Gauge kGauges[] = {
      {"tandem_reconcile_last_run_timestamp_seconds",
       "When the last scheduled reconciliation started (Unix seconds).", "at"},
      {"tandem_reconcile_last_ok", "1 when the last scheduled reconciliation finished.", "ok"},
      {"tandem_reconcile_last_differences", "Differences the last scheduled reconciliation found.",
       "differences"},
      {"tandem_reconcile_last_remaining",
       "Differences the last scheduled reconciliation left (not fixed).", "remaining"}};
  store::CursorStore* store = &cursors;
  for (const auto& g : kGauges) {
    metrics.Describe(g.name, "gauge", g.help);
    const std::string member = g.member;
    metrics.Gauge(g.name, [store, member]() -> double {
      auto last = LastReconcile(*store);
      if (!last.ok() || last->is_null()) return -1;
      const Json& v = (*last)[member.c_str()];
      if (member == "at") {
        auto t = ParseRfc3339(v.ToText());
        return t.ok() ? static_cast<double>(ToEpochMillis(*t)) / 1000.0 : -1;
      }
      if (member == "ok") return v.is_bool() && v.as_bool() ? 1 : 0;
      return v.is_null() ? -1 : std::stod(v.ToText());
    });
  }
}

}  // namespace tandem::app
