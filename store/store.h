// Store: Tandem's durable state — links, audit, webhook inbox, tasks, jobs, cursors — on
// PostgreSQL (production; several processes may share it) or SQLite (the embedded default,
// one process), through the same SOCI code. The only module that writes SQL.
// Every method returns a Status/Result; database errors never escape as exceptions.
// Thread-safety: all methods are thread-safe; each call leases a session from the pool.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/crash_point.h"
#include "util/result.h"

namespace tandem::store {

enum class Backend { kSqlite, kPostgres };

struct StoreUrl {
  Backend backend = Backend::kSqlite;
  std::string connect;  // SOCI connection string (key=value for PostgreSQL, path for SQLite)
};

// Accepts "sqlite:PATH", "sqlite::memory:", "postgresql://user:pass@host:port/db?opt=v" (and
// "postgres://"), or "postgresql:key=value ..." (libpq keywords). SOCI 4.0 mangles URI
// strings, so URIs are rewritten to key=value here.
Result<StoreUrl> ParseStoreUrl(const std::string& url);

struct StoreOptions {
  std::string url = "sqlite:tandem.db";  // default: SQLite file in the working directory
  int pool_size = 4;                     // PostgreSQL sessions; SQLite always uses 1
  CrashPoints* crash_points = nullptr;   // tests: die at named points
  bool migrate = true;                   // apply pending migrations on Open
  // PostgreSQL only: the schema Tandem's tables live in (created when missing); empty means
  // the server's default search_path. Letters, digits and '_' only.
  std::string schema;
};

struct Link {
  std::string object;  // "Account", "Product2", ...
  std::string crm_id;
  std::string billing_id;
  std::string account_number;
  std::string content_hash;  // hash of the mapped fields last written to billing
  int64_t updated_ms = 0;
};

struct AuditEntry {
  int64_t at_ms = 0;
  std::string actor;  // "admin:sync", "migration:JOB", "scheduler"
  std::string object;
  std::string record_id;
  std::string action;   // "create", "update", ...
  std::string outcome;  // Outcome::KindName
  std::string detail;
};

struct InboxEvent {
  std::string event_id;
  std::string source;  // "stripe"
  std::string type;
  std::string payload;
  int64_t received_ms = 0;
  std::string state = "pending";  // pending | done | failed
  int attempts = 0;
  std::string last_error;
};

struct TaskSpec {
  std::string key;       // unique and deterministic: also the billing idempotency key
  std::string group_id;  // the work order / job the task belongs to
  std::string kind;
  std::string payload;
  std::string depends_on;  // key of a task that must be done first; empty for none
  int max_attempts = 5;
  int64_t run_at_ms = 0;
};

struct Task {
  int64_t id = 0;
  std::string key, group_id, kind, payload, depends_on, state;
  int attempts = 0;
  int max_attempts = 0;
  int64_t next_run_ms = 0;
  std::string claimed_by;
  std::string result, last_error;
  int64_t lease_token = 0;  // the claim that holds it (a new one on every claim)
};

// A claim on a running task: the fencing token that completing, failing or renewing it must
// present, so a worker whose lease ran out cannot record a result over the next claim's.
struct Lease {
  int64_t task_id = 0;
  int64_t token = 0;
  static Lease Of(const Task& t) { return Lease{t.id, t.lease_token}; }
};

// A work order whose state is owed to the CRM (see store/migrations/0006_order_reports.sql).
struct ReportDue {
  std::string group_id;
  int64_t seq = 0;
};

struct Job {
  std::string id;
  std::string kind;
  std::string state = "running";  // running | done | failed
  std::string params;
  int64_t total = 0, processed = 0, failed = 0;
  std::string checkpoint;
  int64_t created_ms = 0, updated_ms = 0;
};

// A cursor's new value, written in the same transaction as the effects it stands for.
struct CursorUpdate {
  std::string name, value;
};

// A normalized key ("email:ann@example.com") and the record or row it belongs to.
struct MatchKey {
  std::string key;
  std::string ref;
};

class Store {
 public:
  // Connects, and applies pending migrations unless options.migrate is false.
  // Fails with InvalidArgument for a bad URL, IoError when the database cannot be reached.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();

  Backend backend() const;
  bool SupportsSkipLocked() const { return backend() == Backend::kPostgres; }
  bool HasAdvisoryLocks() const { return backend() == Backend::kPostgres; }

  // --- schema ---
  static int LatestSchemaVersion();
  Result<int> SchemaVersion();
  // Applies each pending migration in its own transaction, together with its row in
  // schema_migrations: a crash leaves the schema at a whole version, never half-applied.
  // Safe to run from several processes at once (PostgreSQL: advisory transaction lock).
  Status Migrate();
  Result<std::vector<std::string>> TableNames();

  // --- links ---
  // Inserts or replaces links, in multi-row statements (one round trip per 41 links: 250
  // parameters).
  Status UpsertLinks(const std::vector<Link>& links);
  Result<std::optional<Link>> FindLinkByCrmId(const std::string& object, const std::string& crm_id);
  Result<std::optional<Link>> FindLinkByBillingId(const std::string& object,
                                                  const std::string& billing_id);
  Result<std::vector<Link>> FindLinksByCrmIds(const std::string& object,
                                              const std::vector<std::string>& crm_ids);
  Result<std::vector<Link>> FindLinksByBillingIds(const std::string& object,
                                                  const std::vector<std::string>& billing_ids);
  Result<int64_t> CountLinks(const std::string& object);
  // One page of an object's links in crm_id order, after `after_crm_id` ("": the first page):
  // keyset paging, so a scan over every link holds one page at a time.
  Result<std::vector<Link>> ListLinks(const std::string& object, const std::string& after_crm_id,
                                      int limit);
  Status DeleteLinks(const std::string& object, const std::vector<std::string>& crm_ids);

  // Links, their audit rows and the cursors that move past them in one transaction: a run's
  // effects are recorded together or not at all.
  Status RecordSync(const std::vector<Link>& links, const std::vector<AuditEntry>& audit,
                    const std::vector<CursorUpdate>& cursors = {}, int64_t now_ms = 0);

  // --- audit ---
  Status AppendAudit(const std::vector<AuditEntry>& entries);
  Result<int64_t> CountAudit(const std::string& object);
  Result<std::vector<AuditEntry>> AuditFor(const std::string& object, const std::string& record_id);

  // --- inbox ---
  // Records the event; returns false (and changes nothing) when its id is already there.
  Result<bool> InsertInboxEvent(const InboxEvent& event);
  Result<std::vector<InboxEvent>> PendingInboxEvents(int limit);
  Result<int64_t> CountPendingInbox();
  // With the cursors the event moved (its object's applied version), in one transaction.
  Status MarkInboxEvent(const std::string& event_id, const std::string& state,
                        const std::string& error, const std::vector<CursorUpdate>& cursors = {},
                        int64_t now_ms = 0);

  // --- tasks ---
  // Enqueues a task; returns false when a task with the same key exists (nothing doubled).
  Result<bool> EnqueueTask(const TaskSpec& spec, int64_t now_ms);
  // Claims up to `limit` runnable tasks (pending and due, or running with an expired lease,
  // and whose dependency is done) for `worker` until now + lease. PostgreSQL: FOR UPDATE
  // SKIP LOCKED, so concurrent workers never claim the same task.
  Result<std::vector<Task>> ClaimTasks(const std::string& worker, int limit, int64_t now_ms,
                                       int64_t lease_ms);
  // Completing, failing and renewing take the claim's Lease and fail with Conflict when the
  // task is no longer held by it (the lease ran out and the task was claimed again).
  Status CompleteTask(const Lease& lease, const std::string& result, int64_t now_ms);
  // Records the error; the task runs again at retry_at_ms, or is failed for good when it
  // has used all its attempts. Returns the new state.
  // `permanent`: failed for good now (retrying cannot help).
  Result<std::string> FailTask(const Lease& lease, const std::string& error, int64_t retry_at_ms,
                               int64_t now_ms, bool permanent = false);
  // Extends a running task's lease to until_ms (a worker whose task outlasts the lease).
  Status RenewLease(const Lease& lease, int64_t until_ms, int64_t now_ms);
  // Gives claimed tasks back (graceful shutdown), so another worker picks them up at once.
  Status ReleaseTasks(const std::string& worker, int64_t now_ms);
  Result<std::vector<Task>> TasksInGroup(const std::string& group_id);

  // --- reports owed to the CRM (completing or failing a task records one for its group) ---
  // The group's report row, if one is owed.
  Result<std::optional<ReportDue>> ReportOwed(const std::string& group_id);
  // Groups owed a report since before `due_before_ms`, oldest first.
  Result<std::vector<ReportDue>> ReportsDue(int64_t due_before_ms, int limit);
  // Clears the group's row if no task finished since `due` was read (its seq is unchanged).
  Status ClearReport(const ReportDue& due);

  // --- jobs ---
  Status PutJob(const Job& job);
  Result<std::optional<Job>> GetJob(const std::string& id);

  // --- migration matching keys (per job and side: "billing", "crm", "source") ---
  // Adds keys; a (key, ref) already there is kept once.
  Status AddMatchKeys(const std::string& job_id, const std::string& side,
                      const std::vector<MatchKey>& keys);
  // Every (key, ref) of `side` whose key is one of `keys`.
  Result<std::vector<MatchKey>> FindMatchKeys(const std::string& job_id, const std::string& side,
                                              const std::vector<std::string>& keys);
  Status DropMatchKeys(const std::string& job_id);

  // --- cursors ---
  Result<std::optional<std::string>> GetCursor(const std::string& name);
  Status SetCursor(const std::string& name, const std::string& value, int64_t now_ms);

  // --- API tokens (only their hashes) ---
  // AlreadyExists when the name is taken.
  Status CreateApiToken(const std::string& name, const std::string& token_hash, int64_t now_ms);
  // NotFound when there is no active token of that name.
  Status RevokeApiToken(const std::string& name, int64_t now_ms);
  Result<bool> IsActiveApiToken(const std::string& token_hash);
  // Names of active tokens, with their creation times.
  Result<std::vector<std::pair<std::string, int64_t>>> ListApiTokens();

  // --- leadership ---
  // PostgreSQL: a session-level advisory lock on a dedicated connection, held until
  // ReleaseLeadership or the process dies. SQLite (one process): always granted.
  Result<bool> TryAcquireLeadership(int64_t lock_key);
  Status ReleaseLeadership(int64_t lock_key);

  // Drops the configured PostgreSQL schema with everything in it (tests only).
  Status DropSchemaForTests();

 private:
  Result<std::vector<Link>> FindLinksBy(const char* column, const std::string& object,
                                        const std::vector<std::string>& values);

  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::store
