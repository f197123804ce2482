// SalesforceClient: CrmClient over the Salesforce REST API (sObjects, SOQL, sObject
// Collections, Bulk API 2.0, limits) on the shared REST client core.
// The RestClient it is given must use salesforce::Classify and an OAuthTokenAuth; the
// client adds the daily-API floor: once Sforce-Limit-Info or /limits shows fewer remaining
// calls than the floor, it stops calling and says why (RateLimited).
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>

#include "connector/crm/crm_client.h"
#include "connector/http/rest_client.h"

namespace tandem::connector::crm::salesforce {

struct SalesforceOptions {
  std::string api_version = "61.0";        // default 61.0
  int64_t daily_api_floor = 1000;          // stop calling below this many remaining; default 1000
  size_t bulk_max_rows_per_job = 150'000;  // split larger inputs; default 150,000
  size_t bulk_max_bytes_per_job = 100'000'000;  // Salesforce allows 150 MB base64; default 100 MB
  Millis bulk_poll_initial = Millis(500);       // first poll wait, doubling; default 500 ms
  Millis bulk_poll_max = Millis(10'000);        // default 10 s
  Millis bulk_timeout = Millis(30 * 60'000);    // give up waiting for a job; default 30 min
  int record_retries = 3;       // Collections rows failing with UNABLE_TO_LOCK_ROW; default 3
  int query_batch_size = 2000;  // Sforce-Query-Options batchSize (200..2000); default 2000
};

class SalesforceClient final : public CrmClient {
 public:
  SalesforceClient(SalesforceOptions options, http::RestClient& rest, Sleeper& sleeper);

  // CrmClient methods
  Result<Json> Describe(const std::string& object) override;
  Result<Json> Retrieve(const std::string& object, const std::string& id,
                        const std::vector<std::string>& fields) override;
  Result<std::string> Create(const std::string& object, const Json& fields) override;
  Status Update(const std::string& object, const std::string& id, const Json& fields) override;
  Status Delete(const std::string& object, const std::string& id) override;
  Result<SaveResult> Upsert(const std::string& object, const std::string& external_field,
                            const std::string& external_value, const Json& fields) override;
  Status Query(const std::string& soql, const RecordCallback& on_record) override;
  Result<std::vector<SaveResult>> CreateMany(const std::string& object,
                                             const std::vector<Json>& records) override;
  Result<std::vector<SaveResult>> UpdateMany(const std::string& object,
                                             const std::vector<Json>& records) override;
  Result<std::vector<SaveResult>> UpsertMany(const std::string& object,
                                             const std::string& external_field,
                                             const std::vector<Json>& records) override;
  Result<std::vector<SaveResult>> DeleteMany(const std::vector<std::string>& ids) override;
  Result<BulkResult> BulkIngest(const BulkRequest& request) override;
  Result<BulkResult> BulkAttach(const std::string& job_id, const BulkRequest& request) override;
  Result<ApiLimits> Limits() override;
  int PreferredInFlight() const override { return rest_.flow().InFlight(); }

  // Remaining daily API calls as last reported (-1 before the first answer).
  int64_t daily_remaining() const { return daily_remaining_.load(); }

 private:
  enum class CollectionOp { kCreate, kUpdate, kUpsert };

  std::string DataPath(const std::string& rest) const;
  Result<http::HttpResponse> Call(http::HttpRequest request);
  Result<http::HttpResponse> CallJson(const std::string& method, const std::string& path,
                                      const std::string& body, bool idempotent);
  Result<std::vector<SaveResult>> Collection(CollectionOp op, const std::string& object,
                                             const std::string& external_field,
                                             const std::vector<Json>& records);
  Result<std::vector<SaveResult>> CollectionChunk(CollectionOp op, const std::string& object,
                                                  const std::string& external_field,
                                                  const std::vector<const Json*>& records);
  // A bulk job's info: state ("Open", "UploadComplete", "JobComplete", ...), object,
  // operation.
  Result<Json> BulkJobInfo(const std::string& job_id);
  // Uploads a job's CSV and marks the upload complete.
  Status UploadAndClose(const std::string& job_id, std::string csv);
  Status CollectJob(const std::string& job_id, const BulkRequest& request, size_t first_row,
                    size_t row_count, BulkResult* out);

  const SalesforceOptions options_;
  http::RestClient& rest_;
  Sleeper& sleeper_;
  std::atomic<int64_t> daily_remaining_{-1};
};

}  // namespace tandem::connector::crm::salesforce
