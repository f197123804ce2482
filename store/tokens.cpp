#include "store/tokens.h"

#include "store/db.h"

namespace tandem::store {

Status TokenStore::CreateApiToken(const std::string& name, const std::string& token_hash,
                                  const std::string& scopes, int64_t now_ms) {
  return pool_.With("create api token", [&](soci::session& sql) -> Status {
    const long long n = Exec(sql,
                             "INSERT INTO api_tokens (name, token_hash, scopes, created_ms) "
                             "VALUES (:n, :h, :s, :c) ON CONFLICT (name) DO NOTHING",
                             {Text(name), Text(token_hash), Text(scopes), Int(now_ms)});
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

Result<std::optional<std::string>> TokenStore::ActiveApiTokenScopes(const std::string& token_hash) {
  return pool_.With(
      "check api token", [&](soci::session& sql) -> Result<std::optional<std::string>> {
        const auto rows =
            Query(sql, "SELECT scopes FROM api_tokens WHERE token_hash = :h AND revoked_ms IS NULL",
                  {Text(token_hash)});
        if (rows.empty()) return std::optional<std::string>();
        return std::optional<std::string>(AsText(rows[0][0]));
      });
}

Result<std::vector<ApiTokenInfo>> TokenStore::ListApiTokens() {
  return pool_.With(
      "list api tokens", [&](soci::session& sql) -> Result<std::vector<ApiTokenInfo>> {
        std::vector<ApiTokenInfo> out;
        for (const Row& r : Query(sql,
                                  "SELECT name, scopes, created_ms FROM api_tokens WHERE "
                                  "revoked_ms IS NULL ORDER BY name"))
          out.push_back(ApiTokenInfo{AsText(r[0]), AsText(r[1]), AsInt(r[2])});
        return out;
      });
}

}  // namespace tandem::store
