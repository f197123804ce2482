// Writes one concern makes inside a transaction another concern opened, so that a change
// spanning concerns commits as one: a sync run's links, audit rows and cursors; an inbox
// event and the cursors it moved. Private to store/; each is defined with its concern.
#pragma once

#include <cstdint>
#include <vector>

#include <soci/soci.h>

#include "store/audit.h"
#include "store/cursors.h"
#include "store/links.h"
#include "util/result.h"

namespace tandem::store {

class Pool;

// Each REQUIRES: inside a transaction (both backends).
void InsertLinks(soci::session& sql, const std::vector<Link>& links);          // links.cpp
void InsertAudit(soci::session& sql, const std::vector<AuditEntry>& entries);  // audit.cpp
void WriteCursors(soci::session& sql, const std::vector<CursorUpdate>& cursors,
                  int64_t now_ms);  // cursors.cpp

// Links, their audit rows and the cursors that move past them in one transaction (links.cpp:
// links lead a sync run's record). LinkStore::UpsertLinks runs it with links alone,
// AuditStore::AppendAudit with audit rows alone.
Status RecordSync(Pool& pool, const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                  const std::vector<CursorUpdate>& cursors, int64_t now_ms);

}  // namespace tandem::store
