#include "actions/change_poller.h"

#include <map>

#include "connector/crm/soql.h"
#include "util/log.h"

namespace tandem::actions {
namespace {

// "2026-12-02T16:00:00.000+0000" -> "2026-12-02T16:00:00Z": a SOQL literal, and a key that
// orders as text.
std::string Second(const std::string& modstamp) { return modstamp.substr(0, 19) + "Z"; }

}  // namespace

ChangePoller::ChangePoller(Actions& actions, connector::crm::CrmClient& crm,
                           store::CursorStore& cursors, const mapping::Mapping& mapping,
                           const Clock& clock, Millis lookback, int page_size)
    : actions_(actions),
      crm_(crm),
      cursors_(cursors),
      mapping_(mapping),
      clock_(clock),
      lookback_(lookback),
      page_size_(page_size) {}

Result<ChangePollResult> ChangePoller::PollOnce() {
  ChangePollResult out;
  Status first_error;
  for (const auto& map : mapping_.objects) {
    if (!map.sync_on_change) continue;
    if (Status st = PollMap(map, &out); !st.ok()) {
      log::Get("actions")->warn("change poll of {}: {}", map.name, st.ToString());
      if (first_error.ok()) first_error = st;
    }
  }
  if (!first_error.ok() && out.api_calls == 0) return first_error;
  return out;
}

Status ChangePoller::PollMap(const mapping::ObjectMap& map, ChangePollResult* out) {
  const std::string name = CursorName(map.name);
  auto stored = cursors_.GetCursor(name);
  if (!stored.ok()) return stored.status();
  std::string at;                           // the newest change handled, to the second
  std::map<std::string, std::string> seen;  // id -> SystemModstamp handled in the window
  if (!*stored) {
    // Switched on now: changes from here on are synced; the records that exist already are the
    // initial load's (`tandem migrate`) or reconcile's. "Now" is the CRM's newest change, read
    // from the CRM: Tandem's clock and Salesforce's may differ. One call.
    connector::crm::SoqlBuilder newest(map.crm, {"Id", "SystemModstamp"});
    auto soql = newest.OrderBy("SystemModstamp", /*ascending=*/false).Limit(1).Build();
    if (!soql.ok()) return soql.status();
    std::string from;
    ++out->api_calls;
    TANDEM_RETURN_IF_ERROR(crm_.Query(*soql, [&](const Json& r) {
      from = Second(r["SystemModstamp"].ToText());
      return Status::Ok();
    }));
    // The records of that very second are the switch's too: remembered as handled, so only
    // what changes after is synced. One more call, once.
    Json handled = Json::MakeObject();
    if (!from.empty()) {
      connector::crm::SoqlBuilder same(map.crm, {"Id", "SystemModstamp"});
      auto same_soql = same.WhereLiteral("SystemModstamp", ">=", from).Limit(2000).Build();
      if (!same_soql.ok()) return same_soql.status();
      ++out->api_calls;
      TANDEM_RETURN_IF_ERROR(crm_.Query(*same_soql, [&](const Json& r) {
        handled.Set(r["Id"].ToText(), r["SystemModstamp"].ToText());
        return Status::Ok();
      }));
    }
    Json cursor = Json::MakeObject();
    cursor.Set("from", from);
    cursor.Set("at", from);
    cursor.Set("seen", handled);
    return cursors_.SetCursor(name, cursor.Dump(), ToEpochMillis(clock_.Now()));
  }
  std::string from;  // when the switch was set: the lookback never reaches before it
  {
    auto cursor = Json::Parse(**stored);
    if (!cursor.ok()) return Status::Corruption("change cursor " + name + " is not JSON");
    at = (*cursor)["at"].ToText();
    from = (*cursor)["from"].ToText();
    for (const auto& [id, stamp] : (*cursor)["seen"].object()) seen[id] = stamp.ToText();
  }
  std::vector<std::string> fields = {"Id", "SystemModstamp"};
  const std::string condition_field = mapping::ConditionField(map.eligible_when);
  if (!condition_field.empty() && condition_field != "Id" && condition_field != "SystemModstamp")
    fields.push_back(condition_field);

  std::string page_after_stamp, page_after_id;
  for (bool first = true;; first = false) {
    connector::crm::SoqlBuilder q(map.crm, fields);
    if (!map.eligible_since.empty())
      q.WhereLiteral("CreatedDate", ">=", map.eligible_since + "T00:00:00Z");
    if (!map.eligible_record_types.empty())
      q.WhereIn("RecordType.DeveloperName", map.eligible_record_types);
    if (first && !at.empty()) {
      auto t = ParseRfc3339(at);
      if (!t.ok()) return Status::Corruption("change cursor " + name + ": '" + at + "'");
      q.WhereLiteral("SystemModstamp", ">=", Second(FormatRfc3339(*t - lookback_)));
    } else if (!first) {
      q.WhereAfter("SystemModstamp", page_after_stamp, page_after_id);
    }
    auto soql = q.OrderBy("SystemModstamp").OrderBy("Id").Limit(page_size_).Build();
    if (!soql.ok()) return soql.status();
    std::vector<Json> rows;
    ++out->api_calls;
    TANDEM_RETURN_IF_ERROR(crm_.Query(*soql, [&](const Json& r) {
      rows.push_back(r);
      return Status::Ok();
    }));
    std::vector<std::string> ids;
    for (const auto& r : rows) {
      const std::string id = r["Id"].ToText();
      auto s = seen.find(id);
      if (s != seen.end() && s->second == r["SystemModstamp"].ToText()) continue;
      if (Second(r["SystemModstamp"].ToText()) < from) continue;  // changed before the switch
      ++out->changed;
      if (!mapping::ConditionHolds(map.eligible_when, r)) {
        ++out->ineligible;
        continue;
      }
      ids.push_back(id);
    }
    if (!ids.empty()) {
      auto report = actions_.Sync(map.name, ids);
      if (!report.ok()) return report.status();  // the cursor stays: this page is read again
      out->synced += static_cast<int>(ids.size());
      out->failed += report->failed;  // on the retry list (sync.h)
    }
    for (const auto& r : rows) {
      seen[r["Id"].ToText()] = r["SystemModstamp"].ToText();
      at = std::max(at, Second(r["SystemModstamp"].ToText()));
    }
    if (!rows.empty()) {
      // What the next window re-reads is all the cursor needs to remember.
      auto t = ParseRfc3339(at);
      const std::string window = t.ok() ? Second(FormatRfc3339(*t - lookback_)) : at;
      Json cursor = Json::MakeObject();
      cursor.Set("from", from);
      cursor.Set("at", at);
      Json kept = Json::MakeObject();
      for (const auto& [id, stamp] : seen)
        if (Second(stamp) >= window) kept.Set(id, stamp);
      cursor.Set("seen", kept);
      TANDEM_RETURN_IF_ERROR(cursors_.SetCursor(name, cursor.Dump(), ToEpochMillis(clock_.Now())));
    }
    if (static_cast<int>(rows.size()) < page_size_) return Status::Ok();
    page_after_stamp = Second(rows.back()["SystemModstamp"].ToText());
    page_after_id = rows.back()["Id"].ToText();
  }
}

}  // namespace tandem::actions
