// API tokens: the tokens callers of Tandem's API present, kept only as hashes.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::store {

class Pool;

// An active token as `tandem token list` shows it.
struct ApiTokenInfo {
  std::string name;
  std::string scopes;  // comma-separated, e.g. "actions,operator"
  int64_t created_ms = 0;
};

class TokenStore {
 public:
  explicit TokenStore(Pool& pool) : pool_(pool) {}

  // AlreadyExists when the name is taken.
  Status CreateApiToken(const std::string& name, const std::string& token_hash,
                        const std::string& scopes, int64_t now_ms);
  // NotFound when there is no active token of that name.
  Status RevokeApiToken(const std::string& name, int64_t now_ms);
  // The scopes of the active token with this hash; nullopt when there is none (unknown or
  // revoked).
  Result<std::optional<std::string>> ActiveApiTokenScopes(const std::string& token_hash);
  // Active tokens by name.
  Result<std::vector<ApiTokenInfo>> ListApiTokens();

 private:
  Pool& pool_;
};

}  // namespace tandem::store
