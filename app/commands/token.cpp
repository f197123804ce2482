// `tandem token create | revoke | list`: API tokens for the CRM's quick actions.
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"
#include "app/tokens.h"

namespace tandem::app::commands {

int Token(const Globals& g, const Args& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb != "create" && verb != "revoke" && verb != "list") {
    const bool help = verb == "--help" || verb == "-h";
    (help ? std::cout : std::cerr)
        << "Usage: tandem --config FILE token create NAME [--scopes LIST] | revoke NAME | list\n\n"
           "API tokens (Authorization: Bearer TOKEN). A new token is printed once; the store\n"
           "keeps only its SHA-256. Scopes (comma-separated; default actions):\n"
           "  actions   the CRM's sync / open / query quick actions\n"
           "  operator  work-order and event recovery, record history, /healthz details\n";
    return help ? kExitOk : kExitUsage;
  }
  // create NAME [--scopes LIST | --scopes=LIST]
  Args rest(args.begin() + 1, args.end());
  std::string scopes = kScopeActions;
  for (size_t i = 0; verb == "create" && i < rest.size(); ++i) {
    const bool joined = rest[i].rfind("--scopes=", 0) == 0;
    if (rest[i] != "--scopes" && !joined) continue;
    if (!joined && i + 1 == rest.size()) {
      std::cerr << "tandem token create: --scopes needs a list (actions, operator)\n";
      return kExitUsage;
    }
    auto normal = NormalizeScopes(joined ? rest[i].substr(9) : rest[i + 1]);
    if (!normal.ok()) {
      std::cerr << "tandem token create: --scopes: " << normal.status().message() << "\n";
      return kExitUsage;
    }
    scopes = *normal;
    rest.erase(rest.begin() + static_cast<long>(i),
               rest.begin() + static_cast<long>(i) + (joined ? 1 : 2));
    break;
  }
  const size_t wanted = verb == "list" ? 0 : 1;
  if (rest.size() != wanted) {
    std::cerr << "tandem token " << verb << ": "
              << (rest.size() > wanted ? "unexpected argument '" + rest[wanted] + "'"
                                       : std::string("give the token's NAME"))
              << "\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<store::Store> store = CommandStore(g, "token", &exit_code);
  if (!store) return exit_code;
  const int64_t now = ToEpochMillis(std::chrono::system_clock::now());
  if (verb == "list") {
    auto tokens = store->ListApiTokens();
    if (!tokens.ok()) return kExitFailures;
    for (const auto& t : *tokens)
      std::cout << t.name << "\t" << t.scopes << "\t"
                << FormatRfc3339(FromEpochMillis(t.created_ms)) << "\n";
    return kExitOk;
  }
  if (verb == "revoke") {
    Status st = store->RevokeApiToken(rest[0], now);
    if (!st.ok()) {
      std::cerr << "tandem token revoke: " << st.message() << "\n";
      return st.IsNotFound() ? kExitUsage : kExitFailures;
    }
    std::cout << "revoked " << rest[0] << "\n";
    return kExitOk;
  }
  auto token = NewApiToken();
  if (!token.ok()) return kExitFailures;
  Status st = store->CreateApiToken(rest[0], TokenHash(*token), scopes, now);
  if (!st.ok()) {
    std::cerr << "tandem token create: " << st.message() << "\n";
    return st.IsAlreadyExists() ? kExitUsage : kExitFailures;
  }
  std::cout << *token << "\n";
  return kExitOk;
}

}  // namespace tandem::app::commands
