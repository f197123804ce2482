// Private to the Salesforce emulator (sandbox/salesforce/*.cpp), not part of its API
// (salesforce_sandbox.h): the emulator's state, the request handler, and what its files share.
// Each file serves one part: server.cpp (the request pipeline, authentication, the routes under
// /services/data, /limits), admin.cpp (/__sandbox/), auth.cpp (the OAuth token endpoint),
// errors.cpp, schema.cpp (the schema and describe), ids.cpp (ids and times), validation.cpp
// (checking a record's fields), records.cpp (the tables: create, update, upsert, delete),
// sobjects.cpp (the sObject endpoints), composite.cpp (sObject Collections), query.cpp (SOQL
// and query locators), bulk.cpp (Bulk API 2.0 ingest).
// Thread-safety: everything here runs under SalesforceSandbox::Impl::mu.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cpprest/http_msg.h>
#include <cpprest/json.h>

#include "sandbox/faults/faults.h"
#include "sandbox/faults/listener.h"
#include "sandbox/http/emulator_front.h"
#include "sandbox/salesforce/salesforce_sandbox.h"
#include "sandbox/salesforce/soql_parser.h"
#include "util/clock.h"

namespace tandem::sandbox::salesforce {

namespace wh = web::http;
using web::json::value;

extern const char* kBuiltInSchema;  // schema_embedded.cpp, generated from schema.json

std::string Lower(std::string s);  // schema.cpp

// --- errors in Salesforce's shapes (errors.cpp) ---

struct SfError {
  std::string code;
  std::string message;
  std::vector<std::string> fields;
};

value ErrorList(const std::vector<SfError>& errors, bool status_code_key);

// --- schema (schema.cpp) ---

struct FieldDef {
  std::string name;
  std::string type;
  int length = 0;
  bool required = false;
  bool unique = false;
  bool external_id = false;
  bool system = false;  // Id, CreatedDate, ...: not createable or updateable
  bool restricted = true;
  bool case_sensitive =
      false;  // unique/external id values: Salesforce compares them ignoring case unless set

  std::string Key(const std::string& v) const { return case_sensitive ? v : Lower(v); }
  std::vector<std::string> values;
  std::string reference_to;
  std::string relationship_name;
};

struct ObjectDef {
  std::string name;
  std::string key_prefix;
  std::vector<FieldDef> fields;
  std::unordered_map<std::string, size_t> by_lower;  // lower-case name → index
  std::unordered_map<std::string, size_t> by_relationship;

  const FieldDef* Field(const std::string& field) const {
    auto it = by_lower.find(Lower(field));
    return it == by_lower.end() ? nullptr : &fields[it->second];
  }
  const FieldDef* Relationship(const std::string& relationship) const {
    auto it = by_relationship.find(Lower(relationship));
    return it == by_relationship.end() ? nullptr : &fields[it->second];
  }
};

std::vector<ObjectDef> LoadSchema(const std::string& text);

// --- ids and times (ids.cpp) ---

// Ids: 15 characters (3-char key prefix, 12 of sequence), plus Salesforce's 3-character
// case-safe suffix.
std::string MakeId(const std::string& prefix, int64_t seq);
// An 18-character id for any 15- or 18-character input; "" when malformed.
std::string NormalizeId(const std::string& id);
std::string FormatDateTime(int64_t ms);

// --- state ---

struct Table {
  const ObjectDef* def = nullptr;
  std::unordered_map<std::string, value> by_id;
  std::vector<std::string> order;  // insertion order; deleted ids are skipped
  // unique field (lower) → value (lower) → id
  std::unordered_map<std::string, std::unordered_map<std::string, std::string>> unique;
};

struct Locator {
  std::string object;
  std::vector<std::string> fields;
  std::vector<std::string> ids;
  size_t next = 0;
  int page_size = 2000;
  int64_t total = 0;
};

struct BulkJob {
  std::string id, object, operation, external_id_field, state = "Open";
  std::string csv;
  std::string successful, failed, unprocessed;
  int64_t processed = 0, failures = 0;
  int64_t created_ms = 0;
};

struct SaveOutcome {
  bool success = false;
  bool created = false;
  std::string id;
  std::vector<SfError> errors;
};

struct SalesforceSandbox::Impl {
  SalesforceSandboxOptions options;
  const Clock& clock;
  std::vector<ObjectDef> schema;
  EmulatorFront front;

  mutable std::mutex mu;
  std::unordered_map<std::string, Table> tables;  // by lower-case object name
  int64_t seq = 0;
  std::set<std::string> tokens;
  int64_t token_seq = 0;
  std::unordered_map<std::string, Locator> locators;
  int64_t locator_seq = 0;
  std::unordered_map<std::string, BulkJob> jobs;
  int64_t job_seq = 0;
  FaultSet faults;
  int64_t api_used = 0;
  int64_t concurrent_refused = 0;
  std::map<std::string, int64_t> by_endpoint;

  Impl(SalesforceSandboxOptions o, const Clock& c);  // records.cpp

  int64_t NowMs() const { return ToEpochMillis(clock.Now()); }

  // --- the tables (records.cpp) ---
  void Reset();
  Table* FindTable(const std::string& object);
  void Index(Table& table, const value& record, const std::string& id, bool add);
  SaveOutcome Create(Table& table, const value& input);
  SaveOutcome Update(Table& table, const std::string& raw_id, const value& input);
  SaveOutcome Upsert(Table& table, const std::string& ext_field, const std::string& ext_value,
                     value input);
  SaveOutcome Delete(Table& table, const std::string& raw_id);
  Table* TableForId(const std::string& raw_id);

  // --- values (validation.cpp) ---
  // Checks and converts one input value for a field. Returns false with an error.
  bool ConvertValue(const FieldDef& f, const value& in, value* out, SfError* err);
  // Validates `input` against the table and applies it to `record` (new when create).
  // Unique indexes are checked here and updated by the caller through Commit().
  bool Apply(Table& table, const value& input, bool create, const std::string& own_id,
             value* record, std::vector<SfError>* errors);

  // --- query (query.cpp) ---
  // Resolves a (dotted) field of a record; nullopt for an unknown field.
  std::optional<value> ReadPath(const Table& table, const value& record, const std::string& path,
                                int depth = 0);
  SoqlValue ToSoql(const Table& table, const std::string& path, const value& v);
  value Attributes(const std::string& type, const std::string& id);
  // The JSON of one record for the requested fields (relationships nested).
  value Render(const Table& table, const value& record, const std::vector<std::string>& fields);
  value Page(Locator& loc, const std::string& locator_id, const std::string& version);
  // Runs a query; returns an HTTP status and body.
  std::pair<int, value> RunQuery(const std::string& soql, int page_size,
                                 const std::string& version);

  // --- bulk (bulk.cpp) ---
  value JobInfo(const BulkJob& j);
  void ProcessJob(BulkJob& job);

 private:
  // query.cpp
  std::optional<std::string> UnknownField(const SoqlQuery& q, Table* table);
  std::vector<std::string> MatchingIds(const SoqlQuery& q, Table* table);
  void SortIds(const SoqlQuery& q, Table* table, std::vector<std::string>* ids);
  // bulk.cpp
  SaveOutcome ProcessRow(const BulkJob& job, Table* table, const std::vector<std::string>& header,
                         const std::vector<std::string>& row);
};

// --- HTTP ---

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json;charset=UTF-8";
};

Reply JsonReply(int status, const value& v);                                    // errors.cpp
Reply Errors(int status, const std::string& code, const std::string& message);  // errors.cpp

// The request pipeline (server.cpp): injected faults, then the Handler under the state lock,
// then the answer with Sforce-Limit-Info. Takes mu itself.
void ServeRequest(SalesforceSandbox::Impl& s, IncomingRequest& in);

// Serves one request against the state. Runs under the state lock.
class Handler {
 public:
  Handler(SalesforceSandbox::Impl& s, const std::string& method, const std::string& path,
          const std::string& query, const wh::http_headers& headers, const std::string& body)
      : s_(s), method_(method), path_(path), query_(query), headers_(headers), body_(body) {}

  Reply Serve();  // server.cpp

 private:
  using Segments = std::vector<std::string>;

  std::string Header(const std::string& name) const {
    auto it = headers_.find(name);
    return it == headers_.end() ? "" : it->second;
  }
  std::string QueryParam(const std::string& name) const {
    auto params = web::uri::split_query(query_);
    auto it = params.find(name);
    return it == params.end() ? "" : web::uri::decode(it->second);
  }
  // Parses the JSON body into `out`; the error answer when it is not JSON (server.cpp).
  std::optional<Reply> ParseBody(value* out) const;

  Reply Token();                    // auth.cpp
  Reply Data(const Segments& seg);  // server.cpp
  Reply Limits(const Segments& seg);
  Reply SObjects(const Segments& seg);  // sobjects.cpp
  Reply CreateRecord(Table* table);
  Reply Record(Table* table, const std::string& raw_id);
  Reply GetRecord(Table* table, const value& record);
  Reply UpsertRecord(Table* table, const std::string& ext_field, const std::string& ext_value);
  Reply Composite(const Segments& seg);  // composite.cpp
  Reply DeleteCollection();
  SaveOutcome SaveCollectionRecord(const value& rec, const Segments& seg, bool upsert);
  Reply Query(const Segments& seg);  // query.cpp
  Reply Jobs(const Segments& seg);   // bulk.cpp
  Reply CreateJob();
  Reply JobStatus(BulkJob& job);
  Reply SetJobState(BulkJob& job);
  Reply Admin(const Segments& seg);      // admin.cpp
  value Describe(const ObjectDef& def);  // schema.cpp
  value DescribeGlobal();
  value SaveJson(const SaveOutcome& o, bool with_created);         // errors.cpp
  bool VerifyJwt(const std::string& assertion, std::string* why);  // auth.cpp

  SalesforceSandbox::Impl& s_;
  const std::string method_, path_, query_;
  const wh::http_headers& headers_;
  const std::string& body_;
  std::string version_ = "61.0";
};

}  // namespace tandem::sandbox::salesforce
