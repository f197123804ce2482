#include "connector/crm/salesforce/salesforce_client.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <set>
#include <unordered_map>

#include "connector/crm/salesforce/csv.h"
#include "connector/crm/salesforce/errors.h"
#include "connector/crm/soql.h"
#include "util/ascii.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::connector::crm::salesforce {
namespace {

constexpr size_t kCollectionSize = 200;  // sObject Collections take at most 200 records
constexpr int kMaxChunksInFlight = 16;   // threads one call to a *Many method may use

// Whether no two records carry the same value of `field` (a record without it counts as none).
// Folded to lower case: external ids match case-insensitively unless the field says otherwise,
// and a false "same" only costs concurrency.
bool DistinctKeys(const std::vector<Json>& records, const std::string& field) {
  std::set<std::string> seen;
  for (const auto& r : records) {
    const std::string key = Lower(r[field].ToText());
    if (!key.empty() && !seen.insert(key).second) return false;
  }
  return true;
}

Status ErrorStatus(const http::HttpResponse& resp, const std::string& context) {
  return ToStatus(ParseErrors(resp.status, resp.body).front(), context);
}

Status CheckName(const std::string& what, const std::string& name) {
  if (!IsSoqlIdentifier(name) || name.find('.') != std::string::npos)
    return Status::InvalidArgument("invalid " + what + " name '" + name + "'");
  return Status::Ok();
}

Status CheckId(const std::string& id) {
  if (!IsSalesforceId(id)) return Status::InvalidArgument("'" + id + "' is not a Salesforce id");
  return Status::Ok();
}

SaveResult SaveResultFromJson(const Json& j) {
  SaveResult r;
  r.id = j["id"].as_string();
  r.success = j["success"].as_bool();
  r.created = j["created"].as_bool();
  for (const auto& e : j["errors"].array()) {
    CrmError err;
    err.code = e["statusCode"].as_string();
    if (err.code.empty()) err.code = e["errorCode"].as_string();
    err.message = e["message"].as_string();
    for (const auto& f : e["fields"].array()) err.fields.push_back(f.as_string());
    r.errors.push_back(std::move(err));
  }
  return r;
}

SaveResult CallFailed(const Status& st) {
  SaveResult r;
  // Refused: Salesforce answered that it cannot take the request (a 400: a value it could not
  // parse). Anything else — unavailable, throttled, timed out, an answer garbled — may pass.
  r.errors.push_back(
      CrmError{st.IsInvalidArgument() ? kCallRefused : kCallFailed, st.ToString(), {}});
  return r;
}

std::string RowKey(const std::vector<std::string>& row, size_t from, size_t count) {
  std::string key;
  for (size_t i = from; i < from + count && i < row.size(); ++i) {
    key += row[i];
    key.push_back('\x1f');
  }
  return key;
}

}  // namespace

SalesforceClient::SalesforceClient(SalesforceOptions options, http::RestClient& rest,
                                   Sleeper& sleeper)
    : options_(std::move(options)), rest_(rest), sleeper_(sleeper) {}

std::string SalesforceClient::DataPath(const std::string& rest) const {
  return "/services/data/v" + options_.api_version + rest;
}

Result<http::HttpResponse> SalesforceClient::Call(http::HttpRequest request) {
  const int64_t remaining = daily_remaining_.load();
  if (remaining >= 0 && remaining < options_.daily_api_floor) {
    return Status::RateLimited("Salesforce daily API allowance: " + std::to_string(remaining) +
                               " calls remain, below the configured floor of " +
                               std::to_string(options_.daily_api_floor) +
                               " (crm.daily_api_floor); not calling until it recovers");
  }
  auto resp = rest_.Send(std::move(request));
  if (resp.ok()) {
    if (auto info = resp->Header("Sforce-Limit-Info")) {
      int64_t used = 0, max = 0;
      if (ParseLimitInfo(*info, &used, &max)) daily_remaining_ = max - used;
    }
  }
  return resp;
}

Result<http::HttpResponse> SalesforceClient::CallJson(const std::string& method,
                                                      const std::string& path,
                                                      const std::string& body, bool idempotent) {
  http::HttpRequest req;
  req.method = method;
  req.path = path;
  req.body = body;
  req.idempotent = idempotent;
  if (!body.empty()) http::SetHeader(req.headers, "Content-Type", "application/json");
  http::SetHeader(req.headers, "Accept", "application/json");
  return Call(std::move(req));
}

Result<Json> SalesforceClient::Describe(const std::string& object) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  auto resp = CallJson("GET", DataPath("/sobjects/" + object + "/describe"), "", true);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return ErrorStatus(*resp, "describe " + object);
  return Json::Parse(resp->body);
}

Result<Json> SalesforceClient::Retrieve(const std::string& object, const std::string& id,
                                        const std::vector<std::string>& fields) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  TANDEM_RETURN_IF_ERROR(CheckId(id));
  std::string path = DataPath("/sobjects/" + object + "/" + id);
  if (!fields.empty()) {
    std::string list;
    for (const auto& f : fields) {
      TANDEM_RETURN_IF_ERROR(CheckName("field", f));
      list += (list.empty() ? "" : ",") + f;
    }
    path += "?fields=" + list;
  }
  auto resp = CallJson("GET", path, "", true);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return ErrorStatus(*resp, "retrieve " + object + " " + id);
  return Json::Parse(resp->body);
}

Result<std::string> SalesforceClient::Create(const std::string& object, const Json& fields) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  // Salesforce has no idempotency key for create: a lost answer is not retried here.
  auto resp = CallJson("POST", DataPath("/sobjects/" + object), fields.Dump(), false);
  if (!resp.ok()) return resp.status();
  if (resp->status != 201) return ErrorStatus(*resp, "create " + object);
  auto body = Json::Parse(resp->body);
  if (!body.ok()) return body.status();
  return (*body)["id"].as_string();
}

Status SalesforceClient::Update(const std::string& object, const std::string& id,
                                const Json& fields) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  TANDEM_RETURN_IF_ERROR(CheckId(id));
  auto resp = CallJson("PATCH", DataPath("/sobjects/" + object + "/" + id), fields.Dump(), true);
  if (!resp.ok()) return resp.status();
  if (resp->status != 204 && resp->status != 200)
    return ErrorStatus(*resp, "update " + object + " " + id);
  return Status::Ok();
}

Status SalesforceClient::Delete(const std::string& object, const std::string& id) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  TANDEM_RETURN_IF_ERROR(CheckId(id));
  auto resp = CallJson("DELETE", DataPath("/sobjects/" + object + "/" + id), "", true);
  if (!resp.ok()) return resp.status();
  if (resp->status != 204 && resp->status != 200)
    return ErrorStatus(*resp, "delete " + object + " " + id);
  return Status::Ok();
}

Result<SaveResult> SalesforceClient::Upsert(const std::string& object,
                                            const std::string& external_field,
                                            const std::string& external_value, const Json& fields) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  TANDEM_RETURN_IF_ERROR(CheckName("external id field", external_field));
  if (external_value.empty()) return Status::InvalidArgument("upsert needs an external id value");
  if (external_value.find('/') != std::string::npos) {
    // Salesforce cannot take a '/' in the URL form, even encoded; Collections carry it in the body.
    Json record = fields;
    record.Set(external_field, external_value);
    auto results = UpsertMany(object, external_field, {record});
    if (!results.ok()) return results.status();
    const SaveResult& r = results->front();
    if (!r.success) return ToStatus(r.errors.front(), "upsert " + object);
    return r;
  }
  auto resp = CallJson("PATCH",
                       DataPath("/sobjects/" + object + "/" + external_field + "/" +
                                http::PercentEncode(external_value)),
                       fields.Dump(), true);
  if (!resp.ok()) return resp.status();
  SaveResult r;
  if (resp->status == 201 || resp->status == 200) {
    auto body = Json::Parse(resp->body);
    if (body.ok()) r = SaveResultFromJson(*body);
    r.success = true;
    r.created = resp->status == 201;
    return r;
  }
  if (resp->status == 204) {  // older API versions answer an update with no body
    r.success = true;
    return r;
  }
  if (resp->status == 300) {
    return Status::Conflict("upsert " + object + ": several records have " + external_field +
                            " = '" + external_value + "'; not choosing one");
  }
  return ErrorStatus(*resp, "upsert " + object + " " + external_field + "=" + external_value);
}

Status SalesforceClient::Query(const std::string& soql, const RecordCallback& on_record) {
  std::string path = DataPath("/query?q=" + http::PercentEncode(soql));
  for (int page = 0;; ++page) {
    http::HttpRequest req;
    req.method = "GET";
    req.path = path;
    req.endpoint = page == 0 ? "GET /query" : "GET /query/next";
    http::SetHeader(req.headers, "Accept", "application/json");
    http::SetHeader(req.headers, "Sforce-Query-Options",
                    "batchSize=" + std::to_string(options_.query_batch_size));
    auto resp = Call(std::move(req));
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) return ErrorStatus(*resp, "query");
    auto body = Json::Parse(resp->body);
    if (!body.ok()) return body.status().WithContext("query answer");
    for (const auto& record : (*body)["records"].array()) TANDEM_RETURN_IF_ERROR(on_record(record));
    if ((*body)["done"].as_bool(true)) return Status::Ok();
    const std::string next = (*body)["nextRecordsUrl"].as_string();
    if (next.empty())
      return Status::RemoteError("query answer has done=false and no nextRecordsUrl");
    path = next;
  }
}

Result<std::vector<SaveResult>> SalesforceClient::CollectionChunk(
    CollectionOp op, const std::string& object, const std::string& external_field,
    const std::vector<const Json*>& records) {
  Json body = Json::MakeObject();
  body.Set("allOrNone", false);
  Json& list = body.Set("records", Json::MakeArray());
  for (const Json* r : records) {
    Json rec = Json::MakeObject();
    // A create or update may mix objects (Salesforce allows it): a record naming its own
    // type keeps it.
    const std::string own = (*r)["attributes"]["type"].ToText();
    Json attrs = Json::MakeObject();
    attrs.Set("type", op != CollectionOp::kUpsert && !own.empty() ? own : object);
    rec.Set("attributes", attrs);
    for (const auto& [k, v] : r->object())
      if (k != "attributes") rec.Set(k, v);
    list.Push(std::move(rec));
  }
  std::string path = DataPath("/composite/sobjects");
  std::string method = "POST";
  if (op == CollectionOp::kUpdate) method = "PATCH";
  if (op == CollectionOp::kUpsert) {
    method = "PATCH";
    path += "/" + object + "/" + external_field;
  }
  // Create is not retried when its answer is lost (records may exist); update and upsert are.
  auto resp = CallJson(method, path, body.Dump(), op != CollectionOp::kCreate);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return ErrorStatus(*resp, "collection " + method + " " + object);
  auto parsed = Json::Parse(resp->body);
  if (!parsed.ok()) return parsed.status();
  if (parsed->size() != records.size())
    return Status::RemoteError("collection answer has " + std::to_string(parsed->size()) +
                               " results for " + std::to_string(records.size()) + " records");
  std::vector<SaveResult> out;
  for (const auto& r : parsed->array()) out.push_back(SaveResultFromJson(r));
  return out;
}

Result<std::vector<SaveResult>> SalesforceClient::Collection(CollectionOp op,
                                                             const std::string& object,
                                                             const std::string& external_field,
                                                             const std::vector<Json>& records) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", object));
  if (op == CollectionOp::kUpsert)
    TANDEM_RETURN_IF_ERROR(CheckName("external id field", external_field));
  std::vector<SaveResult> results(records.size());
  // Rows still to send; rows failing with a transient record error are sent again.
  std::vector<size_t> pending(records.size());
  for (size_t i = 0; i < records.size(); ++i) pending[i] = i;
  // Chunks go in flight together (as many as the connection says), unless an upsert names one
  // key (an update one Id) in two chunks: then they go one after another, as a second chunk
  // must update what the first created, not race it into a duplicate, and the last write wins.
  const bool concurrent =
      op == CollectionOp::kCreate ||
      DistinctKeys(records, op == CollectionOp::kUpsert ? external_field : "Id");
  for (int round = 0; !pending.empty(); ++round) {
    std::vector<size_t> again;
    std::mutex mu;
    const size_t chunks = (pending.size() + kCollectionSize - 1) / kCollectionSize;
    ParallelForLimited(
        chunks, concurrent ? kMaxChunksInFlight : 1, [&] { return PreferredInFlight(); },
        [&](size_t c) {
          const size_t start = c * kCollectionSize;
          const size_t n = std::min(kCollectionSize, pending.size() - start);
          std::vector<const Json*> chunk;
          for (size_t k = 0; k < n; ++k) chunk.push_back(&records[pending[start + k]]);
          auto chunk_results = CollectionChunk(op, object, external_field, chunk);
          std::lock_guard<std::mutex> lock(mu);
          for (size_t k = 0; k < n; ++k) {
            const size_t row = pending[start + k];
            if (!chunk_results.ok()) {
              results[row] = CallFailed(chunk_results.status());
              continue;
            }
            results[row] = (*chunk_results)[k];
            const bool transient = !results[row].success && !results[row].errors.empty() &&
                                   results[row].errors.front().retryable();
            if (transient && round < options_.record_retries) again.push_back(row);
          }
        });
    std::sort(again.begin(), again.end());  // chunks end in any order; rows keep theirs
    if (!again.empty()) {
      log::Get("connector.crm")
          ->info("{} {} records failed transiently (e.g. {}); retrying", again.size(), object,
                 results[again.front()].ErrorText());
      sleeper_.Sleep(Millis(200 << round));
    }
    pending = std::move(again);
  }
  return results;
}

Result<std::vector<SaveResult>> SalesforceClient::CreateMany(const std::string& object,
                                                             const std::vector<Json>& records) {
  return Collection(CollectionOp::kCreate, object, "", records);
}

Result<std::vector<SaveResult>> SalesforceClient::UpdateMany(const std::string& object,
                                                             const std::vector<Json>& records) {
  return Collection(CollectionOp::kUpdate, object, "", records);
}

Result<std::vector<SaveResult>> SalesforceClient::UpsertMany(const std::string& object,
                                                             const std::string& external_field,
                                                             const std::vector<Json>& records) {
  return Collection(CollectionOp::kUpsert, object, external_field, records);
}

Result<std::vector<SaveResult>> SalesforceClient::DeleteMany(const std::vector<std::string>& ids) {
  std::vector<SaveResult> out;
  for (size_t start = 0; start < ids.size(); start += kCollectionSize) {
    const size_t n = std::min(kCollectionSize, ids.size() - start);
    std::string list;
    for (size_t i = start; i < start + n; ++i) {
      TANDEM_RETURN_IF_ERROR(CheckId(ids[i]));
      list += (list.empty() ? "" : ",") + ids[i];
    }
    auto resp =
        CallJson("DELETE", DataPath("/composite/sobjects?allOrNone=false&ids=" + list), "", true);
    if (!resp.ok() || resp->status != 200) {
      const Status st = resp.ok() ? ErrorStatus(*resp, "collection delete") : resp.status();
      for (size_t i = 0; i < n; ++i) out.push_back(CallFailed(st));
      continue;
    }
    auto parsed = Json::Parse(resp->body);
    if (!parsed.ok()) return parsed.status();
    for (const auto& r : parsed->array()) out.push_back(SaveResultFromJson(r));
  }
  return out;
}

Result<BulkResult> SalesforceClient::BulkIngest(const BulkRequest& request) {
  TANDEM_RETURN_IF_ERROR(CheckName("object", request.object));
  if (request.operation == BulkOperation::kUpsert)
    TANDEM_RETURN_IF_ERROR(CheckName("external id field", request.external_id_field));
  if (request.columns.empty()) return Status::InvalidArgument("bulk ingest needs columns");
  for (size_t i = 0; i < request.rows.size(); ++i)
    if (request.rows[i].size() != request.columns.size())
      return Status::InvalidArgument("bulk row " + std::to_string(i + 1) + " has " +
                                     std::to_string(request.rows[i].size()) + " values for " +
                                     std::to_string(request.columns.size()) + " columns");
  BulkResult out;
  out.rows.resize(request.rows.size());
  const std::string header = CsvLine(request.columns);
  size_t start = 0;
  while (start < request.rows.size()) {
    // One job's worth of rows: within both the row and the byte limit.
    std::string csv = header;
    size_t end = start;
    while (end < request.rows.size() && end - start < options_.bulk_max_rows_per_job) {
      std::string line = CsvLine(request.rows[end]);
      if (end > start && csv.size() + line.size() > options_.bulk_max_bytes_per_job) break;
      csv += line;
      ++end;
    }
    const size_t job_index = out.job_ids.size();
    if (job_index < request.resume_job_ids.size()) {
      // Taken up where the crashed run left it: no second job for the same rows. Only a job
      // of this object and operation; an Open one gets the rows (if it refuses them, having
      // got them before the crash, it is aborted: an Open job has processed nothing) and an
      // aborted one is replaced.
      const std::string& job_id = request.resume_job_ids[job_index];
      TANDEM_RETURN_IF_ERROR(CheckId(job_id));
      auto info = BulkJobInfo(job_id);
      if (!info.ok()) return info.status();
      const std::string state = (*info)["state"].as_string();
      bool taken = (*info)["object"].as_string() == request.object &&
                   (*info)["operation"].as_string() == BulkOperationName(request.operation) &&
                   state != "Aborted";
      if (taken && state == "Open") {
        Status uploaded = UploadAndClose(job_id, csv);
        if (uploaded.IsTransient()) return uploaded;
        if (!uploaded.ok()) {
          log::Get("connector.crm")
              ->warn("bulk job {} refused the rows again ({}); aborting it for a new one", job_id,
                     uploaded.ToString());
          (void)CallJson("PATCH", DataPath("/jobs/ingest/" + job_id), R"({"state":"Aborted"})",
                         true);
          taken = false;
        }
      }
      if (taken) {
        out.job_ids.push_back(job_id);
        TANDEM_RETURN_IF_ERROR(CollectJob(job_id, request, start, end - start, &out));
        start = end;
        continue;
      }
    }
    Json job = Json::MakeObject();
    job.Set("object", request.object);
    job.Set("operation", BulkOperationName(request.operation));
    if (request.operation == BulkOperation::kUpsert)
      job.Set("externalIdFieldName", request.external_id_field);
    job.Set("contentType", "CSV");
    job.Set("lineEnding", "LF");
    // An Open job that was created twice holds no data and expires: safe to retry.
    auto created = CallJson("POST", DataPath("/jobs/ingest"), job.Dump(), true);
    if (!created.ok()) return created.status();
    if (created->status != 200 && created->status != 201)
      return ErrorStatus(*created, "create bulk job");
    auto info = Json::Parse(created->body);
    if (!info.ok()) return info.status();
    const std::string job_id = (*info)["id"].as_string();
    if (!IsSalesforceId(job_id)) return Status::RemoteError("bulk job answer has no valid id");
    out.job_ids.push_back(job_id);
    if (request.on_job_created) TANDEM_RETURN_IF_ERROR(request.on_job_created(job_id));
    TANDEM_RETURN_IF_ERROR(UploadAndClose(job_id, std::move(csv)));
    TANDEM_RETURN_IF_ERROR(CollectJob(job_id, request, start, end - start, &out));
    start = end;
  }
  return out;
}

Result<Json> SalesforceClient::BulkJobInfo(const std::string& job_id) {
  http::HttpRequest poll;
  poll.method = "GET";
  poll.path = DataPath("/jobs/ingest/" + job_id);
  poll.endpoint = "GET /jobs/ingest/{id}";
  auto resp = Call(std::move(poll));
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return ErrorStatus(*resp, "bulk job " + job_id);
  return Json::Parse(resp->body);
}

Status SalesforceClient::UploadAndClose(const std::string& job_id, std::string csv) {
  http::HttpRequest upload;
  upload.method = "PUT";
  upload.path = DataPath("/jobs/ingest/" + job_id + "/batches");
  upload.endpoint = "PUT /jobs/ingest/batches";
  upload.body = std::move(csv);
  http::SetHeader(upload.headers, "Content-Type", "text/csv");
  auto uploaded = Call(std::move(upload));
  if (!uploaded.ok()) return uploaded.status();
  if (uploaded->status != 201 && uploaded->status != 200)
    return ErrorStatus(*uploaded, "upload bulk job " + job_id);
  auto closed =
      CallJson("PATCH", DataPath("/jobs/ingest/" + job_id), R"({"state":"UploadComplete"})", true);
  if (!closed.ok()) return closed.status();
  if (closed->status != 200) return ErrorStatus(*closed, "close bulk job " + job_id);
  return Status::Ok();
}

Result<BulkResult> SalesforceClient::BulkAttach(const std::string& job_id,
                                                const BulkRequest& request) {
  TANDEM_RETURN_IF_ERROR(CheckId(job_id));
  BulkResult out;
  out.rows.resize(request.rows.size());
  out.job_ids.push_back(job_id);
  TANDEM_RETURN_IF_ERROR(CollectJob(job_id, request, 0, request.rows.size(), &out));
  return out;
}

Status SalesforceClient::CollectJob(const std::string& job_id, const BulkRequest& request,
                                    size_t first_row, size_t row_count, BulkResult* out) {
  auto logger = log::Get("connector.crm");
  const std::string job_path = DataPath("/jobs/ingest/" + job_id);
  Millis wait = options_.bulk_poll_initial, waited(0);
  std::string state;
  Json info;
  for (;;) {
    auto polled = BulkJobInfo(job_id);
    if (!polled.ok()) return polled.status();
    info = *polled;
    state = info["state"].as_string();
    if (state == "JobComplete" || state == "Failed" || state == "Aborted") break;
    if (waited >= options_.bulk_timeout)
      return Status::Timeout("bulk job " + job_id + " still " + state + " after " +
                             std::to_string(waited.count() / 1000) + " s; re-attach later");
    sleeper_.Sleep(wait);
    waited += wait;
    wait = std::min(options_.bulk_poll_max, wait * 2);
  }
  logger->info("bulk job {} {}", job_id, state);
  // The job's own counts say which result sets can hold rows: a set that cannot is not
  // fetched (an all-successful job costs create, upload, close, poll and one result call).
  const bool counted = info["numberRecordsProcessed"].is_number() &&
                       info["numberRecordsFailed"].is_number() && state == "JobComplete";
  const int64_t processed = info["numberRecordsProcessed"].as_int();
  const int64_t failed = info["numberRecordsFailed"].as_int();
  auto may_hold_rows = [&](const std::string& kind) {
    if (!counted) return true;
    if (kind == "successfulResults") return processed - failed > 0;
    if (kind == "failedResults") return failed > 0;
    return processed < static_cast<int64_t>(row_count);  // unprocessedrecords
  };

  // Results come back unordered; map them to input rows by their echoed column values.
  const size_t ncols = request.columns.size();
  std::unordered_map<std::string, std::deque<size_t>> by_key;
  for (size_t i = first_row; i < first_row + row_count; ++i)
    by_key[RowKey(request.rows[i], 0, ncols)].push_back(i);
  auto take = [&](const std::vector<std::string>& row, size_t offset) -> long {
    auto it = by_key.find(RowKey(row, offset, ncols));
    if (it == by_key.end() || it->second.empty()) return -1;
    const size_t index = it->second.front();
    it->second.pop_front();
    return static_cast<long>(index);
  };
  for (const char* kind : {"successfulResults", "failedResults", "unprocessedrecords"}) {
    if (!may_hold_rows(kind)) continue;
    http::HttpRequest get;
    get.method = "GET";
    get.path = job_path + "/" + kind;
    get.endpoint = std::string("GET /jobs/ingest/{id}/") + kind;
    auto resp = Call(std::move(get));
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) return ErrorStatus(*resp, std::string(kind) + " of " + job_id);
    auto rows = ParseCsv(resp->body);
    if (!rows.ok()) return rows.status().WithContext(std::string(kind) + " of " + job_id);
    const std::string k = kind;
    const size_t offset = k == "unprocessedrecords" ? 0 : 2;  // sf__Id, sf__Created|sf__Error
    for (size_t r = 1; r < rows->size(); ++r) {               // row 0 is the header
      const auto& row = (*rows)[r];
      const long index = take(row, offset);
      if (index < 0) {
        logger->warn("bulk job {}: a {} row matches no input row", job_id, kind);
        continue;
      }
      BulkRowResult& res = out->rows[static_cast<size_t>(index)];
      if (k == "successfulResults") {
        res = BulkRowResult{true, true, row.at(0), row.size() > 1 && row[1] == "true", ""};
        ++out->succeeded;
      } else if (k == "failedResults") {
        res = BulkRowResult{false, true, row.at(0), false, row.size() > 1 ? row[1] : ""};
        ++out->failed;
      } else {
        res = BulkRowResult{false, false, "", false, "not processed: job " + state};
        ++out->unprocessed;
      }
    }
  }
  // Rows the job never reported (should not happen) count as unprocessed, never as done.
  for (auto& [key, left] : by_key) {
    for (size_t index : left) {
      out->rows[index] = BulkRowResult{false, false, "", false, "no result from job " + job_id};
      ++out->unprocessed;
    }
  }
  return Status::Ok();
}

Result<ApiLimits> SalesforceClient::Limits() {
  auto resp = CallJson("GET", DataPath("/limits"), "", true);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return ErrorStatus(*resp, "limits");
  auto body = Json::Parse(resp->body);
  if (!body.ok()) return body.status();
  ApiLimits limits;
  limits.daily_max = (*body)["DailyApiRequests"]["Max"].as_int();
  limits.daily_remaining = (*body)["DailyApiRequests"]["Remaining"].as_int();
  daily_remaining_ = limits.daily_remaining;
  return limits;
}

}  // namespace tandem::connector::crm::salesforce
