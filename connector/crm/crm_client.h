// CrmClient: what Tandem needs from the CRM, in sObject terms. The Salesforce REST client
// implements it; tests may put a fake behind it. Bulk operations never fail as a whole
// because one record is bad: each record gets its own SaveResult / BulkRowResult.
// Thread-safety: implementations are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace tandem::connector::crm {

// One error as the CRM reports it: {"errorCode"|"statusCode","message","fields"}.
struct CrmError {
  std::string code;  // REQUIRED_FIELD_MISSING, UNABLE_TO_LOCK_ROW, ...
  std::string message;
  std::vector<std::string> fields;

  // Transient: the same request may succeed later (lock contention, limits, outages).
  bool retryable() const;
  // The record's own fault (bad value, missing field, duplicate): retrying cannot help.
  bool record_fault() const;
  std::string ToString() const;  // "CODE: message [Field1, Field2]"
};

// The codes a client gives each record of a Collections call that failed as a whole: the CRM
// was unavailable (or slow, or its answer garbled), which may pass; or it refused the call (a
// 400: a value it could not parse), which sending the same call again will not change.
inline constexpr const char* kCallFailed = "CALL_FAILED";
inline constexpr const char* kCallRefused = "CALL_REFUSED";

// Maps a CRM error to a Status code (RateLimited, Unavailable, InvalidArgument, NotFound...).
Status ToStatus(const CrmError& error, const std::string& context);

struct SaveResult {
  std::string id;
  bool success = false;
  bool created = false;  // upsert: true when the record was inserted
  std::vector<CrmError> errors;

  std::string ErrorText() const;
  // A refused record as a Status: its own fault (record_fault) is InvalidArgument, anything
  // else (a lock, a limit, a Collections call that failed as a whole) Unavailable.
  Status ToStatus(const std::string& what) const;
};

enum class BulkOperation { kInsert, kUpdate, kUpsert, kDelete };
const char* BulkOperationName(BulkOperation op);

struct BulkRequest {
  std::string object;
  BulkOperation operation = BulkOperation::kInsert;
  std::string external_id_field;               // required for kUpsert
  std::vector<std::string> columns;            // CSV header
  std::vector<std::vector<std::string>> rows;  // values aligned with columns; "#N/A" = null
  // Called with each job id as soon as the job exists, before any polling, so a caller can
  // record it and re-attach after a crash.
  std::function<Status(const std::string& job_id)> on_job_created;
  // Re-attach after a crash: the jobs an earlier run of this same request created, in order.
  // The request is split into jobs as before; a job given here is taken up where it stands
  // (an Open one gets its rows uploaded and is closed; any other is polled for its results)
  // instead of creating another. Jobs not given are created. Rows must be the same as then.
  std::vector<std::string> resume_job_ids;
};

struct BulkRowResult {
  bool success = false;
  bool processed = false;  // false: the job ended before this row was processed
  std::string id;
  bool created = false;
  std::string error;  // "CODE:message:fields --" as Salesforce writes it
};

struct BulkResult {
  std::vector<std::string> job_ids;
  std::vector<BulkRowResult> rows;  // in input order, one per request row
  int64_t succeeded = 0, failed = 0, unprocessed = 0;
};

struct ApiLimits {
  int64_t daily_max = 0;
  int64_t daily_remaining = 0;
};

using RecordCallback = std::function<Status(const Json& record)>;

// Ids per query by id: 200 keep the SOQL (and its URL) well under Salesforce's limits.
inline constexpr size_t kIdsPerRead = 200;

class CrmClient {
 public:
  virtual ~CrmClient() = default;

  // Object schema (fields with type, externalId, nillable, picklistValues, referenceTo).
  virtual Result<Json> Describe(const std::string& object) = 0;
  // One record; NotFound when it does not exist.
  virtual Result<Json> Retrieve(const std::string& object, const std::string& id,
                                const std::vector<std::string>& fields) = 0;
  // Success: the new record's id. A record fault is InvalidArgument naming the field.
  virtual Result<std::string> Create(const std::string& object, const Json& fields) = 0;
  virtual Status Update(const std::string& object, const std::string& id, const Json& fields) = 0;
  virtual Status Delete(const std::string& object, const std::string& id) = 0;
  // Upsert by external id. Several matching records is Conflict, never a guess.
  virtual Result<SaveResult> Upsert(const std::string& object, const std::string& external_field,
                                    const std::string& external_value, const Json& fields) = 0;
  // Runs a SOQL query and streams every record of every page to `on_record` (never
  // truncated). A non-OK Status from the callback stops the query and is returned.
  virtual Status Query(const std::string& soql, const RecordCallback& on_record) = 0;
  // The records of `object` with these ids (at most kIdsPerRead: one query), each to
  // `on_record`; ids the CRM does not have are left out. A bad field name is InvalidArgument.
  virtual Status QueryByIds(const std::string& object, const std::vector<std::string>& fields,
                            const std::vector<std::string>& ids, const RecordCallback& on_record);

  // sObject Collections, 200 records per call, allOrNone=false. The results are in input
  // order; a call that fails as a whole marks each of its records failed.
  virtual Result<std::vector<SaveResult>> CreateMany(const std::string& object,
                                                     const std::vector<Json>& records) = 0;
  // Each record carries its "Id"; one with "attributes": {"type": ...} is of that object, not
  // `object` (one call may update several objects, as for creates).
  virtual Result<std::vector<SaveResult>> UpdateMany(const std::string& object,
                                                     const std::vector<Json>& records) = 0;
  virtual Result<std::vector<SaveResult>> UpsertMany(const std::string& object,
                                                     const std::string& external_field,
                                                     const std::vector<Json>& records) = 0;
  virtual Result<std::vector<SaveResult>> DeleteMany(const std::vector<std::string>& ids) = 0;

  // Bulk API 2.0 ingest: splits the rows across jobs within the limits, waits for them and
  // maps the (unordered) results back to input order.
  virtual Result<BulkResult> BulkIngest(const BulkRequest& request) = 0;
  // Re-attaches to a job created earlier (after a crash) and collects its results.
  virtual Result<BulkResult> BulkAttach(const std::string& job_id, const BulkRequest& request) = 0;

  virtual Result<ApiLimits> Limits() = 0;

  // How many calls to keep in flight now, for a caller with many (connector/http/flow_control.h).
  virtual int PreferredInFlight() const { return 1; }
};
using CrmClientPtr = std::unique_ptr<CrmClient>;

}  // namespace tandem::connector::crm
