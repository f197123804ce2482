// Recovery of work orders by an operator — every production integration meets bad data:
// list and show orders' tasks; retry failed tasks (same plan, same keys); restart (re-plan
// the unfinished tasks from the Order as the CRM holds it now); dismiss (with a reason);
// complete a task manually (a person did it in billing). Each action is audited with who did
// it, records that the order owes the CRM its state, and writes that state at once.
// Errors: NotFound (unknown order or task), Conflict (a task running now, nothing to retry,
// an order already finished, a restart that would re-key a task billing may have taken),
// InvalidArgument (no reason, a result later tasks cannot read, an order that cannot be
// planned) — nothing changed in each case. Retried and kept tasks keep their attempt count, so
// a task that ran before looks in billing for what it may have made (keys expire).
// Thread-safety: as Engine's Enqueue: any number of threads.
#pragma once

#include <string>
#include <vector>

#include "workorders/engine.h"

namespace tandem::workorders {

struct RecoveryRequest {
  std::string order_id;
  int64_t task_id = 0;      // retry / complete: this task alone
  std::string by;           // who asks (audited); required
  std::string reason;       // dismiss: required; the others: optional, audited
  std::string result_json;  // complete: the task's result, a JSON object: what a later task
                            // of the chain reads ({"billing_id": …} for sync_account,
                            // {"subscription_id": …} for create_subscription and replace)
};

struct RestartResult {
  int kept = 0;        // unfinished tasks whose content is unchanged: they run again, same key
  int replanned = 0;   // tasks whose content changed: new keys, the old ones superseded
  int superseded = 0;  // unfinished tasks no longer planned or replaced
  int finished = 0;    // done (or dismissed) tasks left as they are: never redone
};

class Recovery {
 public:
  Recovery(TaskDeps deps, const Templates& templates, Engine& engine)
      : deps_(deps), templates_(templates), engine_(engine) {}

  Result<std::vector<store::GroupSummary>> List(const store::GroupFilter& filter);
  Result<std::vector<store::Task>> Show(const std::string& order_id);
  Result<OrderState> State(const std::string& order_id) { return engine_.State(order_id); }
  Result<int> Retry(const RecoveryRequest& r);
  Result<int> Dismiss(const RecoveryRequest& r);
  Result<int> Complete(const RecoveryRequest& r);
  Result<RestartResult> Restart(const RecoveryRequest& r);

 private:
  Result<int> Change(const char* action, const RecoveryRequest& r, const store::TaskChange& c);
  void Audit(const char* action, const RecoveryRequest& r, const Status& outcome,
             const std::string& detail);
  void ReportNow(const std::string& order_id);

  TaskDeps deps_;
  const Templates& templates_;
  Engine& engine_;
};

// A task key for `base` whose content is `payload` — `base` itself when that is the content
// the key was first used with, else one derived from the content, so a key never carries two
// different requests to billing. Content: the payload without its planning time.
std::string ContentOf(const std::string& payload);
// A Salesforce id in its 18-character form (a 15-character one gets its case suffix).
// InvalidArgument for anything else.
Result<std::string> Salesforce18(const std::string& id);
std::string ReplannedKey(const std::string& base, const std::string& content);

}  // namespace tandem::workorders
