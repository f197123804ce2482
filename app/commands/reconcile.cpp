// `tandem reconcile`: the CRM and billing compared record by record (and, for revenue, in
// money); --fix repairs.
#include <iostream>

#include "app/cli.h"
#include "app/commands/command.h"

namespace tandem::app::commands {
namespace po = boost::program_options;

int Reconcile(const Globals& g, const Args& args) {
  po::options_description desc("reconcile options");
  desc.add_options()("object", po::value<std::vector<std::string>>()->composing(),
                     "what to compare (repeatable): a customer or subscription object map "
                     "(account, contact, subscription), invoice (with payments), or revenue "
                     "(money per account and currency); default: all but revenue")(
      "fix",
      "repair what each object map's `repair:` list allows, through the same actions as a "
      "sync (revenue: through work orders); invoices and payments are always repaired")(
      "report", po::value<std::string>()->default_value("reconcile.csv"),
      "CSV report, a row per difference (and per repair); \"\" for none")(
      "examples", po::value<int>()->default_value(5), "examples per kind in the summary");
  po::variables_map vm;
  int code = 0;
  if (!ParseSub("reconcile", args, desc, &vm, &code,
                "Compares the CRM and billing record by record over every link, and finds the\n"
                "records on either side that no link knows: missing_in_billing, missing_in_crm,\n"
                "unlinked, field_drift (per the mapping), orphaned_link; and invoices and\n"
                "payments billing has that the CRM lacks.\n"
                "--object revenue compares money instead: per account and currency, what the\n"
                "service inventory says is sold (price x quantity per period, recurring add-ons)\n"
                "with what billing's subscriptions charge, both as monthly amounts (year /12,\n"
                "week x52/12, day x365/12; each line rounded once to the minor unit). Kinds:\n"
                "under_billed, over_billed, missing_add_on, each with the monthly amount at\n"
                "stake; an account_total row per account and currency that differs; the summary\n"
                "totals per currency. One-time fees are counted, not compared. With --fix, a\n"
                "work order brings billing to what was sold where the subscription map's\n"
                "`repair:` list names the kind (shipped: under_billed, missing_add_on).\n"
                "Streams: constant memory, API calls in batches. Exit 0 when nothing differs\n"
                "(or all was fixed), 1 when differences remain or the run could not finish, 2\n"
                "for bad usage or config."))
    return code;
  int exit_code = kExitOk;
  const std::unique_ptr<Runtime> rt = CommandRuntime(g, "reconcile", &exit_code);
  if (!rt) return exit_code;
  Runtime& r = *rt;
  auto report = reconcile::Report::Open(vm["report"].as<std::string>(), vm["examples"].as<int>());
  if (!report.ok()) {
    std::cerr << "tandem reconcile: " << report.status().message() << "\n";
    return kExitUsage;
  }
  reconcile::ReconcileOptions options;
  if (vm.count("object")) options.objects = vm["object"].as<std::vector<std::string>>();
  options.fix = vm.count("fix") > 0;
  const auto reconciler = NewReconciler(r, **report);
  const Status st = reconciler->Run(options);
  const Status closed = (*report)->Close();
  std::cout << (*report)->Summary(options.fix);
  if (!vm["report"].as<std::string>().empty())
    std::cout << "report: " << vm["report"].as<std::string>() << "\n";
  if (!st.ok() || !closed.ok()) {
    std::cerr << "tandem reconcile: " << (st.ok() ? closed : st).ToString() << "\n";
    return st.IsInvalidArgument() ? kExitUsage : kExitFailures;
  }
  return (*report)->remaining() == 0 ? kExitOk : kExitFailures;
}

}  // namespace tandem::app::commands
