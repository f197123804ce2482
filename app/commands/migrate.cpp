// `tandem migrate` (step 7, the initial load from CSV), `tandem migrate status JOB`,
// `tandem migrate list`, `tandem migrate extract` (the linked pairs for sign-off) and
// `tandem migrate undo JOB`.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "app/cli.h"
#include "app/commands/command.h"
#include "migration/progress.h"
#include "migration/undo.h"
#include "reconcile/extract.h"
#include "util/json.h"
#include "util/thread.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

namespace {

// The whole command that resumes the job: its own parameters, the config it ran with.
std::string ResumeCommand(const Globals& g, const store::Job& job) {
  const Json params = Json::Parse(job.params).value_or(Json());
  auto quoted = [](const std::string& v) {
    return v.find_first_of(" '\"$\\") == std::string::npos ? v : "'" + v + "'";
  };
  std::string cmd = "tandem";
  if (!g.config_path.empty()) cmd += " --config " + quoted(g.config_path);
  cmd += " migrate --object " + params["object"].as_string() + " --file " +
         quoted(params["file"].as_string()) + " --direction " + params["direction"].as_string();
  if (!params["column_map"].as_string().empty())
    cmd += " --mapping " + quoted(params["column_map"].as_string());
  cmd += " --output " + quoted(params["output"].as_string());
  if (params["dry_run"].as_bool()) cmd += " --dry-run";
  if (params["batch_size"].as_int() > 0)
    cmd += " --batch-size " + std::to_string(params["batch_size"].as_int());
  return cmd + " --resume " + job.id;
}

// A job the store says is running whose process is gone (killed, crashed) is interrupted:
// checked when that process ran on this host; on another the store's word stands.
std::string ShownState(const store::Job& job) {
  if (job.state != "running") return job.state;
  const std::string process =
      Json::Parse(job.params).value_or(Json())["process"].as_string();  // host:pid
  const auto colon = process.rfind(':');
  if (colon == std::string::npos) return job.state;
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const long pid = std::strtol(process.c_str() + colon + 1, nullptr, 10);
  if (process.substr(0, colon) != host || pid <= 0) return "running (on " + process + ")";
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
    return "running (pid " + std::to_string(pid) + ")";
  return "interrupted (its process " + process + " is gone: killed or crashed)";
}

int MigrateStatus(const Globals& g, const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout)
        << "Usage: tandem --config FILE migrate status JOB\n\n"
           "Prints a migration job's state, counts, checkpoint and result files, and the\n"
           "command that resumes it.\n";
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args.size() > 1) {
    std::cerr << "tandem migrate status: unexpected argument '" << args[1] << "' (one JOB)\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<store::Store> store = CommandStore(g, "migrate status", &exit_code);
  if (!store) return exit_code;
  auto job = migration::MigrationStatus(*store, args[0]);
  if (!job.ok()) {
    std::cerr << "tandem migrate status: " << job.status().message() << "\n";
    return job.status().IsNotFound() ? kExitUsage : kExitFailures;
  }
  const Json params = Json::Parse(job->params).value_or(Json());
  const Json cp = Json::Parse(job->checkpoint).value_or(Json());
  std::cout << "job " << job->id << ": " << ShownState(*job) << "\n"
            << "  " << params["object"].as_string() << " from " << params["file"].as_string()
            << " (" << params["direction"].as_string()
            << (params["dry_run"].as_bool() ? ", dry run" : "") << ")\n"
            << "  rows " << job->processed << " of " << job->total << " done, " << job->failed
            << " failed\n"
            << "  files " << params["output"].as_string() << "/success.csv, error.csv\n"
            << "  counts " << cp["counts"].Dump() << "\n";
  if (job->state != "done") std::cout << "  resume: " << ResumeCommand(g, *job) << "\n";
  return kExitOk;
}

int MigrateList(const Globals& g, const Args& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "Usage: tandem --config FILE migrate list\n\n"
                 "The last 50 migration jobs, newest first: id, state, object, rows done, when\n"
                 "it last moved.\n";
    return kExitOk;
  }
  if (!args.empty()) {
    std::cerr << "tandem migrate list: unexpected argument '" << args[0] << "'\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<store::Store> store = CommandStore(g, "migrate list", &exit_code);
  if (!store) return exit_code;
  auto jobs = migration::RecentMigrations(*store, 50);
  if (!jobs.ok()) {
    std::cerr << "tandem migrate list: " << jobs.status().message() << "\n";
    return kExitFailures;
  }
  for (const auto& j : *jobs) {
    const Json params = Json::Parse(j.params).value_or(Json());
    std::cout << j.id << "  " << ShownState(j) << "  " << params["object"].as_string() << " "
              << params["direction"].as_string() << "  " << j.processed << "/" << j.total
              << " rows, " << j.failed << " failed  "
              << FormatRfc3339(FromEpochMillis(j.updated_ms)) << "\n";
  }
  if (jobs->empty()) std::cout << "no migration jobs\n";
  return kExitOk;
}

int MigrateExtract(const Globals& g, const Args& args) {
  po::options_description desc("migrate extract options");
  desc.add_options()("object", po::value<std::string>()->default_value("account"),
                     "a customer object map: account | contact")(
      "output", po::value<std::string>(), "the CSV to write (default OBJECT-pairs.csv; - stdout)");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("migrate extract", args, desc, &vm, &code,
                "Writes every linked pair of the object as CSV, for the customer's sign-off:\n"
                "CRM_ID, BILLING_ID, ACCOUNT_NUMBER, IN_STEP (compared as reconcile compares),\n"
                "DIFFERS (the fields that do not agree), then each field Tandem sends to billing\n"
                "as the CRM record maps it (crm:PATH) and as billing holds it (billing:PATH).\n"
                "Streams: billing listed 100 per call, the CRM read 200 per call.\n"
                "Exit 0 when written (differences are in the file and the summary), 1 when a\n"
                "remote or the store failed, 2 for bad usage."))
    return code;
  const std::string object = vm["object"].as<std::string>();
  const std::string path =
      vm.count("output") ? vm["output"].as<std::string>() : object + "-pairs.csv";
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "migrate extract", &exit_code);
  if (!rt) return exit_code;
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "tandem migrate extract: cannot write " << path << "\n";
      return kExitFailures;
    }
  }
  std::ostream& out = path == "-" ? std::cout : file;
  std::ostream& talk = path == "-" ? std::cerr : std::cout;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto summary = reconcile::ExtractLinkedPairs(ActionDepsOf(*rt), object, out, [&](int64_t n) {
    if (tty) std::cerr << "\r" << n << " pairs written" << std::flush;
  });
  if (tty) std::cerr << "\n";
  if (!summary.ok()) {
    std::cerr << "tandem migrate extract: " << summary.status().ToString() << "\n";
    return summary.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  talk << (path == "-" ? "" : path + ": ") << summary->pairs << " linked pairs, "
       << summary->pairs - summary->differing << " in step, " << summary->differing << " differing";
  if (summary->crm_missing) talk << " (" << summary->crm_missing << " whose CRM record is gone)";
  talk << "\n";
  if (summary->not_listed)
    talk << summary->not_listed
         << " links name a billing record billing no longer lists (not in the file; see "
            "`tandem reconcile --object "
         << object << "`)\n";
  return kExitOk;
}

int MigrateUndo(const Globals& g, const Args& args) {
  po::options_description desc("migrate undo options");
  desc.add_options()("job", po::value<std::string>(), "the migration job to undo")(
      "dry-run", "write the report of what would be undone; change nothing")(
      "report", po::value<std::string>(), "the CSV to write (default: the job's folder/undo.csv)");
  po::positional_options_description positional;
  positional.add("job", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("migrate undo", args, desc, &vm, &code,
                "Takes back what migration job JOB did, and nothing else: billing customers it\n"
                "created are removed (Stripe: deleted; GTV: deactivated), CRM records it created\n"
                "are deleted, the link fields it wrote are cleared and its links dropped. A pair\n"
                "changed since the job (synced again, linked elsewhere, invoiced, edited) is left\n"
                "and reported. Run it again after a stop: nothing is undone twice.\n"
                "Usage: tandem migrate undo JOB [--dry-run] [--report FILE]\n"
                "Exit 0 when everything is undone, 1 when pairs were left or failed (see the\n"
                "report), 2 for bad usage or a job that cannot be undone.",
                positional))
    return code;
  if (!vm.count("job")) {
    std::cerr << "tandem migrate undo: give the JOB (see tandem migrate list)\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "migrate undo", &exit_code);
  if (!rt) return exit_code;
  const std::string job_id = vm["job"].as<std::string>();
  auto job = migration::MigrationStatus(*rt->store, job_id);
  if (!job.ok()) {
    std::cerr << "tandem migrate undo: " << job.status().message() << "\n";
    return job.status().IsNotFound() ? kExitUsage : kExitFailures;
  }
  if (ShownState(*job).rfind("running", 0) == 0) {
    std::cerr << "tandem migrate undo: job " << job_id << " is " << ShownState(*job)
              << ": stop it first (Ctrl-C finishes its chunk)\n";
    return kExitUsage;
  }
  // A serve process would sync the records undo unlinks (their CRM fields change) and make
  // them again: it heartbeats into the store every 2 s.
  const std::string me = "migrate-undo:" + ProcessId();
  auto alive = rt->store->Heartbeat(me, ToEpochMillis(rt->clock.Now()), 6000);
  (void)rt->store->LeaveProcesses(me);
  if (!alive.ok()) {
    std::cerr << "tandem migrate undo: " << alive.status().ToString() << "\n";
    return kExitFailures;
  }
  if (*alive > 1) {
    std::cerr << "tandem migrate undo: " << *alive - 1
              << " tandem serve process(es) use this store: stop them first (a sync would "
                 "recreate what the undo removes)\n";
    return kExitUsage;
  }
  migration::UndoOptions options;
  options.job_id = job_id;
  options.dry_run = vm.count("dry-run") > 0;
  if (vm.count("report")) options.report = vm["report"].as<std::string>();
  SeededRandom random(static_cast<uint64_t>(::getpid()));
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto summary = migration::UndoMigration(
      migration::MigrationDeps{rt->crm->client(), rt->billing->billing(), *rt->store, rt->mapping,
                               rt->clock, random, nullptr},
      options, [&](int64_t done, int64_t) {
        if (tty) std::cerr << "\r" << done << " pairs" << std::flush;
      });
  if (tty) std::cerr << "\n";
  if (!summary.ok()) {
    std::cerr << "tandem migrate undo: " << summary.status().ToString() << "\n";
    return summary.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  const auto& s = *summary;
  std::cout << "job " << job_id << (options.dry_run ? " undo (dry run): " : " undo: ") << s.pairs
            << " pairs; " << s.removed_billing << " billing customers removed, " << s.removed_crm
            << " CRM records deleted, " << s.unlinked << " unlinked, " << s.already
            << " already undone, " << s.left << " left as they changed since the job, " << s.failed
            << " failed\n"
            << "  " << s.report << "\n";
  return s.left == 0 && s.failed == 0 ? kExitOk : kExitFailures;
}

po::options_description MigrateOptions() {
  po::options_description desc("migrate options");
  desc.add_options()(
      "object", po::value<std::string>(),
      "object map: account | contact | subscription (the service inventory: crm-to-billing "
      "creates billing's subscriptions, billing-to-crm records billing's in the CRM)")(
      "file", po::value<std::string>(), "the input CSV (RFC 4180; UTF-8, a BOM is fine)")(
      "mapping", po::value<std::string>(),
      "a Data Loader .sdl column map (CsvColumn=Field); default: columns named as CRM fields")(
      "direction", po::value<std::string>()->default_value("crm-to-billing"),
      "crm-to-billing | billing-to-crm | link-only")(
      "dry-run", "validate, match and write the result files; change nothing")(
      "all",
      "subscriptions, no --file: every live subscription of a linked customer, listed from "
      "billing (implies --direction billing-to-crm)")(
      "distinct",
      "every row is its own record: matched and checked for duplicates by ids only, never by "
      "e-mail, domain or name (per row: a DISTINCT column, true/yes/y/1/x)")(
      "resume", po::value<std::string>(), "continue job JOB after a crash or Ctrl-C")(
      "batch-size", po::value<int>()->default_value(5000),
      "rows per chunk and checkpoint (the first chunk may be smaller: docs/migration.md)")(
      "concurrency", po::value<int>()->default_value(0),
      "billing writes in flight at most (0: as billing's rate limit and latency call for, up to "
      "64)")("output", po::value<std::string>(),
             "folder for success.csv and error.csv "
             "(default migrations/JOB)");
  return desc;
}

migration::MigrationOptions MigrationOptionsFrom(const po::variables_map& vm,
                                                 migration::Direction direction) {
  migration::MigrationOptions options;
  options.object = vm["object"].as<std::string>();
  if (vm.count("file")) options.file = vm["file"].as<std::string>();
  options.all = vm.count("all") > 0;
  if (vm.count("mapping")) options.column_map = vm["mapping"].as<std::string>();
  options.direction = direction;
  options.dry_run = vm.count("dry-run") > 0;
  options.distinct = vm.count("distinct") > 0;
  if (vm.count("resume")) options.resume_job = vm["resume"].as<std::string>();
  if (vm.count("output")) options.output_dir = vm["output"].as<std::string>();
  options.batch_size = static_cast<size_t>(std::max(0, vm["batch-size"].as<int>()));
  options.concurrency = vm["concurrency"].as<int>();
  return options;
}

// Runs the job with its progress on stderr. Ctrl-C or SIGTERM: the chunk in hand is finished
// and checkpointed, then the job stops.
Result<migration::MigrationSummary> RunStoppable(Runtime& rt, migration::MigrationOptions options) {
  std::atomic<bool> stop{false}, finished{false};
  options.stop = &stop;
  const sigset_t signals = BlockStopSignals();
  std::thread watcher = StartThread("migrate-signals", [&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!finished.load()) {
      if (sigtimedwait(&signals, nullptr, &tick) > 0) {
        std::cerr << "\nstopping after the current chunk (the job can be resumed)\n";
        stop = true;
      }
    }
  });
  CrashPoints crash(CrashSpecFromEnv());
  SeededRandom random(static_cast<uint64_t>(ToEpochMillis(rt.clock.Now())) ^
                      static_cast<uint64_t>(::getpid()));
  const auto migrator = NewMigrator(rt, random, &crash);
  migration::ProgressReporter reporter(std::cerr, ::isatty(STDERR_FILENO) == 1, rt.clock);
  auto summary = migrator->Run(options, [&](const migration::MigrationProgress& p) {
    reporter.Update(p.rows_done, p.total, p.failed, p.done_before);
  });
  reporter.Finish();
  finished = true;
  watcher.join();
  return summary;
}

void PrintSummary(const Globals& g, store::Store& store, const migration::MigrationSummary& s,
                  const migration::MigrationOptions& options) {
  std::cout << "job " << s.job_id << " " << s.state << (options.dry_run ? " (dry run)" : "") << ": "
            << s.rows << " rows, " << s.succeeded << " succeeded, " << s.failed << " failed\n"
            << "  created in billing " << s.created_billing << ", created in the CRM "
            << s.created_crm << ", matched " << s.matched << ", already linked " << s.already_linked
            << "\n"
            << "  invalid " << s.invalid << ", duplicates in the file " << s.duplicates
            << ", ambiguous " << s.ambiguous << ", unmatched " << s.unmatched << ", write failures "
            << s.write_failed << "\n"
            << "  Bulk API 2.0 jobs " << s.bulk_jobs << "\n"
            << "  " << s.output_dir << "/success.csv\n"
            << "  " << s.output_dir << "/error.csv\n";
  if (!s.stopped_because.empty()) std::cout << "  stopped: " << s.stopped_because << "\n";
  if (s.state != "done") {
    auto job = migration::MigrationStatus(store, s.job_id);
    if (job.ok()) std::cout << "  resume with: " << ResumeCommand(g, *job) << "\n";
  }
}

}  // namespace

int Migrate(const Globals& g, const Args& args) {
  if (!args.empty() && args[0] == "status") return MigrateStatus(g, {args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "list") return MigrateList(g, {args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "undo") return MigrateUndo(g, {args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "extract")
    return MigrateExtract(g, {args.begin() + 1, args.end()});
  po::options_description desc = MigrateOptions();
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("migrate", args, desc, &vm, &code,
                "Step 7, the initial load: every row validated and mapped, matched against both\n"
                "systems (CRM id / billing id, then e-mail, domain, name) so that nothing is\n"
                "created twice, then written (billing creates keyed per job and row, CRM creates\n"
                "and link fields through Bulk API 2.0). A checkpoint after every chunk: --resume\n"
                "continues a killed or interrupted job. success.csv and error.csv hold every row,\n"
                "in input order.\n"
                "Also: tandem migrate status JOB; tandem migrate list; tandem migrate extract\n"
                "(the linked pairs as CSV, for sign-off); tandem migrate undo JOB.\n"
                "Exit 0 when every row succeeded, 1 when some failed (or the job stopped), 2 for\n"
                "bad usage."))
    return code;
  if (!vm.count("object") || (!vm.count("file") && !vm.count("all"))) {
    std::cerr << "tandem migrate: give --object and --file (or --all for subscriptions; see "
                 "--help)\n";
    return kExitUsage;
  }
  auto direction = migration::ParseDirection(vm.count("all") && vm["direction"].defaulted()
                                                 ? std::string("billing-to-crm")
                                                 : vm["direction"].as<std::string>());
  if (!direction.ok()) {
    std::cerr << "tandem migrate: " << direction.status().message() << "\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "migrate", &exit_code);
  if (!rt) return exit_code;
  migration::MigrationOptions options = MigrationOptionsFrom(vm, *direction);
  options.process = ProcessId();
  auto summary = RunStoppable(*rt, options);
  if (!summary.ok()) {
    std::cerr << "tandem migrate: " << summary.status().ToString() << "\n";
    return summary.status().IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  PrintSummary(g, *rt->store, *summary, options);
  return summary->failed == 0 && summary->state == "done" ? kExitOk : kExitFailures;
}

}  // namespace tandem::app::commands
