// API tokens: random, shown once at creation, kept only as a SHA-256 in the store. Each has
// scopes, so the CRM's quick-action token cannot dismiss a work order:
//   actions   the CRM's sync / open / query (/api/v1/actions/...)
//   operator  recovery and history (/api/v1/workorders/..., /api/v1/events/...,
//             /api/v1/records/.../history) and /healthz's details
// Billing's callbacks never take a bearer token: they carry billing's own signature.
// Thread-safety: pure functions (NewApiToken reads /dev/urandom).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "store/tokens.h"
#include "util/result.h"

namespace tandem::app {

// "tdm_" + 40 hex characters of randomness from the operating system.
Result<std::string> NewApiToken();
// 2 x `bytes` hex characters of randomness from the operating system (ids no one can guess).
Result<std::string> RandomHex(size_t bytes);
std::string TokenHash(const std::string& token);

inline constexpr const char* kScopeActions = "actions";
inline constexpr const char* kScopeOperator = "operator";
// What the token in server.api_token may do: it is the appliance owner's own secret.
inline constexpr const char* kAllScopes = "actions,operator";

// "operator, actions" -> "actions,operator" (known scopes only, sorted, once each).
// Failure: InvalidArgument naming the unknown scope, or an empty list.
Result<std::string> NormalizeScopes(const std::string& csv);
bool HasScope(const std::string& scopes, const std::string& scope);
// `any_of`: "actions|operator" — a route either scope may call.
bool HasAnyScope(const std::string& scopes, const std::string& any_of);

// ServerOptions::token_scopes over the store's issued tokens (a store error grants nothing).
std::function<Result<std::optional<std::string>>(const std::string& token)> IssuedTokenScopes(
    store::TokenStore& tokens);

}  // namespace tandem::app
