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
};

class AuditStore {
 public:
  explicit AuditStore(Pool& pool) : pool_(pool) {}

  Status AppendAudit(const std::vector<AuditEntry>& entries);
  Result<int64_t> CountAudit(const std::string& object);
  Result<std::vector<AuditEntry>> AuditFor(const std::string& object, const std::string& record_id);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
