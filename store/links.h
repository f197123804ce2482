// Links: which billing record each CRM record was written to, and the hash of what was written.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/audit.h"
#include "store/cursors.h"
#include "util/result.h"

namespace tandem::store {

class Pool;

struct Link {
  std::string object;  // "Account", "Product2", ...
  std::string crm_id;
  std::string billing_id;
  std::string account_number;
  std::string content_hash;  // hash of the mapped fields last written to billing
  int64_t updated_ms = 0;
};

class LinkStore {
 public:
  explicit LinkStore(Pool& pool) : pool_(pool) {}

  // Inserts or replaces links, in multi-row statements (one round trip per 41 links: 250
  // parameters).
  Status UpsertLinks(const std::vector<Link>& links);
  Result<std::optional<Link>> FindLinkByCrmId(const std::string& object, const std::string& crm_id);
  Result<std::optional<Link>> FindLinkByBillingId(const std::string& object,
                                                  const std::string& billing_id);
  Result<std::vector<Link>> FindLinksByCrmIds(const std::string& object,
                                              const std::vector<std::string>& crm_ids);
  Result<std::vector<Link>> FindLinksByBillingIds(const std::string& object,
                                                  const std::vector<std::string>& billing_ids);
  Result<int64_t> CountLinks(const std::string& object);
  // One page of an object's links in crm_id order, after `after_crm_id` ("": the first page):
  // keyset paging, so a scan over every link holds one page at a time.
  Result<std::vector<Link>> ListLinks(const std::string& object, const std::string& after_crm_id,
                                      int limit);
  // Removes the links of `crm_ids` and appends `audit` (what removed them; a row of this object
  // only for a link that was there) in one transaction.
  // An audit row with outcome "unlinked" also makes the record's next billing create a new one
  // (AuditStore::CountUnlinked).
  Status DeleteLinks(const std::string& object, const std::vector<std::string>& crm_ids,
                     const std::vector<AuditEntry>& audit);

  // Links, their audit rows and the cursors that move past them in one transaction: a run's
  // effects are recorded together or not at all.
  Status RecordSync(const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                    const std::vector<CursorUpdate>& cursors = {}, int64_t now_ms = 0);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
