#include "workorders/poller.h"

#include <algorithm>
#include <cmath>

#include "connector/crm/soql.h"
#include "mapping/mapping.h"
#include "util/log.h"

namespace tandem::workorders {

Millis PollInterval(int64_t daily_max, double share, double calls_per_poll, Millis floor) {
  if (daily_max <= 0 || share <= 0) return floor;
  const double polls_per_day =
      static_cast<double>(daily_max) * share / std::max(1.0, calls_per_poll);
  const auto interval = Millis(static_cast<int64_t>(std::ceil(86'400'000.0 / polls_per_day)));
  return std::max(floor, interval);
}

Result<PollResult> OrderPoller::PollOnce() {
  PollResult out;
  bool first_page = true;
  for (;;) {
    auto cursor = store_.GetCursor(kCursor);
    if (!cursor.ok()) return cursor.status();
    // "2026-11-24T23:10:56Z|801..." ; empty: from the beginning.
    std::string since, after_id;
    if (cursor->has_value()) {
      const std::string& c = **cursor;
      since = c.substr(0, c.find('|'));
      after_id = c.find('|') == std::string::npos ? "" : c.substr(c.find('|') + 1);
    }
    std::vector<std::string> fields = {"Id", "SystemModstamp"};
    const std::string condition_field = mapping::ConditionField(eligible_.when);
    if (!condition_field.empty() && condition_field != "Id") fields.push_back(condition_field);
    connector::crm::SoqlBuilder q("Order", fields);
    q.WhereEquals("Status", "Activated").WhereLiteral("Automation_Status__c", "=", "null");
    if (!eligible_.since.empty())
      q.WhereLiteral("CreatedDate", ">=", eligible_.since + "T00:00:00Z");
    if (!eligible_.record_types.empty())
      q.WhereIn("RecordType.DeveloperName", eligible_.record_types);
    if (!since.empty() && first_page) {
      // The lookback window (see the header): from `lookback` before the cursor's time.
      auto at = ParseRfc3339(since);
      if (!at.ok()) return Status::Corruption("order poll cursor '" + since + "'");
      const std::string from = FormatRfc3339(*at - lookback_);
      q.WhereLiteral("SystemModstamp", ">=", from.substr(0, 19) + "Z");
    } else if (!since.empty()) {
      q.WhereAfter("SystemModstamp", since, after_id);
    }
    first_page = false;
    auto soql = q.OrderBy("SystemModstamp").OrderBy("Id").Limit(page_size_).Build();
    if (!soql.ok()) return soql.status();
    std::vector<std::pair<std::string, std::string>> page;  // id, modstamp
    std::vector<std::string> ids;                           // the eligible ones
    ++out.api_calls;
    TANDEM_RETURN_IF_ERROR(crm_.Query(*soql, [&](const Json& r) {
      page.emplace_back(r["Id"].as_string(), r["SystemModstamp"].ToText());
      if (mapping::ConditionHolds(eligible_.when, r))
        ids.push_back(r["Id"].as_string());
      else
        ++out.ineligible;
      return Status::Ok();
    }));
    // A page's orders are read, planned and reported together: 2 CRM calls and a
    // Collections write for up to 200 orders.
    EnqueueBatch enqueued = engine_.Enqueue(ids);
    out.api_calls += enqueued.crm_calls;
    out.seen += static_cast<int>(page.size());
    bool transient = false;
    for (size_t i = 0; i < ids.size(); ++i) {
      const Status& st = enqueued.results[i].status();
      if (st.ok()) {
        ++out.enqueued;
      } else {
        ++out.failed;  // the order is marked Failed in the CRM (no template) or retried next poll
        log::Get("workorders")->warn("order {}: {}", ids[i], st.ToString());
        transient = transient || st.IsTransient();
      }
    }
    if (transient) return out;  // keep the cursor: try again next poll (enqueues are keyed)
    if (page.empty()) return out;
    // SOQL datetime literal at second precision: >= re-reads that second, never skips it.
    const std::string& last = page.back().second;
    TANDEM_RETURN_IF_ERROR(
        store_.SetCursor(kCursor, last.substr(0, 19) + "Z|" + page.back().first, 0));
    if (static_cast<int>(page.size()) < page_size_) return out;
  }
}

}  // namespace tandem::workorders
