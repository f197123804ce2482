#include "app/console_routes.h"

#include <string>

#include "app/last_run.h"
#include "app/tokens.h"

namespace tandem::app {
namespace {

constexpr int64_t kBucketMs = 60'000;  // one chart bar per minute
constexpr int kBuckets = 60;           // over the last hour
constexpr int kRecentRuns = 20;

Json ErrorPart(const Status& st) {
  Json j = Json::MakeObject();
  j.Set("error", st.ToString());
  return j;
}

Json Series(const std::vector<int64_t>& counts) {
  Json a = Json::MakeArray();
  for (int64_t n : counts) a.Push(n);
  return a;
}

Json RunJson(const store::Job& job) {
  Json j = Json::MakeObject();
  j.Set("id", job.id);
  j.Set("kind", job.kind);
  j.Set("state", job.state);
  // What the run was about (the object map, a migration's direction), not its file paths.
  auto params = Json::Parse(job.params);
  if (params.ok() && params->is_object()) {
    for (const char* key : {"object", "direction"})
      if (params->Has(key)) j.Set(key, (*params)[key]);
  }
  j.Set("total", job.total);
  j.Set("processed", job.processed);
  j.Set("failed", job.failed);
  j.Set("started_at", FormatRfc3339(FromEpochMillis(job.created_ms)));
  j.Set("updated_at", FormatRfc3339(FromEpochMillis(job.updated_ms)));
  return j;
}

const char* ContentTypeOf(const std::string& name) {
  auto ends = [&](const std::string& ext) {
    return name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

Json ConsoleOverview(Runtime& rt) {
  const WallTime now = rt.clock.Now();
  const int64_t now_ms = ToEpochMillis(now);
  Json out = Json::MakeObject();
  out.Set("now", FormatRfc3339(now));

  Json health = Json::MakeObject();
  auto version = rt.store->SchemaVersion();
  health.Set("ok", version.ok());
  if (version.ok())
    health.Set("schema_version", *version);
  else
    health.Set("error", version.status().ToString());
  out.Set("health", health);

  auto queues = rt.store->CountQueues();
  if (queues.ok()) {
    Json q = Json::MakeObject();
    for (const auto& [queue, states] : *queues) {
      Json s = Json::MakeObject();
      for (const auto& [state, n] : states) s.Set(state, n);
      q.Set(queue, s);
    }
    out.Set("queues", q);
  } else {
    out.Set("queues", ErrorPart(queues.status()));
  }

  // The current minute is the last bar: buckets end at the next whole minute.
  const int64_t until_ms = (now_ms / kBucketMs + 1) * kBucketMs;
  const int64_t since_ms = until_ms - kBucketMs * kBuckets;
  auto activity = rt.store->CountActivity(since_ms, kBucketMs, kBuckets);
  if (activity.ok()) {
    Json a = Json::MakeObject();
    a.Set("since", FormatRfc3339(FromEpochMillis(since_ms)));
    a.Set("bucket_seconds", kBucketMs / 1000);
    a.Set("synced", Series(activity->synced));
    a.Set("tasks_done", Series(activity->tasks_done));
    a.Set("events_received", Series(activity->events_received));
    out.Set("activity", a);
  } else {
    out.Set("activity", ErrorPart(activity.status()));
  }

  auto jobs = rt.store->RecentJobs(kRecentRuns);
  if (jobs.ok()) {
    Json runs = Json::MakeArray();
    for (const auto& job : *jobs) runs.Push(RunJson(job));
    out.Set("runs", runs);
  } else {
    out.Set("runs", ErrorPart(jobs.status()));
  }
  for (const auto& [key, cursor] :
       {std::pair<const char*, const char*>{"catalog", kCatalogLastRun},
        std::pair<const char*, const char*>{"reconcile", kReconcileLastRun}}) {
    auto last = LastRun(*rt.store, cursor);
    out.Set(key, last.ok() ? *last : ErrorPart(last.status()));
  }
  return out;
}

void RegisterConsole(ApiServer& server, Runtime& rt) {
  for (const ConsoleFile& f : ConsoleFiles()) {
    StaticAsset asset{ContentTypeOf(f.name), f.body};
    if (std::string(f.name) == "index.html") {
      server.Asset("/console", asset);
      server.Asset("/console/", asset);
    }
    server.Asset(std::string("/console/") + f.name, std::move(asset));
  }
  Runtime* runtime = &rt;
  server.Route("GET", "/api/v1/console/overview", kScopeOperator, [runtime](const std::string&) {
    return ApiReply{200, ConsoleOverview(*runtime).Dump()};
  });
}

}  // namespace tandem::app
