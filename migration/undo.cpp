#include "migration/undo.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "connector/crm/soql.h"
#include "util/csv.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::migration {
namespace {

using connector::billing::BillingAccount;

constexpr int kPage = 200;
constexpr const char* kAddOns =
    "Service_Add_On__c";  // pairs per page: one SOQL read, one Collections call per step
// A CRM record the job created counts as edited after it when its LastModifiedDate is later
// than the job's last write by more than this (the two clocks are not one).
constexpr int64_t kClockSlackMs = 60'000;

enum class Kind { kCreatedBilling, kCreatedCrm, kLinked };

// The CRM's 15-character case-sensitive form: 15- and 18-character ids of one record agree.
std::string Id15(const std::string& id) { return id.substr(0, 15); }

const char* KindText(Kind k) {
  switch (k) {
    case Kind::kCreatedBilling:
      return "created in billing";
    case Kind::kCreatedCrm:
      return "created in the CRM";
    case Kind::kLinked:
      return "linked";
  }
  return "?";
}

// One pair the job created or linked, and what the undo does about it.
struct Pair {
  store::AuditEntry audit;
  std::string crm_id, billing_id;
  Kind kind = Kind::kLinked;
  std::string result;         // "" until decided: the report's RESULT
  bool link_present = false;  // the job's link is still there: drop it
  bool clear_crm = false;     // the CRM's link fields still name this billing id
  bool delete_crm = false;    // the CRM record the job created is deleted
  bool billing_step = false;  // billing's customer is removed (created) or untagged
  // From a "creating" row (written before billing's creates): a customer a killed job may
  // have created without recording it; looked for in billing by its CRM id.
  bool intent = false;
  bool skip = false;  // an intent that turned out to be recorded, or to have created nothing
  // A "linked" row whose killed run had meant to create it: created by the job, unless the
  // customer is older than the job (the create failed and the resume matched another).
  bool resumed_create = false;
};

class Undo {
 public:
  Undo(MigrationDeps& deps, const UndoOptions& options, const store::Job& job,
       const mapping::ObjectMap& map, bool to_billing, std::ostream& report)
      : deps_(deps),
        options_(options),
        job_(job),
        map_(map),
        to_billing_(to_billing),
        customers_(map.billing == "account"),
        report_(report),
        logger_(log::Get("migration")) {}

  Status Run(const UndoProgress& progress) {
    report_ << CsvLine({"CRM_ID", "BILLING_ID", "WHAT", "RESULT"}, "\r\n");
    int64_t after = 0;
    for (;;) {
      auto page = deps_.store.AuditByActor("migration:" + job_.id, after, kPage);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      after = page->back().id;
      std::vector<Pair> pairs;
      for (const auto& a : *page) {
        if (a.action != "migrate" ||
            (a.outcome != "created" && a.outcome != "linked" && a.outcome != "creating"))
          continue;
        Pair p;
        p.audit = a;
        p.crm_id = a.record_id;
        p.billing_id = a.detail;
        p.intent = a.outcome == "creating";
        p.kind = a.outcome == "linked" ? Kind::kLinked
                 : to_billing_         ? Kind::kCreatedBilling
                                       : Kind::kCreatedCrm;
        pairs.push_back(std::move(p));
      }
      TANDEM_RETURN_IF_ERROR(UndoPage(pairs));
      for (const Pair& p : pairs)
        report_ << CsvLine({p.crm_id, p.billing_id, KindText(p.kind), p.result}, "\r\n");
      if (!report_) return Status::IoError("the undo report could not be written");
      if (progress) progress(summary_.pairs, -1);
    }
    return Status::Ok();
  }

  const UndoSummary& summary() const { return summary_; }

 private:
  Status UndoPage(std::vector<Pair>& pairs) {
    std::vector<std::string> crm_ids;
    for (const Pair& p : pairs) crm_ids.push_back(p.crm_id);
    auto links = deps_.store.FindLinksByCrmIds(map_.name, crm_ids);
    if (!links.ok()) return links.status();
    std::map<std::string, store::Link> link_of;
    for (const auto& l : *links) link_of[Id15(l.crm_id)] = l;
    std::map<std::string, Json> crm;  // by 15-character id
    TANDEM_RETURN_IF_ERROR(ReadCrm(crm_ids, &crm));
    TANDEM_RETURN_IF_ERROR(CreatedByAResumedRun(pairs));
    // A chunk done again (a resume) wrote its intents again: one per CRM id is enough.
    std::set<std::string> intents;
    for (Pair& p : pairs)
      if (p.intent && !intents.insert(Id15(p.crm_id)).second) p.skip = true;

    // 1. Decide, from the link, the CRM record and (where the link is gone) billing.
    std::mutex mu;
    std::vector<Pair*> need_billing;
    for (Pair& p : pairs) {
      auto l = link_of.find(Id15(p.crm_id));
      auto c = crm.find(Id15(p.crm_id));
      const Json* record = c == crm.end() ? nullptr : &c->second;
      if (p.skip) continue;
      if (p.intent) {
        // Recorded (its "created" row undoes it), else looked for in billing below.
        if (l != link_of.end()) {
          p.skip = true;
          continue;
        }
        need_billing.push_back(&p);
        continue;
      }
      if (l != link_of.end()) {
        if (l->second.billing_id != p.billing_id) {
          Leave(p, "linked to billing " + l->second.billing_id + " since the job");
          continue;
        }
        if (l->second.updated_ms > p.audit.at_ms) {
          Leave(p, "synced again after the job (" +
                       FormatRfc3339(FromEpochMillis(l->second.updated_ms)) + ")");
          continue;
        }
        p.link_present = true;
      }
      if (p.kind == Kind::kCreatedCrm && record) {
        auto modified = ParseRfc3339((*record)["LastModifiedDate"].as_string());
        if (modified.ok() &&
            ToEpochMillis(*modified) > std::max(job_.updated_ms, p.audit.at_ms) + kClockSlackMs) {
          Leave(p, "the CRM record was edited after the job (" +
                       (*record)["LastModifiedDate"].as_string() + ")");
          continue;
        }
      }
      p.clear_crm = record && !map_.link.billing_id.empty() &&
                    (*record)[map_.link.billing_id].as_string() == p.billing_id;
      p.delete_crm = p.kind == Kind::kCreatedCrm && record &&
                     (map_.link.billing_id.empty() || p.clear_crm || p.link_present);
      // A subscription load into the CRM created nothing in billing and tagged nothing there.
      if (customers_ || to_billing_) need_billing.push_back(&p);
    }
    // Billing: is the customer still the job's (tagged with this CRM id), and unused?
    ParallelForLimited(
        need_billing.size(), 16, [&] { return deps_.billing.PreferredInFlight(); },
        [&](size_t i) {
          Pair& p = *need_billing[i];
          std::string verdict;
          if (p.intent && !FindUnrecorded(p, &verdict)) {
            p.skip = true;
            return;
          }
          if (verdict.empty()) verdict = CheckBilling(p);
          std::lock_guard<std::mutex> lock(mu);
          if (!verdict.empty()) Leave(p, verdict);
        });
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return p.skip; }),
                pairs.end());
    summary_.pairs += static_cast<int64_t>(pairs.size());
    for (Pair& p : pairs) {
      if (!p.result.empty()) continue;
      if (!p.link_present && !p.clear_crm && !p.delete_crm && !p.billing_step) {
        p.result = "already undone";
        ++summary_.already;
      }
    }
    if (options_.dry_run) {
      for (Pair& p : pairs)
        if (p.result.empty()) p.result = "would be undone";
      return Status::Ok();
    }

    // 2. Billing's customer the job created goes first: refused (billing has its subscriptions
    // or invoices), nothing else is touched. Then the CRM's link fields, the billing tag of a
    // pair the job linked, the links (with their audit) and the CRM records the job created.
    // Each step can be taken again if the undo stops between them.
    BillingStep(pairs, Kind::kCreatedBilling);
    TANDEM_RETURN_IF_ERROR(ClearCrmLinkFields(pairs));
    BillingStep(pairs, Kind::kLinked);
    BillingStep(pairs, Kind::kCreatedCrm);
    TANDEM_RETURN_IF_ERROR(DropLinks(pairs));
    TANDEM_RETURN_IF_ERROR(DeleteCrmRecords(pairs));
    for (Pair& p : pairs) {
      if (!p.result.empty()) continue;
      p.result = p.kind == Kind::kCreatedBilling
                     ? (customers_ ? "undone: billing customer removed"
                                   : "undone: billing subscription canceled")
                 : p.kind == Kind::kCreatedCrm ? "undone: CRM record deleted"
                                               : "undone: unlinked";
      if (p.kind == Kind::kCreatedBilling) ++summary_.removed_billing;
      if (p.kind == Kind::kCreatedCrm) ++summary_.removed_crm;
      if (p.kind == Kind::kLinked) ++summary_.unlinked;
    }
    return Status::Ok();
  }

  // Removes (created) or untags (linked, created in the CRM) billing's customer of each pair of
  // `kind` that still has that step to take.
  void BillingStep(std::vector<Pair>& pairs, Kind kind) {
    std::mutex mu;
    ParallelForLimited(
        pairs.size(), 16, [&] { return deps_.billing.PreferredInFlight(); },
        [&](size_t i) {
          Pair& p = pairs[i];
          if (!p.result.empty() || !p.billing_step || p.kind != kind) return;
          Status st;
          if (kind == Kind::kCreatedBilling && !customers_) {
            // Canceled at once, without proration or credit: its invoices stay.
            st = deps_.billing
                     .Cancel(p.billing_id, /*at_period_end=*/false,
                             "tandem:migrate-undo:" + job_.id + ":" + p.crm_id)
                     .status();
          } else if (kind == Kind::kCreatedBilling) {
            st = deps_.billing.RemoveAccount(p.billing_id);
          } else {
            BillingAccount untag;
            untag.clear = {connector::billing::kExternalKeyPath};
            st = deps_.billing
                     .UpdateAccount(p.billing_id, untag,
                                    "tandem:migrate-undo:" + job_.id + ":" + p.crm_id + ":untag")
                     .status();
          }
          std::lock_guard<std::mutex> lock(mu);
          if (st.IsConflict())
            Leave(p, st.message());
          else if (!st.ok())
            Failed(p, "billing: " + st.ToString());
        });
  }

  // A resumed job matches, by their CRM id, the customers its killed run created: those rows
  // say "linked", but the job created them. Its intents tell.
  Status CreatedByAResumedRun(std::vector<Pair>& pairs) {
    for (Pair& p : pairs) {
      if (p.kind != Kind::kLinked || !to_billing_) continue;
      auto rows = deps_.store.AuditFor(map_.name, p.crm_id);
      if (!rows.ok()) return rows.status();
      for (const auto& a : *rows)
        if (a.actor == p.audit.actor && a.outcome == "creating" && a.id < p.audit.id) {
          p.kind = Kind::kCreatedBilling;
          p.resumed_create = true;
        }
    }
    return Status::Ok();
  }

  // An intent's customer: the one billing has under its CRM id (into p.billing_id) when no
  // link names it; false when there is none (the create never reached billing, or was undone).
  bool FindUnrecorded(Pair& p, std::string* verdict) {
    if (!customers_) return FindUnrecordedSubscription(p, verdict);
    auto found = deps_.billing.FindAccountByExternalKey(p.crm_id);
    if (!found.ok()) {
      p.billing_id = "?";
      *verdict = "billing not searched: " + found.status().ToString();
      return true;
    }
    if (!found->has_value() || (*found)->closed) return false;
    auto linked = deps_.store.FindLinkByBillingId(map_.name, (*found)->id);
    if (!linked.ok() || linked->has_value()) return false;  // another pair's, or unreadable
    p.billing_id = (*found)->id;
    return true;
  }

  // A subscription intent's detail is "<customer> <key>": billing finds what the key made.
  bool FindUnrecordedSubscription(Pair& p, std::string* verdict) {
    const std::string& detail = p.audit.detail;
    const size_t space = detail.find(' ');
    if (space == std::string::npos) return false;
    auto found = deps_.billing.FindSubscription(detail.substr(0, space), "tandem_task",
                                                detail.substr(space + 1));
    if (!found.ok()) {
      p.billing_id = "?";
      *verdict = "billing not searched: " + found.status().ToString();
      return true;
    }
    if (!found->has_value() || (*found)->status == "canceled") return false;
    auto linked = deps_.store.FindLinkByBillingId(map_.name, (*found)->id);
    if (!linked.ok()) {
      p.billing_id = (*found)->id;
      *verdict = "the store not read: " + linked.status().ToString();
      return true;
    }
    if (linked->has_value()) return false;  // recorded: its "created" row undoes it
    p.billing_id = (*found)->id;
    return true;
  }

  // A subscription the job created: canceled, unless it is already.
  std::string CheckSubscription(Pair& p) {
    auto sub = deps_.billing.GetSubscription(p.billing_id);
    if (!sub.ok()) {
      if (sub.status().IsNotFound()) return "";
      return "billing not read: " + sub.status().ToString();
    }
    p.billing_step = sub->status != "canceled" && sub->status != "incomplete_expired";
    return "";
  }

  // "" when billing's side can be undone (p.billing_step says whether anything is left to do
  // there); otherwise why the pair is left.
  std::string CheckBilling(Pair& p) {
    if (!customers_) return CheckSubscription(p);
    auto account = deps_.billing.GetAccount(p.billing_id);
    if (!account.ok()) {
      if (account.status().IsNotFound()) return "";  // gone already (an earlier undo)
      return "billing not read: " + account.status().ToString();
    }
    if (account->closed) return "";  // deactivated already (GTV keeps closed accounts)
    const bool ours =
        account->external_key == p.crm_id || Id15(account->external_key) == Id15(p.crm_id);
    if (!ours) {
      // Tagged with another record, or untagged by an earlier undo (GTV keeps its tag).
      if (!account->external_key.empty() && p.link_present)
        return "billing " + p.billing_id + " now carries CRM id " + account->external_key;
      p.billing_step = false;
      return "";
    }
    if (p.resumed_create && account->created > 0 &&
        account->created * 1000 < job_.created_ms - kClockSlackMs)
      p.kind = Kind::kLinked;
    // Untagging comes before the link is dropped: with the link gone, it was done (or billing
    // keeps its tag: GTV).
    p.billing_step = p.kind == Kind::kCreatedBilling || p.link_present;
    if (p.kind != Kind::kCreatedBilling) return "";
    bool invoiced = false;
    const Status listed = deps_.billing.ListInvoices(p.billing_id, [&](const auto&) {
      invoiced = true;
      return Status::Cancelled("one is enough");
    });
    if (!listed.ok() && listed.code() != Status::Code::kCancelled)
      return "billing's invoices not read: " + listed.ToString();
    return invoiced ? "billing has invoices for it" : "";
  }

  Status ReadCrm(const std::vector<std::string>& ids, std::map<std::string, Json>* out) {
    std::vector<std::string> fields = {"Id", "LastModifiedDate"};
    if (!map_.link.billing_id.empty()) fields.push_back(map_.link.billing_id);
    auto soql = connector::crm::SoqlBuilder(map_.crm, fields).WhereIn("Id", ids).Build();
    if (!soql.ok()) return soql.status();
    return deps_.crm.Query(*soql, [&](const Json& r) {
      (*out)[Id15(r["Id"].as_string())] = r;
      return Status::Ok();
    });
  }

  Status ClearCrmLinkFields(std::vector<Pair>& pairs) {
    std::vector<Json> updates;
    std::vector<Pair*> whose;
    for (Pair& p : pairs) {
      if (!p.result.empty() || !p.clear_crm || p.delete_crm) continue;
      Json u = Json::MakeObject();
      u.Set("Id", p.crm_id);
      for (const std::string* f : {&map_.link.billing_id, &map_.link.account_number,
                                   &map_.link.status, &map_.link.time, &map_.link.error})
        if (!f->empty()) u.Set(*f, Json());
      updates.push_back(std::move(u));
      whose.push_back(&p);
    }
    if (updates.empty()) return Status::Ok();
    auto saved = deps_.crm.UpdateMany(map_.crm, updates);
    for (size_t i = 0; i < whose.size(); ++i) {
      if (!saved.ok())
        Failed(*whose[i], "CRM link fields not cleared: " + saved.status().ToString());
      else if (!(*saved)[i].success)
        Failed(*whose[i], "CRM link fields not cleared: " + (*saved)[i].ErrorText());
    }
    return Status::Ok();
  }

  Status DropLinks(std::vector<Pair>& pairs) {
    std::vector<std::string> drop;
    std::vector<store::AuditEntry> audit;
    const int64_t now = ToEpochMillis(deps_.clock.Now());
    for (const Pair& p : pairs) {
      if (!p.result.empty() || !p.link_present) continue;
      drop.push_back(p.crm_id);
      audit.push_back(store::AuditEntry{now, "migration-undo:" + job_.id, map_.name, p.crm_id,
                                        "undo", "unlinked", p.billing_id});
    }
    if (drop.empty()) return Status::Ok();
    return deps_.store.DeleteLinks(map_.name, drop, audit);
  }

  Status DeleteCrmRecords(std::vector<Pair>& pairs) {
    std::vector<std::string> ids;
    std::vector<Pair*> whose;
    for (Pair& p : pairs) {
      if (!p.result.empty() || !p.delete_crm) continue;
      ids.push_back(p.crm_id);
      whose.push_back(&p);
    }
    if (ids.empty()) return Status::Ok();
    if (!customers_) {
      // A service record's add-ons go with it (a lookup, not master-detail: they would stay).
      std::vector<std::string> add_ons;
      auto soql =
          connector::crm::SoqlBuilder(kAddOns, {"Id"}).WhereIn("Subscription__c", ids).Build();
      if (!soql.ok()) return soql.status();
      TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
        add_ons.push_back(r["Id"].as_string());
        return Status::Ok();
      }));
      for (size_t start = 0; start < add_ons.size(); start += kPage) {
        const std::vector<std::string> page(
            add_ons.begin() + static_cast<long>(start),
            add_ons.begin() + static_cast<long>(std::min(add_ons.size(), start + kPage)));
        auto gone = deps_.crm.DeleteMany(page);
        if (!gone.ok()) {
          for (Pair* p : whose) Failed(*p, "add-ons not deleted: " + gone.status().ToString());
          return Status::Ok();
        }
      }
    }
    auto deleted = deps_.crm.DeleteMany(ids);
    for (size_t i = 0; i < whose.size(); ++i) {
      if (!deleted.ok())
        Failed(*whose[i], "CRM record not deleted: " + deleted.status().ToString());
      else if (!(*deleted)[i].success &&
               (*deleted)[i].ErrorText().find("ENTITY_IS_DELETED") == std::string::npos)
        Failed(*whose[i], "CRM record not deleted: " + (*deleted)[i].ErrorText());
    }
    return Status::Ok();
  }

  void Leave(Pair& p, const std::string& why) {
    p.result = "left: " + why;
    ++summary_.left;
  }
  void Failed(Pair& p, const std::string& why) {
    if (!p.result.empty()) return;
    p.result = "failed (run the undo again): " + why;
    ++summary_.failed;
  }

  MigrationDeps& deps_;
  const UndoOptions& options_;
  const store::Job& job_;
  const mapping::ObjectMap& map_;
  const bool to_billing_;
  // A customer map; else a subscription map (crm-to-billing: billing's subscriptions the job
  // created are canceled; billing-to-crm: nothing billing-side).
  const bool customers_;
  std::ostream& report_;
  std::shared_ptr<spdlog::logger> logger_;
  UndoSummary summary_;
};

}  // namespace

Result<UndoSummary> UndoMigration(MigrationDeps deps, const UndoOptions& options,
                                  const UndoProgress& progress) {
  auto job = MigrationStatus(deps.store, options.job_id);
  if (!job.ok()) return job.status();
  const Json params = Json::Parse(job->params).value_or(Json());
  if (params["dry_run"].as_bool())
    return Status::InvalidArgument("job " + job->id + " was a dry run: it created nothing");
  const mapping::ObjectMap* map = deps.mapping.Find(params["object"].as_string());
  if (!map)
    return Status::InvalidArgument("job " + job->id + " loaded '" + params["object"].as_string() +
                                   "', which " + deps.mapping.source + " no longer maps");
  const std::string path = !options.report.empty()
                               ? options.report
                               : (std::filesystem::path(params["output"].as_string()) /
                                  (options.dry_run ? "undo-dry-run.csv" : "undo.csv"))
                                     .string();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream report(path, std::ios::binary | std::ios::trunc);
  if (!report) return Status::IoError("cannot write " + path);
  Undo undo(deps, options, *job, *map, params["direction"].as_string() == "crm-to-billing", report);
  TANDEM_RETURN_IF_ERROR(undo.Run(progress));
  report.flush();
  if (!report) return Status::IoError("cannot write " + path);
  UndoSummary summary = undo.summary();
  summary.report = path;
  if (!options.dry_run && summary.left == 0 && summary.failed == 0) {
    store::Job done = *job;
    done.state = "undone";
    done.updated_ms = ToEpochMillis(deps.clock.Now());
    TANDEM_RETURN_IF_ERROR(deps.store.PutJob(done));
  }
  log::Get("migration")
      ->info(
          "job {} {}: {} pairs, {} billing customers removed, {} CRM records deleted, {} "
          "unlinked, {} already undone, {} left, {} failed",
          job->id, options.dry_run ? "undo (dry run)" : "undone", summary.pairs,
          summary.removed_billing, summary.removed_crm, summary.unlinked, summary.already,
          summary.left, summary.failed);
  return summary;
}

}  // namespace tandem::migration
