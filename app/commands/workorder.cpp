// `tandem workorder plan | run ORDER_ID`: one order's work-order automation, in the foreground.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "app/cli.h"
#include "app/commands/command.h"

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
    if (state.status == "Completed" || state.status == "Failed") break;
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

}  // namespace

int WorkOrder(const Globals& g, const Args& args) {
  const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
  if (args.size() < 2 || (args[0] != "plan" && args[0] != "run") || args[1] == "--help") {
    (help || (args.size() == 2 && args[1] == "--help") ? std::cout : std::cerr)
        << "Usage: tandem --config FILE workorder <plan|run> ORDER_ID\n\n"
           "  plan   print the tasks the order's templates give, without running them\n"
           "  run    plan, enqueue and run the order's tasks now (as `serve` would), then\n"
           "         print each task's result; exit 0 when the order completed, 1 when it\n"
           "         failed (the reason is also on the Order in the CRM)\n";
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
