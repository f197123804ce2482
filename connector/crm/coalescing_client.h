// CoalescingCrmClient: many threads each writing a few records become one Collections call,
// and many each reading a few records by id one query.
// Work-order tasks write one CRM record each (a service's inventory upsert, an account's link
// fields); at Salesforce's latency those single writes filled the org's concurrent-request cap
// and left billing idle. Writes of one kind (upsert by one external id field, or update) to one
// object that arrive while such a call is in flight wait and go together in the next call, up
// to 200 records (group commit: no timer, so a lone write goes at once; the first upsert by an
// external id field waits for its object's describe, once per process, or again after a
// describe that failed: see FoldsCase).
// Each caller gets its own records' results. Reads by id of one object and fields join the
// same way once 4 queries are out (a work order's account sync reads its one Account: at the
// start of a run hundreds at once, which at 25 requests in flight held billing back for
// seconds), and a query waits `linger` after its first caller came for others to join it:
// reads that arrive together (a batch's account syncs start within some 25 ms) share a query
// rather than the first 4 going alone and the rest a round trip (300 ms) later. A lone read
// pays the linger, a few per cent of the CRM's answer. Everything else passes through.
// Thread-safety: thread-safe; `inner` must be too and must outlive this.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "connector/crm/crm_client.h"

namespace tandem::connector::crm {

class CoalescingCrmClient : public CrmClient {
 public:
  static constexpr std::chrono::milliseconds kLinger{20};
  explicit CoalescingCrmClient(CrmClient& inner, std::chrono::milliseconds linger = kLinger)
      : inner_(inner), linger_(linger) {}

  // A failed record is a Status, as the inner client's single upsert answers: its own fault
  // InvalidArgument, anything else (a lock, a limit, the whole call failing) Unavailable.
  Result<SaveResult> Upsert(const std::string& object, const std::string& external_field,
                            const std::string& external_value, const Json& fields) override;
  Result<std::vector<SaveResult>> UpsertMany(const std::string& object,
                                             const std::string& external_field,
                                             const std::vector<Json>& records) override;
  Result<std::vector<SaveResult>> UpdateMany(const std::string& object,
                                             const std::vector<Json>& records) override;

  Result<Json> Describe(const std::string& object) override { return inner_.Describe(object); }
  Result<Json> Retrieve(const std::string& object, const std::string& id,
                        const std::vector<std::string>& fields) override {
    return inner_.Retrieve(object, id, fields);
  }
  Result<std::string> Create(const std::string& object, const Json& fields) override {
    return inner_.Create(object, fields);
  }
  Status Update(const std::string& object, const std::string& id, const Json& fields) override {
    return inner_.Update(object, id, fields);
  }
  Status Delete(const std::string& object, const std::string& id) override {
    return inner_.Delete(object, id);
  }
  Status Query(const std::string& soql, const RecordCallback& on_record) override {
    return inner_.Query(soql, on_record);
  }
  // A failed shared query is every caller's failure, unless the CRM refused it as malformed
  // (InvalidArgument): then each caller queries alone, so the refusal reaches only the one it
  // belongs to. A caller with 200 ids, or with a string that is no record id, queries alone.
  Status QueryByIds(const std::string& object, const std::vector<std::string>& fields,
                    const std::vector<std::string>& ids, const RecordCallback& on_record) override;
  Result<std::vector<SaveResult>> CreateMany(const std::string& object,
                                             const std::vector<Json>& records) override {
    return inner_.CreateMany(object, records);
  }
  Result<std::vector<SaveResult>> DeleteMany(const std::vector<std::string>& ids) override {
    return inner_.DeleteMany(ids);
  }
  Result<BulkResult> BulkIngest(const BulkRequest& request) override {
    return inner_.BulkIngest(request);
  }
  Result<BulkResult> BulkAttach(const std::string& job_id, const BulkRequest& request) override {
    return inner_.BulkAttach(job_id, request);
  }
  Result<ApiLimits> Limits() override { return inner_.Limits(); }
  int PreferredInFlight() const override { return inner_.PreferredInFlight(); }

  // How many of this client's write calls reached the inner client, and how many writes they
  // carried (for tests and metrics).
  struct Counts {
    int64_t calls = 0;
    int64_t writes = 0;
    int64_t read_calls = 0;  // queries by id
    int64_t reads = 0;       // ids asked for in them
    int64_t describes = 0;   // of an object whose external id field an upsert names
  };
  Counts counts() const;

 private:
  // One caller's records, waiting for a call.
  struct Pending {
    const std::vector<Json>* records;
    Result<std::vector<SaveResult>> results{std::vector<SaveResult>{}};
    bool done = false;
  };
  // The writes of one kind to one object: who waits, and whether a call is out.
  struct Group {
    std::deque<Pending*> waiting;
    bool sending = false;
    std::condition_variable turn;
  };
  // (operation, object, external id field)
  using GroupKey = std::tuple<char, std::string, std::string>;

  Result<std::vector<SaveResult>> Submit(const GroupKey& key, const std::vector<Json>& records);

  // One caller's read by id, waiting for a query.
  struct PendingRead {
    const std::vector<std::string>* ids = nullptr;
    std::vector<Json> records;  // its ids' records, once answered
    Status status = Status::Ok();
    bool taken = false;  // in a leader's query (out of `waiting`)
    bool done = false;   // answered
    bool alone = false;  // the shared query was refused: ask for its own ids
  };
  struct ReadGroup {
    std::deque<PendingRead*> waiting;
    int in_flight = 0;
    std::condition_variable turn;
  };
  // (object, its fields joined)
  using ReadKey = std::pair<std::string, std::string>;
  Status ReadTogether(const std::string& object, const std::vector<std::string>& fields,
                      const std::vector<std::string>& ids, std::vector<Json>* records);
  Result<std::vector<SaveResult>> Send(const GroupKey& key, const std::vector<Json>& records);
  // Whether upserts by `field` of `object` match its values ignoring case (the field's
  // describe: "caseSensitive"), so that values differing in case alone name one record and
  // must not share a call. Sequential test ids ("sub_…4Im", "sub_…4IM") clashed when folded
  // although the field is case-sensitive: 37 of 1,000 inventory writes waited a call more.
  bool FoldsCase(const std::string& object, const std::string& field);

  CrmClient& inner_;
  const std::chrono::milliseconds linger_;
  mutable std::mutex mu_;
  std::map<GroupKey, Group> groups_;    // GUARDED_BY(mu_)
  std::map<ReadKey, ReadGroup> reads_;  // GUARDED_BY(mu_)
  Counts counts_;                       // GUARDED_BY(mu_)
  std::mutex describe_mu_;              // held across a describe (taken before mu_)
  std::map<std::pair<std::string, std::string>, bool> folds_;  // GUARDED_BY(mu_)
};

}  // namespace tandem::connector::crm
