// Syncs again the records whose retry is due (store/sync_retries.h): what `tandem serve`'s
// leader runs every minute or so. A record whose object map is gone from the mapping is given
// up (listed, never retried), so it cannot hold back the others.
// Thread-safety: one caller at a time.
#pragma once

#include "actions/sync.h"

namespace tandem::actions {

struct RetryRound {
  int retried = 0;    // records synced again
  int succeeded = 0;  // now in billing (they left the retry list)
  int failed = 0;     // failed again (scheduled later, or given up)
};

class SyncRetrier {
 public:
  // `actions` syncs as the retrier's actor ("tandem:retry"); its options carry the policy.
  SyncRetrier(Actions& actions, store::SyncRetryStore& retries, const Clock& clock,
              store::RetryPolicy policy);

  // Up to `limit` due records, one Sync per object map (its reads and writes are bulk). An
  // object whose sync cannot run now (a remote down) keeps its records due and does not stop
  // the others; the error is returned only when nothing could be retried.
  Result<RetryRound> RunDue(int limit = 500);

 private:
  Actions& actions_;
  store::SyncRetryStore& retries_;
  const Clock& clock_;
  const store::RetryPolicy policy_;
};

}  // namespace tandem::actions
