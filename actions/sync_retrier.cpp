#include "actions/sync_retrier.h"

#include <map>

#include "util/log.h"

namespace tandem::actions {

SyncRetrier::SyncRetrier(Actions& actions, store::SyncRetryStore& retries, const Clock& clock,
                         store::RetryPolicy policy)
    : actions_(actions), retries_(retries), clock_(clock), policy_(policy) {}

Result<RetryRound> SyncRetrier::RunDue(int limit) {
  auto due = retries_.DueSyncRetries(ToEpochMillis(clock_.Now()), limit);
  if (!due.ok()) return due.status();
  std::map<std::string, std::vector<std::string>> by_object;
  for (const auto& f : *due) by_object[f.object].push_back(f.crm_id);
  RetryRound round;
  Status first_error;
  for (const auto& [object, ids] : by_object) {
    auto report = actions_.Sync(object, ids);
    if (report.ok()) {
      round.retried += static_cast<int>(ids.size());
      for (const auto& o : report->outcomes)
        (o.failed() || !o.reason.empty() ? round.failed : round.succeeded)++;
      continue;
    }
    if (!report.status().IsInvalidArgument() && !report.status().IsNotFound()) {
      // The CRM or the store is down: these stay due; the other objects still get their turn.
      log::Get("actions")->warn("sync retry of {} {} records: {}", ids.size(), object,
                                report.status().ToString());
      first_error = first_error.ok() ? report.status() : first_error;
      continue;
    }
    // The object map is gone or no longer syncable: give these up, with the reason.
    std::vector<std::pair<std::string, std::string>> failed;
    for (const auto& id : ids) failed.emplace_back(id, report.status().message());
    store::RetryPolicy give_up = policy_;
    give_up.give_up_after_ms = 0;
    TANDEM_RETURN_IF_ERROR(
        retries_.NoteSyncOutcomes(object, failed, {}, give_up, ToEpochMillis(clock_.Now())));
    round.failed += static_cast<int>(ids.size());
  }
  if (round.retried)
    log::Get("actions")->info("sync retry: {} records, {} now in billing, {} failed again",
                              round.retried, round.succeeded, round.failed);
  if (!first_error.ok() && round.retried == 0) return first_error;
  return round;
}

}  // namespace tandem::actions
