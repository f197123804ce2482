// `tandem serve`: the HTTP API, the scheduler, the callback worker and the work-order
// workers until SIGTERM or SIGINT.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "actions/billing_poll.h"
#include "actions/change_poller.h"
#include "actions/sync_retrier.h"
#include "app/action_jobs.h"
#include "app/action_routes.h"
#include "app/cli.h"
#include "app/commands/command.h"
#include "app/console_routes.h"
#include "app/event_routes.h"
#include "app/history_routes.h"
#include "app/limit_share.h"
#include "app/payload_retention.h"
#include "app/scheduled_reconcile.h"
#include "app/server.h"
#include "app/sync_failure_routes.h"
#include "app/tokens.h"
#include "app/upkeep.h"
#include "app/workorder_routes.h"
#include "app/workorder_service.h"
#include "util/log.h"
#include "util/thread.h"
#include "workorders/poller.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

// --listen HOST:PORT over the config's server address; false (after saying why) when malformed.
bool ApplyListen(const po::variables_map& vm, Config* config) {
  if (!vm.count("listen")) return true;
  const std::string listen = vm["listen"].as<std::string>();
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "tandem serve: --listen expects HOST:PORT\n";
    return false;
  }
  config->server.host = listen.substr(0, colon);
  config->server.port = std::atoi(listen.c_str() + colon + 1);
  return true;
}

// What `serve` runs on: the whole runtime when both remotes are configured, else the store
// alone (the API then serves /healthz and /metrics only).
struct Backing {
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<store::Store> plain_store;
  store::Store* store = nullptr;
};

// On failure prints why and returns the exit code; 0 when `out` is ready.
int OpenBacking(const Globals& g, const Config& config, Backing* out) {
  if (!config.crm.remote.base_url.empty() && !config.billing.remote.base_url.empty()) {
    auto rt = BuildRuntime(config, g.redactor);
    if (!rt.ok()) {
      std::cerr << "tandem serve: " << rt.status().ToString() << "\n";
      return rt.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
    }
    out->runtime = std::move(rt).value();
    out->store = out->runtime->store.get();
    return kExitOk;
  }
  log::Get("app")->warn("crm/billing not configured: serving /healthz and /metrics only");
  auto opened = OpenStore(config, /*migrate=*/true, nullptr);
  if (!opened.ok()) {
    std::cerr << "tandem serve: " << opened.status().ToString() << "\n";
    return opened.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  out->plain_store = std::move(opened).value();
  out->store = out->plain_store.get();
  return kExitOk;
}

inline constexpr int64_t kBillingPollLock = 7143220004;  // the billing poll's advisory lock

// The callback worker: applies stored webhook events to the CRM until `stopping`. For a
// billing system that is polled instead (Gotransverse), it first asks for changes every
// `poll_every`, or at once after a notification hinted at one; with several processes only
// the holder of the lock polls (the others would only find the same changes again). Hourly it
// empties the payloads of handled events older than `retention`.
std::thread StartCallbackWorker(Runtime& runtime, const std::atomic<bool>& stopping,
                                Millis poll_every, Millis retention) {
  auto hinted = std::make_shared<std::atomic<bool>>(false);
  runtime.callbacks->OnPollHint([hinted] { *hinted = true; });
  return StartThread("callbacks", [&runtime, &stopping, poll_every, retention, hinted] {
    actions::BillingPoller poller(runtime.billing->billing(), *runtime.store, runtime.clock);
    PayloadRetention payloads(*runtime.store, runtime.clock, retention);
    SteadyTime last_poll{};
    bool polled = false;
    while (!stopping) {
      if (auto purged = payloads.MaybePurge(); !purged.ok())
        log::Get("app")->warn("event payload retention: {}", purged.status().ToString());
      const SteadyTime now = runtime.clock.SteadyNow();
      if (poller.active() && (!polled || *hinted || now - last_poll >= poll_every)) {
        auto leader = runtime.store->TryAcquireLeadership(kBillingPollLock);
        if (leader.ok() && *leader) {
          *hinted = false;
          auto round = poller.PollOnce();
          if (!round.ok())
            log::Get("app")->warn("billing poll: {}", round.status().ToString());
          else if (round->events)
            log::Get("app")->info("billing poll: {} changes", round->events);
        }
        polled = true;
        last_poll = now;
      }
      auto applied = runtime.callbacks->ApplyPending();
      if (!applied.ok()) log::Get("app")->warn("callback worker: {}", applied.status().ToString());
      if (!applied.ok() || applied->applied + applied->failed + applied->ignored_own +
                                   applied->ignored_other + applied->skipped_stale ==
                               0)
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });
}

// The change poll as an upkeep job: looked at every schedules.change_poll, run less often when
// each poll's CRM calls would spend more than workers.poll_api_share of the daily allowance.
std::function<Status()> ChangePollJob(Runtime& rt, actions::ChangePoller& poller,
                                      const Config& config) {
  const Millis floor(config.schedules.change_poll_ms);
  const double share = config.workers.poll_api_share;
  auto next = std::make_shared<SteadyTime>();  // only the upkeep thread touches it
  return [&rt, &poller, floor, share, next]() -> Status {
    const SteadyTime started = rt.clock.SteadyNow();
    if (started < *next) return Status::Ok();
    auto polled = poller.PollOnce();
    if (!polled.ok()) return polled.status();
    if (polled->synced)
      log::Get("app")->info("change poll: {} changed, {} synced, {} failed, {} not eligible",
                            polled->changed, polled->synced, polled->failed, polled->ineligible);
    auto limits = rt.crm->client().Limits();
    if (limits.ok())
      *next = started + workorders::PollInterval(limits->daily_max, share,
                                                 std::max(1, polled->api_calls), floor);
    return Status::Ok();
  };
}

}  // namespace

int Serve(const Globals& g, const Args& args) {
  po::options_description desc("serve options");
  desc.add_options()("listen", po::value<std::string>(), "HOST:PORT (overrides server.listen)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("serve", args, desc, &vm, &code,
                "Runs the HTTP API (/healthz, /metrics, /api/v1/...), the scheduler and the\n"
                "workers until SIGTERM or SIGINT, then stops gracefully."))
    return code;
  Config config;
  if (!LoadOrDefault(g, &config)) return kExitUsage;
  if (!ApplyListen(vm, &config)) return kExitUsage;
  const sigset_t stop_signals = BlockStopSignals();
  // Tests kill the process at a named point (workorders.before_task#N, ...).
  CrashPoints crash(CrashSpecFromEnv());

  Backing backing;
  if (int failed = OpenBacking(g, config, &backing); failed != kExitOk) return failed;
  Runtime* runtime = backing.runtime.get();
  store::Store* store = backing.store;
  if (runtime) {
    if (Status st = CheckReconcileSchedule(config.reconcile, runtime->mapping); !st.ok()) {
      std::cerr << "tandem serve: " << st.message() << "\n";
      return kExitUsage;
    }
    DescribeReconcileMetrics(runtime->metrics, *runtime->store);
  }
  // Before any remote call: the processes sharing the store split the remotes' limits.
  std::unique_ptr<LimitShare> share;
  if (runtime) {
    share = std::make_unique<LimitShare>(*runtime->store, runtime->clock, ProcessId(),
                                         [runtime](int n) { ShareLimits(*runtime, n); });
    share->Describe(runtime->metrics);
    share->Start();
  }
  SystemClock clock;
  connector::http::CallCounter counter;
  ServerOptions server_options{config.server.host, config.server.port, config.server.api_token,
                               IssuedTokenScopes(*store)};
  ApiServer server(server_options, *store, runtime ? runtime->counter : counter, clock);
  // Long syncs run here while their callers poll (app/action_jobs.h).
  std::unique_ptr<ActionJobs> jobs;
  if (runtime) {
    jobs = std::make_unique<ActionJobs>(*runtime->actions, *runtime->store, runtime->clock, 2,
                                        CountSyncOutcomes(runtime->metrics));
    RegisterActionRoutes(server, *runtime,
                         AsyncSyncs{jobs.get(), static_cast<size_t>(config.server.async_after)});
    RegisterJobRoutes(server, *runtime);
    RegisterWorkOrderRoutes(server, *runtime);
    RegisterEventRoutes(server, *runtime);
    RegisterHistoryRoutes(server, *runtime);
    RegisterSyncFailureRoutes(server, *runtime);
    RegisterConsole(server, *runtime);
  }
  Status st = server.Start();
  if (!st.ok()) {
    std::cerr << "tandem serve: " << st.ToString() << "\n";
    return kExitFailures;
  }
  std::atomic<bool> stopping{false};
  std::thread worker;
  if (runtime)
    worker = StartCallbackWorker(*runtime, stopping, Millis(config.schedules.billing_poll_ms),
                                 Millis(config.retention.event_payloads_ms));
  std::unique_ptr<WorkOrderService> work_orders;
  // The leader's upkeep: failed syncs retried, old sync jobs purged, scheduled reconcile, the
  // change poll.
  std::unique_ptr<actions::Actions> retry_actions;
  std::unique_ptr<actions::SyncRetrier> retrier;
  std::unique_ptr<actions::Actions> change_actions;
  std::unique_ptr<actions::ChangePoller> change_poller;
  std::unique_ptr<Upkeep> upkeep;
  if (runtime) {
    retry_actions = NewActions(*runtime, "tandem:retry");
    retrier = std::make_unique<actions::SyncRetrier>(*retry_actions, *runtime->store,
                                                     runtime->clock, runtime->action_options.retry);
    actions::SyncRetrier* r = retrier.get();
    std::vector<UpkeepJob> upkeep_jobs{{"sync retry", Millis(config.schedules.sync_retry_ms),
                                        [r] { return r->RunDue().status(); }}};
    upkeep_jobs.push_back(
        {"sync job retention", std::chrono::hours(1),
         [runtime, keep = Millis(config.retention.sync_jobs_ms)] {
           return PurgeOldSyncJobs(*runtime->store, runtime->clock, keep).status();
         }});
    if (config.reconcile.every_ms > 0)
      upkeep_jobs.push_back(
          // Looked at every minute; ReconcileDue (the last run's time, in the store) decides, so
          // a restart neither runs it again at once nor waits a whole interval more.
          {"scheduled reconcile", Millis(std::min<int64_t>(config.reconcile.every_ms, 60'000)),
           [runtime, schedule = config.reconcile] {
             if (!ReconcileDue(*runtime->store, runtime->clock, Millis(schedule.every_ms)))
               return Status::Ok();
             return RunScheduledReconcile(*runtime, schedule);
           }});
    if (std::any_of(runtime->mapping.objects.begin(), runtime->mapping.objects.end(),
                    [](const mapping::ObjectMap& m) { return m.sync_on_change; })) {
      change_actions = NewActions(*runtime, "tandem:on_change");
      change_poller = std::make_unique<actions::ChangePoller>(
          *change_actions, runtime->crm->client(), *runtime->store, runtime->mapping,
          runtime->clock);
      upkeep_jobs.push_back({"change poll", Millis(config.schedules.change_poll_ms),
                             ChangePollJob(*runtime, *change_poller, config)});
    }
    upkeep = std::make_unique<Upkeep>(*runtime->store, runtime->clock, std::move(upkeep_jobs));
    upkeep->Start();
    runtime->scheduler->Start();
    work_orders = std::make_unique<WorkOrderService>(
        *runtime, config.workers, Millis(config.schedules.order_poll_ms),
        Millis(config.schedules.renewal_scan_ms), &crash);
    work_orders->Start();
  }
  std::cout << "tandem serving on " << server.base_url() << std::endl;
  WaitForStopSignal(stop_signals);
  if (runtime) runtime->scheduler->Stop();
  server.Stop();
  if (jobs) jobs->Stop();  // the running chunks finish; queued jobs are recorded interrupted
  if (work_orders) work_orders->Stop();  // running tasks finish; claimed ones are given back
  if (upkeep) upkeep->Stop();
  stopping = true;
  if (worker.joinable()) worker.join();
  if (share) share->Stop();  // nothing here calls a remote now: the others take its share
  return kExitOk;
}

}  // namespace tandem::app::commands
