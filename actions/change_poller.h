// Automatic CRM -> billing sync for object maps with `sync: on_change` (mapping.h): `serve`'s
// leader asks the CRM, per map, for the records changed since a stored cursor and syncs them
// through the same Actions as a quick action (keys, hashes, link fields, the retry list).
//
// - One SOQL query per map and poll when nothing changed: SELECT Id, SystemModstamp (and the
//   eligibility condition's field) ... WHERE SystemModstamp >= cursor - lookback ORDER BY
//   SystemModstamp, Id, paged 200 at a time.
// - The lookback window (10 min): a transaction stamps SystemModstamp when it writes and becomes
//   visible when it commits, so a long one appears behind the cursor. The cursor remembers the
//   (id, SystemModstamp) pairs it handled inside the window, so the window re-reads them
//   without syncing them again.
// - The first poll only starts the cursor at the CRM's newest change (two queries: the newest,
//   and the records of its second; the CRM's clock, not Tandem's): records that exist already
//   are the initial load's (`tandem migrate`) or reconcile's, not a surprise bulk sync.
// - Eligibility (`eligible:` in the map): the condition is checked on the row, the creation
//   date in the query (CreatedDate >= since). An ineligible record is not synced (and not
//   counted as a failure).
// - Tandem's own write-back of link fields moves SystemModstamp too: the next poll sees the
//   record, finds it unchanged (content hash) and makes no billing call and no write-back, so it
//   settles after one extra read.
// Thread-safety: one poller at a time (the leader's upkeep thread).
#pragma once

#include "actions/sync.h"
#include "connector/crm/crm_client.h"

namespace tandem::actions {

struct ChangePollResult {
  int api_calls = 0;   // CRM queries this poll spent (the syncs' own calls not included)
  int changed = 0;     // rows the queries returned that were not handled before
  int ineligible = 0;  // of which the eligibility condition refused
  int synced = 0;      // records synced (any outcome)
  int failed = 0;      // of which failed (they are on the retry list)
};

class ChangePoller {
 public:
  ChangePoller(Actions& actions, connector::crm::CrmClient& crm, store::CursorStore& cursors,
               const mapping::Mapping& mapping, const Clock& clock,
               Millis lookback = Millis(10 * 60'000), int page_size = 200);

  // Every `on_change` map, page after page until none is left. A map whose sync cannot run
  // (the CRM down) keeps its cursor and is tried next poll; the others go on.
  Result<ChangePollResult> PollOnce();

  static std::string CursorName(const std::string& map_name) { return "changes." + map_name; }

 private:
  Status PollMap(const mapping::ObjectMap& map, ChangePollResult* out);

  Actions& actions_;
  connector::crm::CrmClient& crm_;
  store::CursorStore& cursors_;
  const mapping::Mapping& mapping_;
  const Clock& clock_;
  const Millis lookback_;
  const int page_size_;
};

}  // namespace tandem::actions
