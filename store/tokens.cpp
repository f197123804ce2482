#include "store/tokens.h"

#include "store/db.h"

namespace tandem::store {

Status TokenStore::CreateApiToken(const std::string& name, const std::string& token_hash,
                                  int64_t now_ms) {
  return pool_.With("create api token", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql,
             "INSERT INTO api_tokens (name, token_hash, created_ms) VALUES (:n, :h, :c) "
             "ON CONFLICT (name) DO NOTHING",
             {Text(name), Text(token_hash), Int(now_ms)});
    if (n == 0) return Status::AlreadyExists("an API token named '" + name + "' exists");
    return Status::Ok();
  });
}

Status TokenStore::RevokeApiToken(const std::string& name, int64_t now_ms) {
  return pool_.With("revoke api token", [&](soci::session& sql) -> Status {
    const long long n =
        Exec(sql, "UPDATE api_tokens SET revoked_ms = :r WHERE name = :n AND revoked_ms IS NULL",
             {Int(now_ms), Text(name)});
    if (n == 0) return Status::NotFound("no active API token named '" + name + "'");
    return Status::Ok();
  });
}

Result<bool> TokenStore::IsActiveApiToken(const std::string& token_hash) {
  return pool_.With("check api token", [&](soci::session& sql) -> Result<bool> {
    return !Query(sql, "SELECT name FROM api_tokens WHERE token_hash = :h AND revoked_ms IS NULL",
                  {Text(token_hash)})
                .empty();
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> TokenStore::ListApiTokens() {
  return pool_.With(
      "list api tokens",
      [&](soci::session& sql) -> Result<std::vector<std::pair<std::string, int64_t>>> {
        std::vector<std::pair<std::string, int64_t>> out;
        for (const Row& r : Query(sql,
                                  "SELECT name, created_ms FROM api_tokens WHERE "
                                  "revoked_ms IS NULL ORDER BY name"))
          out.emplace_back(AsText(r[0]), AsInt(r[1]));
        return out;
      });
}

}  // namespace tandem::store
