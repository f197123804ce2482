#include "connector/crm/coalescing_client.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <optional>
#include <set>

#include "connector/crm/soql.h"

namespace tandem::connector::crm {
namespace {
constexpr size_t kCallSize = 200;  // sObject Collections take at most 200 records a call
constexpr char kUpsert = 'u';
constexpr char kUpdate = 'p';
// Reads by id of one object out at once: a read finding fewer goes after its linger (the
// header), with whoever came meanwhile; more join into the next query that goes.
constexpr int kReadsInFlight = 4;

// The key Salesforce knows a written record by within one call: its Id (update) or its external
// id (upsert; folded when the field matches values ignoring case, Salesforce's default).
std::string WriteKey(char op, const std::string& external_field, bool fold, const Json& record) {
  std::string key = op == kUpsert ? record[external_field].ToText()
                                  : (record.Has("Id") ? record["Id"] : record["id"]).ToText();
  if (op == kUpsert) {
    if (fold)
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  } else if (key.size() == 18) {
    // One record, in its 15- or 18-character form (an external id of 18 characters is not cut).
    key.resize(15);
  }
  return key;
}

// Whether Salesforce refused the call as a whole for a reason that sending it again will not
// change (a value it could not parse, say), as opposed to the CRM being unavailable.
bool RefusedWhole(const Result<std::vector<SaveResult>>& results) {
  if (!results.ok()) return !results.status().IsUnavailable() && !results.status().IsRateLimited();
  if (results->empty()) return false;
  for (const auto& r : *results)
    if (r.success || r.errors.empty() || r.errors.front().code != kCallRefused) return false;
  return true;
}

bool EqualsIgnoringCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A record among the ids asked for: by its 15-character id (the CRM answers with 18).
std::string IdKey(const std::string& id) { return id.size() == 18 ? id.substr(0, 15) : id; }
}  // namespace

Result<SaveResult> CoalescingCrmClient::Upsert(const std::string& object,
                                               const std::string& external_field,
                                               const std::string& external_value,
                                               const Json& fields) {
  if (external_value.empty()) return Status::InvalidArgument("upsert needs an external id value");
  Json record = fields;
  record.Set(external_field, external_value);
  const std::vector<Json> one{record};
  auto results = Submit({kUpsert, object, external_field}, one);
  if (!results.ok()) return results.status();
  if (results->size() != 1)
    return Status::Internal("upsert " + object + ": " + std::to_string(results->size()) +
                            " results for one record");
  SaveResult& r = results->front();
  if (!r.success && !r.errors.empty() && r.errors.front().code == "MULTIPLE_CHOICES")
    return Status::Conflict("upsert " + object + ": several records have " + external_field +
                            " = '" + external_value + "'; not choosing one");
  if (!r.success)
    return r.ToStatus("upsert " + object + " " + external_field + "=" + external_value);
  return std::move(r);
}

Result<std::vector<SaveResult>> CoalescingCrmClient::UpsertMany(const std::string& object,
                                                                const std::string& external_field,
                                                                const std::vector<Json>& records) {
  return Submit({kUpsert, object, external_field}, records);
}

Result<std::vector<SaveResult>> CoalescingCrmClient::UpdateMany(const std::string& object,
                                                                const std::vector<Json>& records) {
  return Submit({kUpdate, object, ""}, records);
}

CoalescingCrmClient::Counts CoalescingCrmClient::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

bool CoalescingCrmClient::FoldsCase(const std::string& object, const std::string& field) {
  auto known = [&]() -> std::optional<bool> {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = folds_.find({object, field});
    if (it == folds_.end()) return std::nullopt;
    return it->second;
  };
  if (auto fold = known()) return *fold;
  // One describe at a time, whoever asks first; the others wait for its answer (writes whose
  // field is known do not: they answered above).
  std::lock_guard<std::mutex> describing(describe_mu_);
  if (auto fold = known()) return *fold;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.describes;
  }
  auto described = inner_.Describe(object);
  // Unknown (the describe failed): folded this time, asked again by the next write. Two values
  // that may name one record then go in separate calls, which costs a call and is never
  // refused.
  if (!described.ok()) return true;
  bool fold = true;  // a field the describe does not list: Salesforce's default
  for (const Json& f : (*described)["fields"].array())
    if (EqualsIgnoringCase(f["name"].as_string(), field)) fold = !f["caseSensitive"].as_bool(false);
  std::lock_guard<std::mutex> lock(mu_);
  folds_[{object, field}] = fold;
  return fold;
}

Result<std::vector<SaveResult>> CoalescingCrmClient::Send(const GroupKey& key,
                                                          const std::vector<Json>& records) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.calls;
    counts_.writes += static_cast<int64_t>(records.size());
  }
  const auto& [op, object, external_field] = key;
  return op == kUpsert ? inner_.UpsertMany(object, external_field, records)
                       : inner_.UpdateMany(object, records);
}

Result<std::vector<SaveResult>> CoalescingCrmClient::Submit(const GroupKey& key,
                                                            const std::vector<Json>& records) {
  if (records.empty()) return std::vector<SaveResult>{};
  // A full call's worth gains nothing from company, and must not wait behind small ones.
  if (records.size() >= kCallSize) return Send(key, records);
  const char op = std::get<0>(key);
  const std::string& external_field = std::get<2>(key);
  const bool fold = op == kUpsert && FoldsCase(std::get<1>(key), external_field);
  Pending me{&records};
  std::unique_lock<std::mutex> lock(mu_);
  Group& group = groups_[key];  // never erased: a woken waiter may still be reading its turn
  group.waiting.push_back(&me);
  group.turn.wait(lock,
                  [&] { return me.done || (!group.sending && group.waiting.front() == &me); });
  if (me.done) return std::move(me.results);

  // This caller's turn: it sends for itself and for those behind it whose records fit.
  // Salesforce refuses one record twice in a call (every occurrence fails), so a second write
  // to a record already in the call waits for the next one, and so does everyone behind it:
  // writes to one record keep their order.
  std::vector<Pending*> batch;
  std::vector<Json> all;
  std::set<std::string> keys;
  while (!group.waiting.empty() &&
         all.size() + group.waiting.front()->records->size() <= kCallSize) {
    Pending* next = group.waiting.front();
    std::vector<std::string> its;
    bool clash = false;
    for (const Json& r : *next->records) {
      its.push_back(WriteKey(op, external_field, fold, r));
      clash = clash || (!batch.empty() && keys.count(its.back()) > 0);
    }
    if (clash) break;
    keys.insert(its.begin(), its.end());
    group.waiting.pop_front();
    batch.push_back(next);
    all.insert(all.end(), next->records->begin(), next->records->end());
  }
  group.sending = true;
  lock.unlock();
  auto send = [&](const std::vector<Json>& what) -> Result<std::vector<SaveResult>> {
    try {
      auto answered = Send(key, what);
      if (answered.ok() && answered->size() != what.size())
        return Status::Unavailable("CRM write: " + std::to_string(answered->size()) +
                                   " results for " + std::to_string(what.size()) + " records");
      return answered;
    } catch (const std::exception& e) {
      // Truly unexpected, but the callers behind this one must not wait for ever.
      return Status::Unavailable(std::string("CRM write: ") + e.what());
    }
  };
  auto results = send(all);
  // One caller's record can make Salesforce refuse a whole call: then each caller goes again
  // on its own, so the refusal reaches only the caller it belongs to.
  const bool each_alone = batch.size() > 1 && RefusedWhole(results);
  if (each_alone)
    for (Pending* p : batch) p->results = send(*p->records);
  lock.lock();
  size_t at = 0;
  for (Pending* p : batch) {
    const size_t n = p->records->size();
    if (each_alone) {
      // answered above
    } else if (results.ok())
      p->results = std::vector<SaveResult>(results->begin() + static_cast<std::ptrdiff_t>(at),
                                           results->begin() + static_cast<std::ptrdiff_t>(at + n));
    else
      p->results = results.status();
    at += n;
    p->done = true;
  }
  group.sending = false;
  group.turn.notify_all();
  return std::move(me.results);
}

Status CoalescingCrmClient::QueryByIds(const std::string& object,
                                       const std::vector<std::string>& fields,
                                       const std::vector<std::string>& ids,
                                       const RecordCallback& on_record) {
  if (ids.empty()) return Status::Ok();
  // A full query's worth gains nothing from company; what the caller alone got wrong (a field
  // name, too many ids, a string that is no record id) must fail only that caller.
  if (ids.size() >= kIdsPerRead || std::any_of(ids.begin(), ids.end(), [](const std::string& id) {
        return !IsSalesforceId(id);
      }))
    return CrmClient::QueryByIds(object, fields, ids, on_record);
  if (auto own = SoqlBuilder(object, fields).WhereIn("Id", ids).Build(); !own.ok())
    return own.status();
  std::vector<Json> records;
  TANDEM_RETURN_IF_ERROR(ReadTogether(object, fields, ids, &records));
  for (const Json& r : records) TANDEM_RETURN_IF_ERROR(on_record(r));
  return Status::Ok();
}

Status CoalescingCrmClient::ReadTogether(const std::string& object,
                                         const std::vector<std::string>& fields,
                                         const std::vector<std::string>& ids,
                                         std::vector<Json>* records) {
  std::vector<std::string> asked = fields;  // a shared answer is shared out by Id
  if (std::none_of(asked.begin(), asked.end(), [](const std::string& f) { return f == "Id"; }))
    asked.push_back("Id");
  auto query = [&](const std::vector<std::string>& which, std::vector<Json>* got) -> Status {
    try {
      auto soql = SoqlBuilder(object, asked).WhereIn("Id", which).Build();
      if (!soql.ok()) return soql.status();
      return inner_.Query(*soql, [&](const Json& r) {
        got->push_back(r);
        return Status::Ok();
      });
    } catch (...) {
      // Truly unexpected, but the callers sharing this query must not wait for ever.
      return Status::Unavailable("CRM query: an unexpected exception");
    }
  };
  std::string joined;
  for (const auto& f : fields) joined += f + ",";
  PendingRead me;
  me.ids = &ids;
  const auto leave_at = std::chrono::steady_clock::now() + linger_;
  std::unique_lock<std::mutex> lock(mu_);
  ReadGroup& group = reads_[{object, joined}];  // never erased, as groups_
  group.waiting.push_back(&me);
  // A caller another leader took is no longer in `waiting`: it waits for that leader alone.
  group.turn.wait(lock, [&] {
    return me.done ||
           (!me.taken && group.in_flight < kReadsInFlight && group.waiting.front() == &me);
  });
  if (!me.done) {
    // This caller's turn, at the front until it takes the batch below: nobody else leads.
    while (std::chrono::steady_clock::now() < leave_at) group.turn.wait_until(lock, leave_at);
    // One query for its ids and those of the callers behind it that fit.
    std::vector<PendingRead*> batch;
    std::vector<std::string> all;
    std::set<std::string> keys;
    while (!group.waiting.empty()) {
      PendingRead* next = group.waiting.front();
      std::vector<std::string> fresh;  // its ids not asked for yet, each once
      std::set<std::string> its;
      for (const auto& id : *next->ids)
        if (!keys.count(IdKey(id)) && its.insert(IdKey(id)).second) fresh.push_back(id);
      if (!batch.empty() && all.size() + fresh.size() > kIdsPerRead) break;
      keys.insert(its.begin(), its.end());
      all.insert(all.end(), fresh.begin(), fresh.end());
      next->taken = true;
      batch.push_back(next);
      group.waiting.pop_front();
    }
    ++counts_.read_calls;
    counts_.reads += static_cast<int64_t>(all.size());
    ++group.in_flight;
    // Callers left over may have a free slot of their own.
    if (!group.waiting.empty() && group.in_flight < kReadsInFlight) group.turn.notify_all();
    lock.unlock();
    std::vector<Json> got;
    const Status shared = query(all, &got);
    // Only a query the CRM refused as malformed can be one caller's fault; a timeout, an outage
    // or a refused login is everyone's, and asking again per caller would only repeat it.
    const bool each_alone = batch.size() > 1 && shared.IsInvalidArgument();
    lock.lock();
    for (PendingRead* p : batch) {
      if (each_alone) {
        p->alone = true;  // asks on its own thread, below: the callers' queries run at once
      } else if (!shared.ok()) {
        p->status = shared;
      } else {
        std::set<std::string> its;
        for (const auto& id : *p->ids) its.insert(IdKey(id));
        for (const Json& r : got)
          if (its.count(IdKey(r["Id"].ToText()))) p->records.push_back(r);
      }
      p->done = true;
    }
    --group.in_flight;
    group.turn.notify_all();
  }
  if (me.alone) {
    ++counts_.read_calls;
    lock.unlock();
    me.records.clear();
    me.status = query(ids, &me.records);
  }
  *records = std::move(me.records);
  return me.status;
}

}  // namespace tandem::connector::crm
