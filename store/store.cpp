#include "store/store.h"

#include "store/db.h"

namespace tandem::store {

PoolOwner::PoolOwner(std::unique_ptr<Pool> pool) : owned_pool_(std::move(pool)) {}
PoolOwner::~PoolOwner() = default;

Store::Store(std::unique_ptr<Pool> pool)
    : PoolOwner(std::move(pool)),
      SchemaStore(*owned_pool_),
      LinkStore(*owned_pool_),
      AuditStore(*owned_pool_),
      InboxStore(*owned_pool_),
      TaskStore(*owned_pool_),
      JobStore(*owned_pool_),
      CursorStore(*owned_pool_),
      TokenStore(*owned_pool_),
      LeadershipStore(*owned_pool_),
      KeyLockStore(*owned_pool_),
      BalanceStore(*owned_pool_),
      SyncRetryStore(*owned_pool_),
      OverviewStore(*owned_pool_) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  auto pool = Pool::Open(options);
  if (!pool.ok()) return pool.status();
  std::unique_ptr<Store> store(new Store(std::move(pool).value()));
  if (options.migrate) TANDEM_RETURN_IF_ERROR(store->Migrate());
  return store;
}

Backend Store::backend() const { return owned_pool_->backend(); }

}  // namespace tandem::store
