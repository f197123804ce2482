// `tandem history ID`: what Tandem did to a record (app/history_routes.h).
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"
#include "app/history_routes.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int History(const Globals& g, const Args& args) {
  po::options_description desc("history options");
  desc.add_options()("id", po::value<std::string>(), "a CRM or billing id (or positional)")(
      "before", po::value<int64_t>()->default_value(0),
      "the page of entries older than this entry number")(
      "limit", po::value<int>()->default_value(50), "entries per page (1 to 500)")(
      "json", "print the answer as JSON (as GET /api/v1/records/{id}/history gives it)");
  po::positional_options_description pos;
  pos.add("id", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("history", args, desc, &vm, &code,
                "What Tandem did to a record, newest first: when, who or what asked, the action\n"
                "and its outcome; the record's links; for an Order, its work-order tasks and\n"
                "their idempotency keys. Give the CRM id or the billing id.",
                pos))
    return code;
  if (!vm.count("id")) {
    std::cerr << "tandem history: ID is required\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "history", &exit_code);
  if (!rt) return exit_code;
  const RecoveryAnswer a = HistoryCall(*rt, vm["id"].as<std::string>(), vm["before"].as<int64_t>(),
                                       vm["limit"].as<int>());
  if (!a.status.ok()) {
    std::cerr << "tandem history: " << a.status.message() << "\n";
    return ExitCodeOf(a.status);
  }
  if (vm.count("json")) {
    std::cout << a.body.Dump() << "\n";
    return kExitOk;
  }
  const Json& b = a.body;
  for (const auto& l : b["links"].array())
    std::cout << "linked (" << l["object"].ToText() << "): CRM " << l["crm_id"].ToText()
              << " = billing " << l["billing_id"].ToText() << "\n";
  for (const auto& t : b["tasks"].array())
    std::cout << "task " << t["kind"].ToText() << ": " << t["state"].ToText() << ", "
              << t["attempts"].ToText() << " attempts, key " << t["idempotency_key"].ToText()
              << (t.Has("last_error") ? "; " + t["last_error"].ToText() : "") << "\n";
  for (const auto& e : b["entries"].array())
    std::cout << "#" << e["entry"].ToText() << "  " << e["at"].ToText() << "  "
              << e["actor"].ToText() << "  " << e["action"].ToText() << " " << e["object"].ToText()
              << " " << e["record_id"].ToText() << ": " << e["outcome"].ToText()
              << (e.Has("detail") ? " (" + e["detail"].ToText() + ")" : "") << "\n";
  std::cout << b["entries"].size() << " entr" << (b["entries"].size() == 1 ? "y" : "ies");
  if (b.Has("next")) std::cout << "; older with --before " << b["next"].ToText();
  std::cout << "\n";
  return kExitOk;
}

}  // namespace tandem::app::commands
