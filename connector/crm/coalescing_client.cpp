#include "connector/crm/coalescing_client.h"

#include <cctype>
#include <exception>
#include <set>

namespace tandem::connector::crm {
namespace {
constexpr size_t kCallSize = 200;  // sObject Collections take at most 200 records a call
constexpr char kUpsert = 'u';
constexpr char kUpdate = 'p';

// The key Salesforce knows a written record by within one call: its Id (update) or its external
// id (upsert; folded, as most external ids match case-insensitively).
std::string WriteKey(char op, const std::string& external_field, const Json& record) {
  std::string key = op == kUpsert ? record[external_field].ToText()
                                  : (record.Has("Id") ? record["Id"] : record["id"]).ToText();
  if (op == kUpsert)
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  else if (key.size() == 18)
    key.resize(15);  // one record, in its 15- or 18-character form
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
  const char op = std::get<0>(key);
  const std::string& external_field = std::get<2>(key);
  while (!group.waiting.empty() &&
         all.size() + group.waiting.front()->records->size() <= kCallSize) {
    Pending* next = group.waiting.front();
    std::vector<std::string> its;
    bool clash = false;
    for (const Json& r : *next->records) {
      its.push_back(WriteKey(op, external_field, r));
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

}  // namespace tandem::connector::crm
