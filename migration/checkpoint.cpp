// The job, started or resumed, and its checkpoint: after every chunk the result files are
// flushed and the job records how far it got, so a killed run resumes without doubling.
#include <cctype>
#include <filesystem>
#include <fstream>

#include "migration/run.h"
#include "util/csv.h"

namespace tandem::migration::internal {

namespace fs = std::filesystem;

std::string Checkpoint::Dump() const {
  Json j = Json::MakeObject();
  j.Set("next_row", next_row);
  j.Set("success_bytes", sizes.success);
  j.Set("error_bytes", sizes.error);
  j.Set("indexed", indexed);
  Json jobs = Json::MakeArray();
  for (const auto& id : bulk_jobs) jobs.Push(id);
  j.Set("bulk_jobs", jobs);
  j.Set("bulk_time", bulk_time);
  Json c = Json::MakeObject();
  c.Set("succeeded", counts.succeeded);
  c.Set("failed", counts.failed);
  c.Set("created_billing", counts.created_billing);
  c.Set("created_crm", counts.created_crm);
  c.Set("matched", counts.matched);
  c.Set("already_linked", counts.already_linked);
  c.Set("invalid", counts.invalid);
  c.Set("duplicates", counts.duplicates);
  c.Set("ambiguous", counts.ambiguous);
  c.Set("unmatched", counts.unmatched);
  c.Set("write_failed", counts.write_failed);
  c.Set("bulk_jobs", counts.bulk_jobs);
  j.Set("counts", c);
  return j.Dump();
}

Checkpoint Checkpoint::Load(const std::string& text) {
  Checkpoint cp;
  auto j = Json::Parse(text);
  if (!j.ok()) return cp;
  cp.next_row = (*j)["next_row"].as_int(1);
  cp.sizes = {(*j)["success_bytes"].as_int(), (*j)["error_bytes"].as_int()};
  cp.indexed = (*j)["indexed"].as_bool();
  for (const auto& id : (*j)["bulk_jobs"].array()) cp.bulk_jobs.push_back(id.as_string());
  cp.bulk_time = (*j)["bulk_time"].as_string();
  const Json& c = (*j)["counts"];
  cp.counts.succeeded = c["succeeded"].as_int();
  cp.counts.failed = c["failed"].as_int();
  cp.counts.created_billing = c["created_billing"].as_int();
  cp.counts.created_crm = c["created_crm"].as_int();
  cp.counts.matched = c["matched"].as_int();
  cp.counts.already_linked = c["already_linked"].as_int();
  cp.counts.invalid = c["invalid"].as_int();
  cp.counts.duplicates = c["duplicates"].as_int();
  cp.counts.ambiguous = c["ambiguous"].as_int();
  cp.counts.unmatched = c["unmatched"].as_int();
  cp.counts.write_failed = c["write_failed"].as_int();
  cp.counts.bulk_jobs = c["bulk_jobs"].as_int();
  return cp;
}

// The job: new, or the one to resume (its own parameters win over today's flags).
Status Run::Prepare() {
  if (!options_.resume_job.empty()) return ResumeJob();
  StartJob();
  if (options_.all) TANDEM_RETURN_IF_ERROR(ListAllSubscriptions());
  job_.params = JobParams();
  return Status::Ok();
}

// --all: billing's live subscriptions of linked customers, streamed into the job's file 200 at a
// time (memory does not grow with billing); from here on the job reads it as any file.
Status Run::ListAllSubscriptions() {
  const mapping::ObjectMap* customers = nullptr;
  for (const auto& o : deps_.mapping.objects)
    if (o.billing == "account" && !o.link.billing_id.empty()) customers = &o;
  if (!customers) return Status::InvalidArgument("no customer map with link_fields.billing_id");
  std::error_code ec;
  fs::create_directories(output_dir_, ec);
  options_.file = (fs::path(output_dir_) / "billing-subscriptions.csv").string();
  std::ofstream out(options_.file, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError("cannot write " + options_.file);
  out << CsvLine({map_.link.billing_id, "CUSTOMER"}, "\r\n");
  std::vector<connector::billing::Subscription> page;
  int64_t listed = 0, kept = 0;
  auto flush = [&]() -> Status {
    std::vector<std::string> accounts;
    for (const auto& s : page) accounts.push_back(s.account_id);
    auto links = deps_.store.FindLinksByBillingIds(customers->name, accounts);
    if (!links.ok()) return links.status();
    std::set<std::string> linked;
    for (const auto& l : *links) linked.insert(l.billing_id);
    for (const auto& s : page)
      if (linked.count(s.account_id)) {
        out << CsvLine({s.id, s.account_id}, "\r\n");
        ++kept;
      }
    page.clear();
    return out ? Status::Ok() : Status::IoError("cannot write " + options_.file);
  };
  TANDEM_RETURN_IF_ERROR(deps_.billing.ListSubscriptions([&](const auto& s) {
    ++listed;
    if (s.status == "canceled" || s.status == "incomplete_expired") return Status::Ok();
    page.push_back(s);
    return page.size() < kIdsPerQuery ? Status::Ok() : flush();
  }));
  TANDEM_RETURN_IF_ERROR(flush());
  out.close();
  logger_->info("job {}: {} of billing's {} subscriptions are live and their customer linked ({})",
                job_.id, kept, listed, options_.file);
  return out ? Status::Ok() : Status::IoError("cannot write " + options_.file);
}

Status Run::ResumeJob() {
  auto job = deps_.store.GetJob(options_.resume_job);
  if (!job.ok()) return job.status();
  if (!job->has_value() || (*job)->kind != kJobKind)
    return Status::InvalidArgument("no migration job '" + options_.resume_job + "'");
  job_ = **job;
  if (job_.state == "done")
    return Status::InvalidArgument("migration job " + job_.id + " is already done");
  if (job_.state == "undone")
    return Status::InvalidArgument("migration job " + job_.id +
                                   " was undone; start a new job to load the file again");
  auto params = Json::Parse(job_.params);
  if (!params.ok()) return Status::Corruption("job " + job_.id + ": bad parameters");
  if ((*params)["file"].as_string() != options_.file ||
      (*params)["object"].as_string() != options_.object ||
      (*params)["direction"].as_string() != DirectionName(options_.direction))
    return Status::InvalidArgument(
        "job " + job_.id + " migrated " + (*params)["object"].as_string() + " from " +
        (*params)["file"].as_string() + " (" + (*params)["direction"].as_string() +
        "); resume it with the same --object, --file and --direction");
  std::error_code ec;
  if (static_cast<int64_t>(fs::file_size(options_.file, ec)) != (*params)["file_bytes"].as_int())
    return Status::InvalidArgument(options_.file + " changed since job " + job_.id +
                                   " started; a resumed job must read the same file");
  output_dir_ = (*params)["output"].as_string();
  // The job's column map, whatever today's flags say: its rows were read with it.
  options_.column_map = (*params)["column_map"].as_string();
  // A dry run resumes as a dry run: its checkpoint counts rows it never wrote.
  if ((*params)["dry_run"].as_bool() != options_.dry_run)
    return Status::InvalidArgument(
        "job " + job_.id + " was " + ((*params)["dry_run"].as_bool() ? "" : "not ") +
        "a dry run; resume it " + ((*params)["dry_run"].as_bool() ? "with" : "without") +
        " --dry-run");
  options_.distinct = (*params)["distinct"].as_bool();  // its rows were matched so
  params->Set("process", options_.process);
  job_.params = params->Dump();
  cp_ = Checkpoint::Load(job_.checkpoint);
  // Jobs are taken up again only with the time their rows carried (older checkpoints lack
  // it: those chunks make new jobs), each by the step that made it.
  for (const auto& entry : cp_.bulk_time.empty() ? std::vector<std::string>{} : cp_.bulk_jobs) {
    const auto colon = entry.find(':');
    if (colon != std::string::npos)
      resume_jobs_[entry.substr(0, colon)].push_back(entry.substr(colon + 1));
  }
  job_.state = "running";
  return Status::Ok();
}

void Run::StartJob() {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string suffix;
  for (int i = 0; i < 6; ++i) suffix.push_back(kAlphabet[deps_.random.Uniform(36)]);
  const std::string stamp = FormatRfc3339(deps_.clock.Now());  // 2026-11-24T22:11:32Z
  std::string compact;
  for (char c : stamp.substr(0, 19))
    if (std::isdigit(static_cast<unsigned char>(c))) compact.push_back(c);
  job_.id = "mig-" + compact.substr(0, 8) + "-" + compact.substr(8) + "-" + suffix;
  job_.kind = kJobKind;
  job_.created_ms = NowMs();
  output_dir_ = options_.output_dir.empty() ? (fs::path("migrations") / job_.id).string()
                                            : options_.output_dir;
}

std::string Run::JobParams() const {
  std::error_code ec;
  Json params = Json::MakeObject();
  params.Set("object", options_.object);
  params.Set("file", options_.file);
  params.Set("file_bytes", static_cast<int64_t>(fs::file_size(options_.file, ec)));
  params.Set("direction", DirectionName(options_.direction));
  params.Set("column_map", options_.column_map);
  params.Set("output", output_dir_);
  params.Set("dry_run", options_.dry_run);
  params.Set("distinct", options_.distinct);
  params.Set("batch_size", static_cast<int64_t>(options_.batch_size));
  params.Set("process", options_.process);
  return params.Dump();
}

Status Run::Checkpointed(int64_t rows_done, ResultFiles& files) {
  auto sizes = files.Flush();
  if (!sizes.ok()) return sizes.status();
  if (deps_.crash) deps_.crash->Hit("migration.before_checkpoint");
  cp_.next_row = rows_done + 1;
  cp_.sizes = *sizes;
  cp_.bulk_jobs.clear();
  cp_.bulk_time.clear();
  resume_jobs_.clear();  // past the chunk that was in flight
  cp_.counts.succeeded = files.succeeded();
  cp_.counts.failed = files.failed();
  job_.processed = rows_done;
  job_.failed = cp_.counts.failed;
  job_.checkpoint = cp_.Dump();
  job_.updated_ms = NowMs();
  return deps_.store.PutJob(job_);
}

}  // namespace tandem::migration::internal
