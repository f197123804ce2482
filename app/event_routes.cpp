#include "app/event_routes.h"

#include "util/log.h"

namespace tandem::app {
namespace {

Json EventJson(const store::InboxEvent& e) {
  Json j = Json::MakeObject();
  j.Set("event_id", e.event_id);
  j.Set("source", e.source);
  j.Set("type", e.type);
  j.Set("received_at", FormatRfc3339(FromEpochMillis(e.received_ms)));
  j.Set("state", e.state);
  j.Set("attempts", e.attempts);
  if (!e.last_error.empty()) j.Set("last_error", e.last_error);
  return j;  // not the payload: it holds the customer's personal data
}

void Audit(Runtime& rt, const std::string& verb, const std::string& by, const std::string& id,
           const Status& outcome, const std::string& reason) {
  store::AuditEntry e;
  e.at_ms = ToEpochMillis(rt.clock.Now());
  e.actor = "operator:" + by;
  e.object = "billing_event";
  e.record_id = id;
  e.action = verb;
  e.outcome = outcome.ok() ? "ok" : "refused";
  e.detail = outcome.ok() ? reason : outcome.ToString();
  if (Status s = rt.store->AppendAudit({e}); !s.ok())
    log::Get("app.events")->warn("billing event {}: audit of {}: {}", id, verb, s.ToString());
}

}  // namespace

RecoveryAnswer EventCall(Runtime& rt, const std::string& verb, const Json& request,
                         bool apply_now) {
  if (!request.is_object())
    return RecoveryAnswer{Status::InvalidArgument("the body must be a JSON object"), Json()};
  Json out = Json::MakeObject();
  if (verb == "list") {
    auto n = IntMember(request, "limit", 50);
    if (!n.ok()) return RecoveryAnswer{n.status(), Json()};
    const int limit = static_cast<int>(*n);
    if (*n < 1 || *n > 500)
      return RecoveryAnswer{Status::InvalidArgument("limit must be 1 to 500"), Json()};
    auto events = rt.store->FailedInboxEvents(request["after"].ToText(), limit);
    if (!events.ok()) return RecoveryAnswer{events.status(), Json()};
    Json list = Json::MakeArray();
    for (const auto& e : *events) list.Push(EventJson(e));
    out.Set("events", list);
    if (static_cast<int>(events->size()) == limit) out.Set("next", events->back().event_id);
    return RecoveryAnswer{Status::Ok(), out};
  }
  if (verb != "replay" && verb != "dismiss")
    return RecoveryAnswer{
        Status::InvalidArgument("'" + verb + "' is not one of list, replay, dismiss"), Json()};
  const std::string id = request["event_id"].ToText();
  const std::string by = request["by"].ToText();
  const std::string reason = request["reason"].ToText();
  Status st = Status::Ok();
  if (id.empty())
    st = Status::InvalidArgument("event_id is required");
  else if (by.empty())
    st = Status::InvalidArgument("who asks (by) is required");
  else if (verb == "dismiss" && reason.empty())
    st = Status::InvalidArgument("a reason is required to dismiss billing event " + id);
  else
    st = verb == "replay" ? rt.store->ReplayInboxEvent(id)
                          : rt.store->DismissInboxEvent(id, "by " + by + ": " + reason);
  Audit(rt, verb, by, id, st, reason);
  if (!st.ok()) return RecoveryAnswer{st, Json()};
  out.Set("event_id", id);
  if (verb == "replay" && apply_now) {
    // Applied now, with whatever else is pending: the caller sees how it came out.
    auto applied = rt.callbacks->ApplyPending();
    if (!applied.ok())
      log::Get("app.events")
          ->warn("applying replayed event {}: {}", id, applied.status().ToString());
  }
  auto now = rt.store->InboxEventById(id);
  if (now.ok() && !now->empty()) out = EventJson(now->front());
  return RecoveryAnswer{Status::Ok(), out};
}

void RegisterEventRoutes(ApiServer& server, Runtime& rt) {
  Runtime* runtime = &rt;
  for (const char* verb : {"list", "replay", "dismiss"}) {
    const std::string v = verb;
    JsonPostRoute(server, "/api/v1/events/" + v, "event_" + v + "_refused",
                  [runtime, v](const Json& request) {
                    return EventCall(*runtime, v, request, /*apply_now=*/false);
                  });
  }
}

}  // namespace tandem::app
