// Cursors: how far each feed has been read (a timestamp, a version), by name.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/result.h"

namespace tandem::store {

class Pool;

// A cursor's new value, written in the same transaction as the effects it stands for.
struct CursorUpdate {
  std::string name, value;
};

class CursorStore {
 public:
  explicit CursorStore(Pool& pool) : pool_(pool) {}

  Result<std::optional<std::string>> GetCursor(const std::string& name);
  Status SetCursor(const std::string& name, const std::string& value, int64_t now_ms);

 private:
  Pool& pool_;
};

}  // namespace tandem::store
