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
        << "Usage: tandem --config FILE token create NAME | revoke NAME | list\n\n"
           "API tokens for the CRM's quick actions (Authorization: Bearer TOKEN). A new token\n"
           "is printed once; the store keeps only its SHA-256.\n";
    return help ? kExitOk : kExitUsage;
  }
  if ((verb != "list" && args.size() != 2) || (verb == "list" && args.size() != 1)) {
    const size_t wanted = verb == "list" ? 1 : 2;
    std::cerr << "tandem token " << verb << ": "
              << (args.size() > wanted ? "unexpected argument '" + args[wanted] + "'"
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
    for (const auto& [name, created] : *tokens)
      std::cout << name << "\t" << FormatRfc3339(FromEpochMillis(created)) << "\n";
    return kExitOk;
  }
  if (verb == "revoke") {
    Status st = store->RevokeApiToken(args[1], now);
    if (!st.ok()) {
      std::cerr << "tandem token revoke: " << st.message() << "\n";
      return st.IsNotFound() ? kExitUsage : kExitFailures;
    }
    std::cout << "revoked " << args[1] << "\n";
    return kExitOk;
  }
  auto token = NewApiToken();
  if (!token.ok()) return kExitFailures;
  Status st = store->CreateApiToken(args[1], TokenHash(*token), now);
  if (!st.ok()) {
    std::cerr << "tandem token create: " << st.message() << "\n";
    return st.IsAlreadyExists() ? kExitUsage : kExitFailures;
  }
  std::cout << *token << "\n";
  return kExitOk;
}

}  // namespace tandem::app::commands
