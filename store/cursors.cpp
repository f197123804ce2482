#include "store/cursors.h"

#include <vector>

#include "store/db.h"
#include "store/writes.h"

namespace tandem::store {

void WriteCursors(soci::session& sql, const std::vector<CursorUpdate>& cursors, int64_t now_ms) {
  for (const auto& c : cursors)
    Exec(sql,
         "INSERT INTO cursors (name, value, updated_ms) VALUES (:n, :v, :u) ON CONFLICT (name) "
         "DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
         {Text(c.name), Text(c.value), Int(now_ms)});
}

Result<std::optional<std::string>> CursorStore::GetCursor(const std::string& name) {
  return pool_.With("get cursor", [&](soci::session& sql) -> Result<std::optional<std::string>> {
    auto rows = Query(sql, "SELECT value FROM cursors WHERE name = :n", {Text(name)});
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(AsText(rows[0][0]));
  });
}

Status CursorStore::SetCursor(const std::string& name, const std::string& value, int64_t now_ms) {
  return pool_.With("set cursor", [&](soci::session& sql) -> Status {
    WriteCursors(sql, {{name, value}}, now_ms);
    return Status::Ok();
  });
}

}  // namespace tandem::store
