#include "app/action_jobs.h"

#include <algorithm>

#include "app/purge_slices.h"
#include "app/tokens.h"
#include "util/log.h"
#include "util/thread.h"

namespace tandem::app {
namespace {

void OutcomesOf(const actions::SyncReport& report, int64_t first_seq,
                std::vector<std::string>* out) {
  for (size_t i = 0; i < report.outcomes.size(); ++i) {
    Json j = OutcomeJson(report.outcomes[i]);
    j.Set("seq", first_seq + static_cast<int64_t>(i));
    out->push_back(j.Dump());
  }
}

void SetError(store::Job* job, const std::string& object, const std::string& error) {
  Json params = Json::MakeObject();
  params.Set("object", object);
  params.Set("error", error);
  job->params = params.Dump();
}

}  // namespace

Json OutcomeJson(const Outcome& o) {
  Json r = Json::MakeObject();
  r.Set("id", o.record_id);
  r.Set("outcome", Outcome::KindName(o.kind));
  if (!o.remote_id.empty()) r.Set("billing_id", o.remote_id);
  if (!o.field.empty()) r.Set("field", o.field);
  if (!o.reason.empty()) r.Set("reason", o.reason);
  return r;
}

ActionJobs::ActionJobs(
    actions::Actions& actions, store::Store& store, const Clock& clock, int threads,
    std::function<void(const std::string&, const actions::SyncReport&)> on_report)
    : actions_(actions), store_(store), clock_(clock), on_report_(std::move(on_report)) {
  for (int i = 0; i < threads; ++i)
    threads_.push_back(StartThread("action-jobs", [this] {
      for (;;) {
        Pending p;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
          if (stopping_) return;
          p = std::move(queue_.front());
          queue_.pop_front();
        }
        Run(std::move(p));
      }
    }));
}

ActionJobs::~ActionJobs() { Stop(); }

Result<std::string> ActionJobs::StartSync(const std::string& object, std::vector<std::string> ids) {
  auto hex = RandomHex(12);
  if (!hex.ok()) return hex.status();
  Pending p;
  p.object = object;
  p.ids = std::move(ids);
  p.job.id = "job_" + *hex;
  p.job.kind = "sync";
  p.job.state = "queued";
  Json params = Json::MakeObject();
  params.Set("object", object);
  p.job.params = params.Dump();
  p.job.total = static_cast<int64_t>(p.ids.size());
  p.job.created_ms = p.job.updated_ms = ToEpochMillis(clock_.Now());
  const std::string id = p.job.id;
  {
    // Recorded under the lock: a job Stop() could miss is never left "running".
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down: send the request again");
    // Each queued job holds its ids in memory: past the cap the caller waits its turn.
    if (queue_.size() >= kMaxQueued)
      return Status::RateLimited(std::to_string(kMaxQueued) +
                                 " sync jobs are waiting: try again in a minute");
    TANDEM_RETURN_IF_ERROR(store_.PutJob(p.job));
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
  return id;
}

void ActionJobs::Run(Pending p) {
  store::Job& job = p.job;
  job.state = "running";
  job.updated_ms = ToEpochMillis(clock_.Now());
  if (Status st = store_.PutJob(job); !st.ok())
    log::Get("app.jobs")->error("job {}: {}", job.id, st.ToString());
  // One sync over every id, its slices pipelined (actions/sync.h); each slice's outcomes are
  // recorded with the job's progress as the slice is recorded.
  bool progress_lost = false;
  auto report = actions_.Sync(
      p.object, p.ids, actions::SyncMode::kIfChanged,
      [&](size_t first, const actions::SyncReport& slice) {
        if (progress_lost) return false;  // the job shows interrupted where it was lost
        if (on_report_) on_report_(p.object, slice);
        std::vector<std::string> outcomes;
        OutcomesOf(slice, static_cast<int64_t>(first) + 1, &outcomes);
        job.processed += static_cast<int64_t>(slice.outcomes.size());
        job.failed += slice.failed;
        job.checkpoint = std::to_string(job.processed);
        job.updated_ms = ToEpochMillis(clock_.Now());
        if (job.processed >= static_cast<int64_t>(p.ids.size())) job.state = "done";
        if (Status st = store_.PutJobWithOutcomes(job, static_cast<int64_t>(first) + 1, outcomes);
            !st.ok()) {
          log::Get("app.jobs")->error("job {}: recording progress: {}", job.id, st.ToString());
          progress_lost = true;
          return false;  // it shows interrupted; billing holds what was written (keyed)
        }
        // Stopping: the slices in hand finish, the rest is not begun.
        std::lock_guard<std::mutex> lock(mu_);
        return !stopping_;
      });
  if (progress_lost || (report.ok() && job.state == "done")) return;
  job.state = "failed";
  job.updated_ms = ToEpochMillis(clock_.Now());
  // The rest is not tried: what stopped the sync (the CRM down, an unknown object) stops it
  // all. The caller sees how far it got and why.
  SetError(&job, p.object,
           report.ok()
               ? "interrupted: Tandem stopped after " + std::to_string(job.processed) + " of " +
                     std::to_string(p.ids.size()) + " records; send the request again"
               : report.status().ToString());
  if (Status st = store_.PutJob(job); !st.ok())
    log::Get("app.jobs")->error("job {}: {}", job.id, st.ToString());
}

void ActionJobs::Stop() {
  std::deque<Pending> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  for (auto& p : left) {
    p.job.state = "failed";
    p.job.updated_ms = ToEpochMillis(clock_.Now());
    SetError(&p.job, p.object, "interrupted: Tandem stopped before it ran; send the request again");
    if (Status st = store_.PutJob(p.job); !st.ok())
      log::Get("app.jobs")->error("job {}: {}", p.job.id, st.ToString());
  }
}

Result<Json> JobJson(store::JobStore& jobs, const std::string& id, int64_t after, int limit,
                     const Clock& clock) {
  auto job = jobs.GetJob(id);
  if (!job.ok()) return job.status();
  if (!*job || (*job)->kind != "sync") return Status::NotFound("no sync job " + id);
  const store::Job& j = **job;
  Json out = Json::MakeObject();
  out.Set("job_id", j.id);
  out.Set("kind", j.kind);
  std::string state = j.state;
  if (state == "running" &&
      ToEpochMillis(clock.Now()) - j.updated_ms > static_cast<int64_t>(kStalledAfter.count()))
    state = "interrupted";
  out.Set("state", state);
  out.Set("total", j.total);
  out.Set("processed", j.processed);
  out.Set("failed", j.failed);
  out.Set("created_at", FormatRfc3339(FromEpochMillis(j.created_ms)));
  out.Set("updated_at", FormatRfc3339(FromEpochMillis(j.updated_ms)));
  if (auto params = Json::Parse(j.params); params.ok() && !(*params)["error"].is_null())
    out.Set("error", (*params)["error"]);
  auto outcomes = jobs.JobOutcomes(id, after, limit);
  if (!outcomes.ok()) return outcomes.status();
  Json list = Json::MakeArray();
  for (const auto& [seq, text] : *outcomes) {
    auto parsed = Json::Parse(text);
    if (parsed.ok()) list.Push(std::move(parsed).value());
  }
  out.Set("outcomes", list);
  if (static_cast<int>(outcomes->size()) == limit) out.Set("next", outcomes->back().first);
  return out;
}

Result<int64_t> PurgeOldSyncJobs(store::JobStore& jobs, const Clock& clock, Millis retention) {
  const int64_t now = ToEpochMillis(clock.Now());
  const int64_t cut = now - retention.count();
  const int64_t stalled = std::min(cut, now - kStalledAfter.count());
  // 500: SQLite binds at most 999 values.
  return PurgeInSlices(500, [&](int n) { return jobs.PurgeOldJobs("sync", cut, stalled, n); });
}

}  // namespace tandem::app
