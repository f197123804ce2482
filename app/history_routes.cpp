#include "app/history_routes.h"

#include <cstdlib>
#include <set>

#include "app/tokens.h"

namespace tandem::app {
namespace {

// Ids are Salesforce ids or billing ids: letters, digits, _ - . : (a GTV id may hold them).
bool PlausibleId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.' && c != ':') return false;
  return true;
}

}  // namespace

RecoveryAnswer HistoryCall(Runtime& rt, const std::string& id, int64_t before, int limit) {
  if (!PlausibleId(id))
    return RecoveryAnswer{
        Status::InvalidArgument("'" + id.substr(0, 64) +
                                "' is not a record id (letters, digits, _ - . : up to 128)"),
        Json()};
  if (limit < 1 || limit > 500)
    return RecoveryAnswer{Status::InvalidArgument("limit must be 1 to 500"), Json()};
  std::set<std::string> ids{id};
  Json links = Json::MakeArray();
  std::set<std::string> objects{"subscription"};
  for (const auto& o : rt.mapping.objects) objects.insert(o.name);
  for (const auto& object : objects) {
    auto by_crm = rt.store->FindLinkByCrmId(object, id);
    auto by_billing = rt.store->FindLinkByBillingId(object, id);
    if (!by_crm.ok()) return RecoveryAnswer{by_crm.status(), Json()};
    if (!by_billing.ok()) return RecoveryAnswer{by_billing.status(), Json()};
    for (const auto* l : {by_crm->has_value() ? &**by_crm : nullptr,
                          by_billing->has_value() ? &**by_billing : nullptr}) {
      if (!l) continue;
      ids.insert(l->crm_id);
      ids.insert(l->billing_id);
      Json j = Json::MakeObject();
      j.Set("object", object);
      j.Set("crm_id", l->crm_id);
      j.Set("billing_id", l->billing_id);
      j.Set("updated_at", FormatRfc3339(FromEpochMillis(l->updated_ms)));
      links.Push(std::move(j));
    }
  }
  auto entries = rt.store->History({ids.begin(), ids.end()}, before, limit);
  if (!entries.ok()) return RecoveryAnswer{entries.status(), Json()};
  Json out = Json::MakeObject();
  out.Set("id", id);
  out.Set("links", links);
  Json list = Json::MakeArray();
  for (const auto& e : *entries) {
    Json j = Json::MakeObject();
    j.Set("entry", e.id);
    j.Set("at", FormatRfc3339(FromEpochMillis(e.at_ms)));
    j.Set("actor", e.actor);
    j.Set("object", e.object);
    j.Set("record_id", e.record_id);
    j.Set("action", e.action);
    j.Set("outcome", e.outcome);
    if (!e.detail.empty()) j.Set("detail", e.detail);
    list.Push(std::move(j));
  }
  out.Set("entries", list);
  if (static_cast<int>(entries->size()) == limit) out.Set("next", entries->back().id);
  // An Order's tasks, on the first page: each key is what billing saw as the idempotency key.
  if (before == 0) {
    auto tasks = rt.store->TasksInGroup(id);
    if (!tasks.ok()) return RecoveryAnswer{tasks.status(), Json()};
    Json tj = Json::MakeArray();
    for (const auto& t : *tasks) {
      Json j = Json::MakeObject();
      j.Set("kind", t.kind);
      j.Set("state", t.state);
      j.Set("idempotency_key", t.key);
      j.Set("attempts", t.attempts);
      if (!t.last_error.empty()) j.Set("last_error", t.last_error);
      tj.Push(std::move(j));
    }
    if (tj.size() > 0) out.Set("tasks", tj);
  }
  return RecoveryAnswer{Status::Ok(), out};
}

void RegisterHistoryRoutes(ApiServer& server, Runtime& rt) {
  Runtime* runtime = &rt;
  server.RouteWithId(
      "GET", "/api/v1/records/", "/history", kScopeOperator,
      [runtime](const std::string& id, const std::map<std::string, std::string>& query,
                const std::string&) {
        auto number = [&](const char* name, int64_t fallback) {
          return QueryNumber(query, name, fallback);
        };
        const int64_t before = number("before", 0);
        const int64_t limit = number("limit", 50);
        if (before < 0 || limit < 1 || limit > 500)
          return ApiReply{
              400, ErrorJson("bad_request", "before must be an entry number and limit 1 to 500")};
        return ReplyOf(HistoryCall(*runtime, id, before, static_cast<int>(limit)),
                       "history_refused");
      });
}

}  // namespace tandem::app
