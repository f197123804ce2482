#include "app/sync_failure_routes.h"

namespace tandem::app {

RecoveryAnswer SyncFailureList(store::SyncRetryStore& retries, const Json& request) {
  if (!request.is_object())
    return RecoveryAnswer{Status::InvalidArgument("the body must be a JSON object"), Json()};
  store::SyncFailureFilter f;
  f.state = request["state"].ToText();
  if (f.state != "" && f.state != "pending" && f.state != "given_up")
    return RecoveryAnswer{
        Status::InvalidArgument("state must be pending or given_up, not '" + f.state + "'"),
        Json()};
  f.object = request["object"].ToText();
  const std::string after = request["after"].ToText();
  if (!after.empty()) {
    const auto slash = after.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == after.size())
      return RecoveryAnswer{Status::InvalidArgument("after must be OBJECT/CRM_ID, not '" + after +
                                                    "' (the \"next\" of the previous page)"),
                            Json()};
    f.after_object = after.substr(0, slash);
    f.after_crm_id = after.substr(slash + 1);
  }
  auto n = IntMember(request, "limit", 50);
  if (!n.ok()) return RecoveryAnswer{n.status(), Json()};
  if (*n < 1 || *n > 500)
    return RecoveryAnswer{Status::InvalidArgument("limit must be 1 to 500"), Json()};
  f.limit = static_cast<int>(*n);
  auto failures = retries.ListSyncFailures(f);
  if (!failures.ok()) return RecoveryAnswer{failures.status(), Json()};
  Json list = Json::MakeArray();
  for (const auto& x : *failures) {
    Json j = Json::MakeObject();
    j.Set("object", x.object);
    j.Set("crm_id", x.crm_id);
    j.Set("state", x.next_retry_ms ? "pending" : "given_up");
    j.Set("attempts", x.attempts);
    j.Set("first_failed_at", FormatRfc3339(FromEpochMillis(x.first_failed_ms)));
    j.Set("last_failed_at", FormatRfc3339(FromEpochMillis(x.last_failed_ms)));
    if (x.next_retry_ms) j.Set("next_retry_at", FormatRfc3339(FromEpochMillis(*x.next_retry_ms)));
    j.Set("last_error", x.last_error);
    list.Push(std::move(j));
  }
  Json out = Json::MakeObject();
  out.Set("failures", list);
  if (static_cast<int>(failures->size()) == f.limit)
    out.Set("next", failures->back().object + "/" + failures->back().crm_id);
  return RecoveryAnswer{Status::Ok(), out};
}

void RegisterSyncFailureRoutes(ApiServer& server, Runtime& rt) {
  Runtime* runtime = &rt;
  JsonPostRoute(
      server, "/api/v1/syncs/failures", "sync_failures_refused",
      [runtime](const Json& request) { return SyncFailureList(*runtime->store, request); });
}

}  // namespace tandem::app
