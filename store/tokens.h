// API tokens: the tokens callers of Tandem's API present, kept only as hashes.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

class TokenStore {
 public:
  explicit TokenStore(Pool& pool) : pool_(pool) {}

  // AlreadyExists when the name is taken.
  Status CreateApiToken(const std::string& name, const std::string& token_hash, int64_t now_ms);
  // NotFound when there is no active token of that name.
  Status RevokeApiToken(const std::string& name, int64_t now_ms);
  Result<bool> IsActiveApiToken(const std::string& token_hash);
  // Names of active tokens, with their creation times.
  Result<std::vector<std::pair<std::string, int64_t>>> ListApiTokens();

 private:
  Pool& pool_;
};

}  // namespace tandem::store
