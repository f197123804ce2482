// Store: Tandem's durable state — links, audit, webhook inbox, tasks, jobs, cursors, key
// locks, open invoices — on PostgreSQL (production; several processes may share it) or SQLite (the
// embedded default, one process), through the same SOCI code. The only module that writes SQL.
// Every method returns a Status/Result; database errors never escape as exceptions.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
//
// Each concern is a class of its own (LinkStore in store/links.h, TaskStore in
// store/tasks.h, ...) holding a reference to one connection pool (store/db.h, private).
// Store derives from all of them, sharing one pool, rather than forwarding to members: every
// caller compiles unchanged, and a Store& converts to the one concern a module needs (a
// store::TaskStore&).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/audit.h"
#include "store/balances.h"
#include "store/cursors.h"
#include "store/inbox.h"
#include "store/jobs.h"
#include "store/key_locks.h"
#include "store/leadership.h"
#include "store/links.h"
#include "store/options.h"
#include "store/overview.h"
#include "store/schema.h"
#include "store/sync_retries.h"
#include "store/tasks.h"
#include "store/tokens.h"
#include "util/crash_point.h"
#include "util/result.h"

namespace tandem::store {

class Pool;

// Owns Store's pool. Store's first base, so the pool is opened before, and closed after, the
// concern bases that hold a reference to it.
class PoolOwner {
 protected:
  explicit PoolOwner(std::unique_ptr<Pool> pool);
  ~PoolOwner();

  std::unique_ptr<Pool> owned_pool_;
};

class Store : private PoolOwner,
              public SchemaStore,
              public LinkStore,
              public AuditStore,
              public InboxStore,
              public TaskStore,
              public JobStore,
              public CursorStore,
              public TokenStore,
              public LeadershipStore,
              public KeyLockStore,
              public BalanceStore,
              public SyncRetryStore,
              public OverviewStore {
 public:
  // Connects, and applies pending migrations unless options.migrate is false.
  // Fails with InvalidArgument for a bad URL, IoError when the database cannot be reached.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();

  Backend backend() const;
  bool SupportsSkipLocked() const { return backend() == Backend::kPostgres; }
  bool HasAdvisoryLocks() const { return backend() == Backend::kPostgres; }

 private:
  explicit Store(std::unique_ptr<Pool> pool);
};

}  // namespace tandem::store
