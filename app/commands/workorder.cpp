// `tandem workorder plan | run ORDER_ID`: one order's work-order automation, in the foreground;
// `tandem workorder list | show | retry | restart | dismiss | complete`: recovery by an
// operator, through the same JSON calls as the HTTP API (app/workorder_routes.h).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/cli.h"
#include "app/commands/command.h"
#include "app/workorder_routes.h"

namespace tandem::app::commands {

namespace {

int PlanOne(Runtime& r, const std::string& order_id) {
  auto order = workorders::ReadOrder(r.crm->client(), order_id, r.mapping.Find("order"));
  if (!order.ok()) {
    std::cerr << "tandem workorder plan: " << order.status().ToString() << "\n";
    return order.status().IsInvalidArgument() || order.status().IsNotFound() ? kExitUsage
                                                                             : kExitFailures;
  }
  auto plan = workorders::PlanOrder(*order, r.templates);
  if (!plan.ok()) {
    std::cerr << "tandem workorder plan: " << plan.status().message() << "\n";
    return kExitFailures;
  }
  std::cout << "order " << order->number << " (" << order->id << "), " << plan->size()
            << " tasks:\n"
            << workorders::DescribePlan(*plan);
  return kExitOk;
}

int RunOne(Runtime& r, const Config& config, const std::string& order_id) {
  workorders::EngineOptions eo;
  eo.worker_id = "cli:" + std::to_string(::getpid());
  eo.lease = Millis(config.workers.lease_ms);
  const auto engine = NewEngine(r, eo);
  auto enq = engine->Enqueue(order_id);
  if (!enq.ok()) {
    std::cerr << "tandem workorder run: " << enq.status().ToString() << "\n";
    return enq.status().IsInvalidArgument() || enq.status().IsNotFound() ? kExitUsage
                                                                         : kExitFailures;
  }
  workorders::OrderState state;
  for (;;) {
    auto ran = engine->RunOnce();
    if (!ran.ok()) {
      std::cerr << "tandem workorder run: " << ran.status().ToString() << "\n";
      return kExitFailures;
    }
    state = engine->State(order_id).value_or(workorders::OrderState{});
    if (state.status == "Completed" || state.status == "Failed" || state.status == "Dismissed")
      break;
    // Waiting on a retry (or on another process holding a task): look again shortly.
    if (ran->ran == 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto tasks = r.store->TasksInGroup(order_id);
  if (tasks.ok())
    for (const auto& t : *tasks)
      std::cout << "  " << t.kind << ": " << t.state << " (" << t.attempts << " attempt"
                << (t.attempts == 1 ? "" : "s") << ") "
                << (t.state == "done" ? t.result : t.last_error) << "\n";
  std::cout << "order " << order_id << ": " << state.status << ", " << state.done << " of "
            << state.total << " tasks done" << (state.error.empty() ? "" : "; " + state.error)
            << "\n";
  return state.status == "Completed" ? kExitOk : kExitFailures;
}

namespace po = boost::program_options;

bool IsRecoveryVerb(const std::string& v) {
  return v == "list" || v == "show" || v == "retry" || v == "restart" || v == "dismiss" ||
         v == "complete";
}

// "1h", "30m", "2d", "45s" or seconds: the age filter of `list`.
bool ParseAge(const std::string& text, int64_t* seconds) {
  if (text.empty()) return false;
  char* end = nullptr;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (n < 0 || end == text.c_str()) return false;
  const std::string unit(end);
  const int64_t mult = unit.empty() || unit == "s" ? 1
                       : unit == "m"               ? 60
                       : unit == "h"               ? 3600
                       : unit == "d"               ? 86400
                                                   : 0;
  *seconds = n * mult;
  return mult > 0;
}

void PrintList(const Json& body) {
  const auto& orders = body["orders"].array();
  for (const auto& o : orders)
    std::cout << o["order_id"].ToText() << "  " << o["done"].ToText() << "/" << o["tasks"].ToText()
              << " done, " << o["failed"].ToText() << " failed, " << o["pending"].ToText()
              << " pending, " << o["running"].ToText() << " running"
              << (o["dismissed"].as_int() ? ", " + o["dismissed"].ToText() + " dismissed" : "")
              << "  changed " << o["updated_at"].ToText()
              << (o.Has("error") ? "\n    " + o["error"].ToText() : "") << "\n";
  std::cout << orders.size() << " order" << (orders.size() == 1 ? "" : "s");
  if (body.Has("next")) std::cout << "; more with --after " << body["next"].ToText();
  std::cout << "\n";
}

void PrintShow(const Json& body) {
  std::cout << "order " << body["order_id"].ToText() << ": " << body["status"].ToText() << ", "
            << body["done"].ToText() << " of " << body["total"].ToText() << " tasks done\n";
  for (const auto& t : body["tasks"].array()) {
    std::cout << "  task " << t["id"].ToText() << "  " << t["kind"].ToText() << ": "
              << t["state"].ToText() << " (" << t["attempts"].ToText() << " of "
              << t["max_attempts"].ToText() << " attempts)\n    key " << t["key"].ToText() << "\n";
    if (t.Has("next_run_at")) std::cout << "    next run " << t["next_run_at"].ToText() << "\n";
    if (t.Has("last_error")) std::cout << "    error: " << t["last_error"].ToText() << "\n";
    if (t.Has("result") && t["state"].ToText() == "done")
      std::cout << "    result: " << t["result"].Dump() << "\n";
  }
}

int Recover(const Globals& g, const std::string& verb, const Args& rest) {
  po::options_description desc("workorder " + verb + " options");
  po::positional_options_description pos;
  if (verb == "list") {
    desc.add_options()("state", po::value<std::string>()->default_value(""),
                       "failed | open | done (default: any)")(
        "account", po::value<std::string>()->default_value(""),
        "orders planned for this CRM Account id")(
        "older-than", po::value<std::string>()->default_value(""),
        "last changed longer ago than this (45s, 30m, 2h, 7d)")(
        "after", po::value<std::string>()->default_value(""), "the page after this order id")(
        "limit", po::value<int>()->default_value(50), "orders per page (1 to 500)");
  } else {
    desc.add_options()("order", po::value<std::string>(), "the Order's CRM id (or positional)");
    pos.add("order", 1);
  }
  if (verb == "retry" || verb == "complete")
    desc.add_options()("task", po::value<int64_t>()->default_value(0),
                       verb == "retry" ? "this failed task alone (default: every failed task)"
                                       : "the task a person did in billing (from `show`)");
  if (verb != "list" && verb != "show") {
    const char* user = std::getenv("USER");
    desc.add_options()(
        "by",
        po::value<std::string>()->default_value(std::string("cli:") + (user ? user : "unknown")),
        "who does this (audited)")("reason", po::value<std::string>()->default_value(""),
                                   verb == "dismiss" ? "why (required)" : "why (audited)");
  }
  if (verb == "complete")
    desc.add_options()("result", po::value<std::string>()->default_value(""),
                       "the task's result as a JSON object, what later tasks read (e.g. "
                       "'{\"subscription_id\":\"sub_123\"}' for a subscription made by hand)");
  desc.add_options()("json", "print the answer as JSON (as the HTTP API gives it)");
  po::variables_map vm;
  int code = 0;
  const std::string summary =
      verb == "list" ? "Lists work orders by order id, with their tasks' states and first error."
      : verb == "show"
          ? "Shows an order's tasks: state, attempts, key (also billing's idempotency key),\n"
            "error and result."
      : verb == "retry"
          ? "Runs the order's failed tasks again (the same plan and keys, attempts from 0)."
      : verb == "restart"
          ? "Re-plans the order's unfinished tasks from the Order as the CRM holds it now (fix\n"
            "the Order first): a done task is never redone, an unchanged task keeps its key,\n"
            "a changed one gets a new key (a key never carries two different requests)."
      : verb == "dismiss"
          ? "Gives up the order's unfinished tasks, with a reason; the Order shows Dismissed."
          : "Marks a task done that a person did in billing; the tasks after it then run.";
  if (!ParseSub("workorder " + verb, rest, desc, &vm, &code,
                (summary + "\nExit 0 done, 1 a store or remote failure, 2 bad usage or a refusal "
                           "(unknown order, task running, nothing to do).")
                    .c_str(),
                pos))
    return code;
  Json request = Json::MakeObject();
  if (verb == "list") {
    request.Set("state", vm["state"].as<std::string>());
    request.Set("account_id", vm["account"].as<std::string>());
    request.Set("after", vm["after"].as<std::string>());
    request.Set("limit", vm["limit"].as<int>());
    int64_t age = 0;
    if (!vm["older-than"].as<std::string>().empty()) {
      if (!ParseAge(vm["older-than"].as<std::string>(), &age)) {
        std::cerr << "tandem workorder list: --older-than '" << vm["older-than"].as<std::string>()
                  << "' is not an age (45s, 30m, 2h, 7d)\n";
        return kExitUsage;
      }
      request.Set("older_than_s", age);
    }
  } else {
    if (!vm.count("order")) {
      std::cerr << "tandem workorder " << verb << ": ORDER_ID is required\n";
      return kExitUsage;
    }
    request.Set("order_id", vm["order"].as<std::string>());
  }
  if (vm.count("task")) request.Set("task_id", vm["task"].as<int64_t>());
  if (vm.count("by")) request.Set("by", vm["by"].as<std::string>());
  if (vm.count("reason")) request.Set("reason", vm["reason"].as<std::string>());
  if (vm.count("result") && !vm["result"].as<std::string>().empty())
    request.Set("result", vm["result"].as<std::string>());
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "workorder", &exit_code);
  if (!rt) return exit_code;
  RecoveryParts parts = NewRecovery(*rt);
  const RecoveryAnswer a = RecoveryCall(*parts.recovery, rt->clock, verb, request);
  if (!a.status.ok()) {
    std::cerr << "tandem workorder " << verb << ": " << a.status.message() << "\n";
    return ExitCodeOf(a.status);
  }
  if (vm.count("json")) {
    std::cout << a.body.Dump() << "\n";
  } else if (verb == "list") {
    PrintList(a.body);
  } else if (verb == "show") {
    PrintShow(a.body);
  } else {
    std::cout << "order " << a.body["order_id"].ToText() << ": " << verb;
    if (verb == "restart")
      std::cout << ": " << a.body["kept"].ToText() << " kept, " << a.body["replanned"].ToText()
                << " re-planned, " << a.body["superseded"].ToText() << " superseded, "
                << a.body["finished"].ToText() << " finished";
    else
      std::cout << ": " << a.body["changed"].ToText() << " task(s)";
    std::cout << "; now " << a.body["status"].ToText() << "\n";
  }
  return kExitOk;
}

}  // namespace

int WorkOrder(const Globals& g, const Args& args) {
  if (!args.empty() && IsRecoveryVerb(args[0]))
    return Recover(g, args[0], Args(args.begin() + 1, args.end()));
  const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
  if (args.size() < 2 || (args[0] != "plan" && args[0] != "run") || args[1] == "--help") {
    (help || (args.size() == 2 && args[1] == "--help") ? std::cout : std::cerr)
        << "Usage: tandem --config FILE workorder <verb> [ORDER_ID] [options]\n\n"
           "  plan ORDER_ID      print the tasks the order's templates give, without running\n"
           "  run ORDER_ID       plan, enqueue and run the order's tasks now (as `serve` would),\n"
           "                     then print each task's result; exit 0 when the order\n"
           "                     completed, 1 when it failed (the reason is also on the Order)\n"
           "  list               work orders by state, account, age (--state failed ...)\n"
           "  show ORDER_ID      an order's tasks: state, attempts, keys, errors, results\n"
           "  retry ORDER_ID     run its failed tasks again (same plan, same keys)\n"
           "  restart ORDER_ID   re-plan its unfinished tasks from the Order as it is now\n"
           "  dismiss ORDER_ID   give up its unfinished tasks (--reason required)\n"
           "  complete ORDER_ID  mark a task done that a person did in billing (--task N)\n"
           "Each verb has --help. Changes are audited with --by (default cli:$USER) and\n"
           "written to the Order in the CRM at once.\n";
    return help || (args.size() == 2 && args[1] == "--help") ? kExitOk : kExitUsage;
  }
  if (args.size() > 2) {
    std::cerr << "tandem workorder " << args[0] << ": unexpected argument '" << args[2]
              << "' (one ORDER_ID)\n";
    return kExitUsage;
  }
  Config config;
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "workorder", &exit_code, &config);
  if (!rt) return exit_code;
  return args[0] == "plan" ? PlanOne(*rt, args[1]) : RunOne(*rt, config, args[1]);
}

}  // namespace tandem::app::commands
