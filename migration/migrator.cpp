#include "migration/migrator.h"

#include <fstream>
#include <future>
#include <memory>

#include "migration/run.h"

namespace tandem::migration {
namespace internal {

size_t FedBackColumns(const std::vector<std::string>& header) {
  for (const std::vector<std::string>& tail :
       {ResultFiles::kErrorColumns, ResultFiles::kSuccessColumns}) {
    if (header.size() > tail.size() &&
        std::equal(tail.begin(), tail.end(), header.end() - static_cast<long>(tail.size())))
      return tail.size();
  }
  return 0;
}

// A chunk's checks that need nothing of the chunk before: duplicates within the file, and
// (crm-to-billing) its CRM records read.
Status Run::CheckChunk(std::vector<Row>& rows) {
  TANDEM_RETURN_IF_ERROR(FindSourceDuplicates(rows));
  if (map_.billing != "subscription" && options_.direction == Direction::kCrmToBilling)
    TANDEM_RETURN_IF_ERROR(CheckCrmIds(rows));
  return Status::Ok();
}

// A checked chunk matched and written (subscriptions take their own path). Match reads the
// links the chunk before recorded, so it runs after that chunk's writes.
Status Run::WriteChunk(std::vector<Row>& rows) {
  if (map_.billing == "subscription")
    return ToBilling() ? CreateSubscriptions(rows) : RecordSubscriptions(rows);
  TANDEM_RETURN_IF_ERROR(Match(rows));
  return Write(rows);
}

Run::ReadyChunk Run::ReadAndCheck(CsvReader& reader, int64_t resumed_after, size_t rows) {
  ReadyChunk c;
  c.rows = std::make_shared<std::vector<Row>>();
  c.more = ReadChunk(reader, resumed_after, rows, c.rows.get());
  if (!c.rows->empty()) c.checked = CheckChunk(*c.rows);
  return c;
}

Result<MigrationSummary> Run::Execute(const ProgressFn& progress) {
  TANDEM_RETURN_IF_ERROR(Prepare());
  std::ifstream in(options_.file, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read " + options_.file);
  CsvReader reader(in);
  std::vector<std::string> header;
  Status st = reader.ReadHeader(&header);
  if (!st.ok()) return st.WithContext(options_.file);
  // A result file of an earlier run fed back (its failed rows corrected): its own trailing
  // columns are read past, so the new result files do not carry them twice.
  file_columns_ = header.size();
  header.resize(header.size() - FedBackColumns(header));
  TANDEM_RETURN_IF_ERROR(ResolveColumns(header));
  const bool resuming = !options_.resume_job.empty();
  if (!resuming) {
    TANDEM_RETURN_IF_ERROR(CountRows());
    job_.updated_ms = NowMs();
    job_.checkpoint = cp_.Dump();
    TANDEM_RETURN_IF_ERROR(deps_.store.PutJob(job_));
  }
  logger_->info("job {}: {} {} rows of {} ({}){}", job_.id, resuming ? "resuming" : "migrating",
                job_.total, options_.file, DirectionName(options_.direction),
                resuming ? " from row " + std::to_string(cp_.next_row) : "");
  ResultFiles files;
  TANDEM_RETURN_IF_ERROR(
      ResultFiles::Open(output_dir_, header, resuming ? &cp_.sizes : nullptr, &files));
  files.SetCounts(cp_.counts.succeeded, cp_.counts.failed);
  int64_t rows_done = cp_.next_row - 1;
  const int64_t cp_before = rows_done, resumed_after = rows_done;
  // The first chunk is checked while the indexes are built: its checks need none of them.
  std::future<ReadyChunk> first = std::async(std::launch::async, [&] {
    return ReadAndCheck(reader, resumed_after, FirstChunkRows(resumed_after));
  });
  const Status indexed = BuildIndexes();
  ReadyChunk ready = first.get();
  TANDEM_RETURN_IF_ERROR(indexed);
  progress_ = progress;
  at_checkpoint_ = {rows_done, job_.total, files.succeeded(), files.failed(), cp_before};
  // The chunk before's end (its CRM link-back, results and checkpoint), running while this
  // chunk is read, matched and written to billing (OverlapChunks): the CRM's round trips of
  // one chunk no longer stand between two chunks' billing writes.
  std::future<Status> finishing;
  auto finished = [&]() -> Status { return finishing.valid() ? finishing.get() : Status::Ok(); };
  bool interrupted = false;
  auto read_next = [this, &reader, resumed_after] {
    return ReadAndCheck(reader, resumed_after, options_.batch_size);
  };
  while (!ready.rows->empty()) {
    if (Stopping() && rows_done != resumed_after) {
      interrupted = true;
      break;
    }
    const std::shared_ptr<std::vector<Row>> chunk = ready.rows;
    const bool more = ready.more;
    const bool sequential = !finishing.valid();
    const MigrationSummary counts_before = sequential ? cp_.counts : MigrationSummary{};
    chunk_base_ = chunk->front().row - 1;
    // The next chunk is read and checked while this one is written (its CRM reads took 2.5 s
    // of 5,000 rows' 55 with billing idle); a stop or an outage drops it unwritten.
    std::future<ReadyChunk> next;
    Status chunk_st = ready.checked;
    if (chunk_st.ok()) {
      if (OverlapChunks() && more && !Stopping()) next = std::async(std::launch::async, read_next);
      chunk_st = WriteChunk(*chunk);
    }
    TANDEM_RETURN_IF_ERROR(finished());
    if (!chunk_st.ok()) {
      if (!billing_breaker_.open()) return chunk_st;
      // An outage: the chunk is done again on resume, so what it counted goes too (a chunk
      // written beside the one before counts only in FinishChunk).
      if (sequential) cp_.counts = counts_before;
      job_.checkpoint = cp_.Dump();  // a Bulk job's mid-chunk checkpoint may hold the counts
      stopped_because_ = chunk_st.message();
      logger_->error("job {}: {}", job_.id, stopped_because_);
      interrupted = true;
      break;
    }
    rows_done = chunk->back().row;
    if (OverlapChunks() && more) {
      finishing = std::async(std::launch::async, [this, chunk, &files, cp_before] {
        return FinishChunk(*chunk, files, cp_before);
      });
    } else {
      TANDEM_RETURN_IF_ERROR(FinishChunk(*chunk, files, cp_before));
    }
    if (next.valid())
      ready = next.get();
    else if (!more)
      break;
    else if (!Stopping())  // else the loop's top stops
      ready = read_next();
  }
  TANDEM_RETURN_IF_ERROR(finished());
  job_.state = interrupted ? "interrupted" : "done";
  job_.updated_ms = NowMs();
  TANDEM_RETURN_IF_ERROR(deps_.store.PutJob(job_));
  if (!interrupted) TANDEM_RETURN_IF_ERROR(deps_.store.DropMatchKeys(job_.id));
  return Summary(rows_done, files);
}

// Billing's writes wait for the first chunk's CRM reads: that chunk is one round of them
// (kFirstChunkRows), not a whole chunk's 25 reads (2.2 s at Salesforce's 300 ms); the chunks
// after it are checked while the one before is written. Only the chunk from the file's first
// row is short, so a resume reads the same chunks as the run it resumes: the Bulk jobs a
// checkpoint names are taken up for the same rows.
size_t Run::FirstChunkRows(int64_t rows_done) const {
  if (rows_done > 0 || !OverlapChunks() || !ToBilling()) return options_.batch_size;
  return std::min(options_.batch_size, kFirstChunkRows);
}

Status Run::FinishChunk(std::vector<Row>& chunk, ResultFiles& files, int64_t cp_before) {
  if (map_.billing != "subscription") TANDEM_RETURN_IF_ERROR(LinkBack(chunk));
  CountChunk(chunk);
  std::vector<RowResult> results;
  results.reserve(chunk.size());
  for (Row& r : chunk) {
    // Every failed row names its line, however late it failed (a duplicate, a write).
    if (r.plan == Plan::kFailed && r.error.rfind("line ", 0) != 0)
      r.error = "line " + std::to_string(r.line) + ": " + r.error;
    results.push_back(RowResult{r.row, std::move(r.fields), r.plan != Plan::kFailed, r.crm_id,
                                r.billing_id, r.status, r.error});
  }
  TANDEM_RETURN_IF_ERROR(files.WriteChunk(std::move(results)));
  const int64_t rows_done = chunk.back().row;
  TANDEM_RETURN_IF_ERROR(Checkpointed(rows_done, files));
  if (deps_.crash) deps_.crash->Hit("migration.after_checkpoint");
  std::lock_guard<std::mutex> lock(progress_mu_);
  at_checkpoint_ = {rows_done, job_.total, files.succeeded(), files.failed(), cp_before};
  // The next chunk may have told of rows past this one already: the bar never moves back, and
  // the counts are told all the same.
  if (progress_) {
    MigrationProgress p = at_checkpoint_;
    p.rows_done = std::max(rows_done, reported_within_chunk_);
    reported_within_chunk_ = p.rows_done;
    progress_(p);
  }
  return Status::Ok();
}

// Each failed row counted as what it failed as (Fail), or as invalid when it failed as it was
// read.
void Run::CountChunk(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    if (r.plan != Plan::kFailed) continue;
    if (r.failed_as)
      ++(cp_.counts.*r.failed_as);
    else if (!r.error.empty())
      ++cp_.counts.invalid;
  }
}

MigrationSummary Run::Summary(int64_t rows_done, const ResultFiles& files) const {
  MigrationSummary s = cp_.counts;
  s.job_id = job_.id;
  s.output_dir = output_dir_;
  s.state = job_.state;
  s.rows = rows_done;
  s.succeeded = files.succeeded();
  s.failed = files.failed();
  s.stopped_because = stopped_because_;
  logger_->info(
      "job {} {}: {} rows, {} succeeded, {} failed ({} created in billing, {} created in the "
      "CRM, {} matched, {} already linked, {} invalid, {} duplicates, {} ambiguous, {} "
      "unmatched, {} write failures)",
      s.job_id, s.state, s.rows, s.succeeded, s.failed, s.created_billing, s.created_crm, s.matched,
      s.already_linked, s.invalid, s.duplicates, s.ambiguous, s.unmatched, s.write_failed);
  return s;
}

}  // namespace internal

const char* DirectionName(Direction d) {
  switch (d) {
    case Direction::kCrmToBilling:
      return "crm-to-billing";
    case Direction::kBillingToCrm:
      return "billing-to-crm";
    case Direction::kLinkOnly:
      return "link-only";
  }
  return "?";
}

Result<Direction> ParseDirection(const std::string& text) {
  for (Direction d : {Direction::kCrmToBilling, Direction::kBillingToCrm, Direction::kLinkOnly})
    if (text == DirectionName(d)) return d;
  return Status::InvalidArgument(
      "--direction must be crm-to-billing, billing-to-crm or "
      "link-only, not '" +
      text + "'");
}

Migrator::Migrator(MigrationDeps deps) : deps_(deps) {}

Result<MigrationSummary> Migrator::Run(const MigrationOptions& options,
                                       const ProgressFn& progress) {
  const mapping::ObjectMap* map = deps_.mapping.Find(options.object);
  if (!map)
    return Status::InvalidArgument("no object map '" + options.object + "' in " +
                                   deps_.mapping.source);
  if (map->billing == "subscription" && options.direction == Direction::kLinkOnly)
    return Status::InvalidArgument(
        "subscriptions load crm-to-billing (the service inventory into billing) or "
        "billing-to-crm (billing's subscriptions into the inventory), not link-only");
  if (map->billing != "account" && map->billing != "subscription")
    return Status::InvalidArgument(
        "object map '" + map->name + "' maps to billing " + map->billing +
        "; migration loads customers (account, contact) and subscriptions");
  if (options.all && (map->billing != "subscription" || !options.file.empty()))
    return Status::InvalidArgument(
        "--all lists billing's subscriptions: give it with a subscription object and no --file");
  if (options.batch_size == 0 || options.batch_size > 100000)
    return Status::InvalidArgument("--batch-size must be 1..100000");
  if (options.concurrency < 0 || options.concurrency > 64)
    return Status::InvalidArgument("--concurrency must be 0..64 (0: follow billing)");
  internal::Run run(deps_, options, *map);
  return run.Execute(progress);
}

Result<std::vector<store::Job>> RecentMigrations(store::Store& store, int limit) {
  return store.RecentJobs(limit, internal::kJobKind);
}

Result<store::Job> MigrationStatus(store::Store& store, const std::string& job_id) {
  auto job = store.GetJob(job_id);
  if (!job.ok()) return job.status();
  if (!job->has_value() || (*job)->kind != internal::kJobKind)
    return Status::NotFound("no migration job '" + job_id + "'");
  return **job;
}

}  // namespace tandem::migration
