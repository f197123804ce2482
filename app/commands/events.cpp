// `tandem events list | replay EVENT_ID | dismiss EVENT_ID`: billing events that failed to
// apply, through the same JSON calls as the HTTP API (app/event_routes.h).
#include <cstdlib>
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"
#include "app/event_routes.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int Events(const Globals& g, const Args& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb != "list" && verb != "replay" && verb != "dismiss") {
    const bool help = verb == "--help" || verb == "-h";
    (help ? std::cout : std::cerr)
        << "Usage: tandem --config FILE events <verb> [EVENT_ID] [options]\n\n"
           "  list               billing events that failed to apply, oldest first\n"
           "  replay EVENT_ID    apply a failed event again, now\n"
           "  dismiss EVENT_ID   give a failed event up (--reason required)\n"
           "Each verb has --help. Changes are audited with --by (default cli:$USER).\n";
    return help ? kExitOk : kExitUsage;
  }
  po::options_description desc("events " + verb + " options");
  po::positional_options_description pos;
  if (verb == "list") {
    desc.add_options()("after", po::value<std::string>()->default_value(""),
                       "the page after this event id")("limit", po::value<int>()->default_value(50),
                                                       "events per page (1 to 500)");
  } else {
    const char* user = std::getenv("USER");
    desc.add_options()("event", po::value<std::string>(), "the event's id (or positional)")(
        "by",
        po::value<std::string>()->default_value(std::string("cli:") + (user ? user : "unknown")),
        "who does this (audited)")("reason", po::value<std::string>()->default_value(""),
                                   verb == "dismiss" ? "why (required)" : "why (audited)");
    pos.add("event", 1);
  }
  desc.add_options()("json", "print the answer as JSON (as the HTTP API gives it)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("events " + verb, Args(args.begin() + 1, args.end()), desc, &vm, &code,
                verb == "list" ? "Lists the billing events that failed to apply (not their "
                                 "payloads), oldest first."
                : verb == "replay"
                    ? "Applies a failed billing event again, now. Exit 0 when it was taken up, 2 "
                      "for an unknown or unfailed event."
                    : "Gives a failed billing event up, with a reason. Exit 0 done, 2 refused.",
                pos))
    return code;
  Json request = Json::MakeObject();
  if (verb == "list") {
    request.Set("after", vm["after"].as<std::string>());
    request.Set("limit", vm["limit"].as<int>());
  } else {
    if (!vm.count("event")) {
      std::cerr << "tandem events " << verb << ": EVENT_ID is required\n";
      return kExitUsage;
    }
    request.Set("event_id", vm["event"].as<std::string>());
    request.Set("by", vm["by"].as<std::string>());
    request.Set("reason", vm["reason"].as<std::string>());
  }
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "events", &exit_code);
  if (!rt) return exit_code;
  const RecoveryAnswer a = EventCall(*rt, verb, request, /*apply_now=*/true);
  if (!a.status.ok()) {
    std::cerr << "tandem events " << verb << ": " << a.status.message() << "\n";
    return ExitCodeOf(a.status);
  }
  if (vm.count("json")) {
    std::cout << a.body.Dump() << "\n";
  } else if (verb == "list") {
    const auto& events = a.body["events"].array();
    for (const auto& e : events)
      std::cout << e["event_id"].ToText() << "  " << e["type"].ToText() << "  received "
                << e["received_at"].ToText() << ", " << e["attempts"].ToText() << " attempts\n    "
                << e["last_error"].ToText() << "\n";
    std::cout << events.size() << " failed event" << (events.size() == 1 ? "" : "s");
    if (a.body.Has("next")) std::cout << "; more with --after " << a.body["next"].ToText();
    std::cout << "\n";
  } else {
    std::cout << "event " << a.body["event_id"].ToText() << ": " << verb << "; now "
              << a.body["state"].ToText() << "\n";
  }
  return kExitOk;
}

}  // namespace tandem::app::commands
