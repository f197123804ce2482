// Audit: what was done to each record, by whom, and how it came out.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

struct AuditEntry {
  int64_t at_ms = 0;
  std::string actor;  // "admin:sync", "migration:JOB", "scheduler"
  std::string object;
  std::string record_id;
  std::string action;   // "create", "update", ...
  std::string outcome;  // Outcome::KindName
  std::string detail;
  int64_t id = 0;  // read: the row's id (history pages by it)
};

class AuditStore {
 public:
  explicit AuditStore(Pool& pool) : pool_(pool) {}

  Status AppendAudit(const std::vector<AuditEntry>& entries);
  Result<int64_t> CountAudit(const std::string& object);
  // How many times the record's link was removed (audit rows with outcome "unlinked": an
  // unlink, a migration undone, its billing customer deleted).
  Result<int64_t> CountUnlinked(const std::string& object, const std::string& record_id);
  Result<std::vector<AuditEntry>> AuditFor(const std::string& object, const std::string& record_id);
  // The rows of any of `record_ids`, whatever the object, newest first: `limit` of them with
  // an id below `before_id` (0: from the newest).
  Result<std::vector<AuditEntry>> History(const std::vector<std::string>& record_ids,
                                          int64_t before_id, int limit);
  // The rows of `actor` ("migration:JOB"), oldest first: `limit` of them with an id above
  // `after_id` (0: from the first).
  Result<std::vector<AuditEntry>> AuditByActor(const std::string& actor, int64_t after_id,
                                               int limit);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
