// `tandem sync | open | query OBJECT ID...`: the CRM's quick actions from the command line.
#include <iostream>

#include "app/action_routes.h"
#include "app/cli.h"
#include "app/commands/command.h"
#include "app/sync_failure_routes.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

int SyncIds(Runtime& rt, const std::string& object, const std::vector<std::string>& ids) {
  auto report = rt.actions->Sync(object, ids);
  if (!report.ok()) {
    std::cerr << "tandem sync: " << report.status().ToString() << "\n";
    return report.status().IsInvalidArgument() || report.status().IsNotFound() ? kExitUsage
                                                                               : kExitFailures;
  }
  std::cout << SyncReportJson(object, *report) << "\n";
  return report->failed == 0 ? kExitOk : kExitFailures;
}

int OpenIds(Runtime& rt, const std::string& object, const std::vector<std::string>& ids) {
  auto open = rt.actions->Open(object, ids);
  if (!open.ok()) {
    std::cerr << "tandem open: " << open.status().ToString() << "\n";
    return kExitUsage;
  }
  int failed = 0;
  for (const auto& r : *open) {
    std::cout << r.crm_id << "\t" << (r.url.empty() ? r.error : r.url) << "\n";
    failed += !r.error.empty();
  }
  return failed == 0 ? kExitOk : kExitFailures;
}

int QueryIds(Runtime& rt, const std::string& object, const std::vector<std::string>& ids) {
  auto query = rt.actions->Query(object, ids);
  if (!query.ok()) {
    std::cerr << "tandem query: " << query.status().ToString() << "\n";
    return kExitUsage;
  }
  int failed = 0;
  for (const auto& q : *query) {
    std::cout << q.crm_id << " → " << (q.billing_id.empty() ? "-" : q.billing_id)
              << (q.error.empty() ? "" : "  " + q.error) << "\n";
    for (const auto& d : q.diffs)
      std::cout << "  " << d.field << ": CRM '" << d.crm_value << "' / billing '" << d.billing_value
                << "'\n";
    failed += !q.error.empty();
  }
  return failed == 0 ? kExitOk : kExitFailures;
}

// `tandem sync failures`: the records waiting for a retry, or given up.
int SyncFailures(const Globals& g, const Args& args) {
  po::options_description desc("sync failures options");
  desc.add_options()("object", po::value<std::string>()->default_value(""),
                     "only this object map (account, contact)")(
      "state", po::value<std::string>()->default_value(""),
      "pending (a retry is due later) or given_up; default both")(
      "after", po::value<std::string>()->default_value(""), "the page after this OBJECT/CRM_ID")(
      "limit", po::value<int>()->default_value(50), "records per page (1 to 500)")(
      "json", "print the answer as JSON (as the HTTP API gives it)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("sync failures", args, desc, &vm, &code,
                "Lists the records a sync could not bring to billing: `serve` retries each on a\n"
                "back-off schedule (sync_retry in the config) until it succeeds (it then leaves\n"
                "the list) or is given up. Exit 0; 2 for bad usage."))
    return code;
  Json request = Json::MakeObject();
  for (const char* k : {"object", "state", "after"}) request.Set(k, vm[k].as<std::string>());
  request.Set("limit", vm["limit"].as<int>());
  int exit_code = kExitOk;
  // The store alone: listing needs neither the CRM nor billing (nor their secrets).
  const std::unique_ptr<store::Store> store = CommandStore(g, "sync failures", &exit_code);
  if (!store) return exit_code;
  const RecoveryAnswer a = SyncFailureList(*store, request);
  if (!a.status.ok()) {
    std::cerr << "tandem sync failures: " << a.status.message() << "\n";
    return ExitCodeOf(a.status);
  }
  if (vm.count("json")) {
    std::cout << a.body.Dump() << "\n";
    return kExitOk;
  }
  for (const auto& f : a.body["failures"].array())
    std::cout << f["object"].ToText() << " " << f["crm_id"].ToText() << "  " << f["state"].ToText()
              << ", " << f["attempts"].ToText() << " attempts since "
              << f["first_failed_at"].ToText()
              << (f["next_retry_at"].is_null() ? std::string()
                                               : ", next " + f["next_retry_at"].ToText())
              << "\n    " << f["last_error"].ToText() << "\n";
  if (!a.body["next"].is_null()) std::cout << "more: --after " << a.body["next"].ToText() << "\n";
  return kExitOk;
}

}  // namespace

int Actions(const Globals& g, const std::string& verb, const Args& args) {
  if (verb == "sync" && !args.empty() && args[0] == "failures")
    return SyncFailures(g, Args(args.begin() + 1, args.end()));
  po::options_description desc(verb + " options");
  desc.add_options()("object", po::value<std::string>(), "object map name (account, contact)")(
      "ids", po::value<std::vector<std::string>>()->multitoken(), "CRM record ids");
  po::positional_options_description pos;
  pos.add("object", 1).add("ids", -1);
  po::variables_map vm;
  desc.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "tandem " << verb << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("help") || !vm.count("object")) {
    (vm.count("help") ? std::cout : std::cerr)
        << "Usage: tandem --config FILE " << verb << " OBJECT ID...\n\n"
        << (verb == "sync" ? "Syncs CRM records to billing; prints one JSON outcome per record.\n"
                             "A record that fails is retried by `serve` on a schedule: see\n"
                             "`tandem sync failures --help`.\n"
            : verb == "open"
                ? "Prints the billing system's URL of each record.\n"
                : "Prints each record's billing state and its differences from the CRM.\n")
        << "Exit 0 when every record succeeded, 1 when some failed, 2 for bad usage.\n\n"
        << desc;
    return vm.count("help") ? kExitOk : kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, verb, &exit_code);
  if (!rt) return exit_code;
  const std::string object = vm["object"].as<std::string>();
  const auto ids =
      vm.count("ids") ? vm["ids"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (verb == "sync") return SyncIds(*rt, object, ids);
  if (verb == "open") return OpenIds(*rt, object, ids);
  return QueryIds(*rt, object, ids);
}

}  // namespace tandem::app::commands
