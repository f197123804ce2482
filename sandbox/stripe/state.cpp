// The emulator's objects: ids, storing and finding them, and lists with Stripe's pagination
// (limit, starting_after, ending_before) and expansion.
#include <algorithm>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {

value List(const std::vector<value>& data, const std::string& url, bool has_more) {
  value out = value::object();
  out["object"] = value::string("list");
  value arr = value::array();
  for (size_t i = 0; i < data.size(); ++i) arr[i] = data[i];
  out["data"] = arr;
  out["has_more"] = value::boolean(has_more);
  out["url"] = value::string(url);
  return out;
}

std::string StripeSandbox::Impl::NewId(const std::string& prefix) {
  static const char* kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  int64_t n = ++seq;
  std::string body(14, '0');
  for (int i = 13; i >= 0 && n > 0; --i) {
    body[static_cast<size_t>(i)] = kDigits[n % 62];
    n /= 62;
  }
  return prefix + "_Sbx" + body;
}

value* StripeSandbox::Impl::Find(const std::string& kind, const std::string& id) {
  auto& m = objects[kind];
  auto it = m.find(id);
  return it == m.end() ? nullptr : &it->second;
}

value& StripeSandbox::Impl::Store(const std::string& kind, value obj) {
  const std::string id = obj.at("id").as_string();
  auto& m = objects[kind];
  if (!m.count(id)) {
    ForgetOldest(kind);
    order[kind].push_back(id);
    ++made[kind];
  }
  kind_of[id] = kind;
  return m[id] = std::move(obj);
}

namespace {

// What a bulk load makes per request: the kinds options.retain bounds. A price only when made
// for one item (price_data, kept inactive): catalog prices are looked up by the load.
bool Forgettable(const std::string& kind, const value& obj) {
  if (kind == "price")
    return obj.has_field("active") && obj.at("active").is_boolean() && !obj.at("active").as_bool();
  return kind == "event" || kind == "subscription" || kind == "invoice" || kind == "invoiceitem" ||
         kind == "charge";
}

}  // namespace

void StripeSandbox::Impl::ForgetOldest(const std::string& kind) {
  auto& ids = order[kind];
  if (options.retain == 0 || ids.size() < 2 * options.retain) return;
  auto& m = objects[kind];
  const size_t newest_kept = ids.size() - options.retain;
  std::vector<std::string> kept;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = m.find(ids[i]);
    if (it == m.end()) continue;
    if (i < newest_kept && Forgettable(kind, it->second)) {
      kind_of.erase(ids[i]);
      m.erase(it);
      continue;
    }
    kept.push_back(std::move(ids[i]));
  }
  ids = std::move(kept);
}

void StripeSandbox::Impl::Remember(const std::string& key, Idem idem) {
  const bool added = idempotency.insert_or_assign(key, std::move(idem)).second;
  if (options.retain == 0) return;
  if (added) idempotency_order.push_back(key);
  while (idempotency_order.size() > options.retain) {
    idempotency.erase(idempotency_order.front());
    idempotency_order.pop_front();
  }
}

Reply StripeSandbox::Impl::ListOf(const std::string& kind, const value& q, const std::string& url,
                                  const std::function<bool(const value&)>& keep) {
  int64_t limit = Int(q, "limit", 10);
  if (limit < 1 || limit > 100)
    ThrowInvalid("limit", "This value must be between 1 and 100 (it currently is " +
                              std::to_string(limit) + ")");
  const std::string after = Str(q, "starting_after");
  const std::string before = Str(q, "ending_before");
  const auto& ids = order[kind];
  std::vector<value> data;
  if (!before.empty()) {
    // The `limit` objects just newer than `before`, newest first (Stripe's backward page).
    if (!Find(kind, before)) throw BadRequest{Missing(kind, before)};
    auto at = std::find(ids.begin(), ids.end(), before);
    std::vector<value> newer;
    bool more = false;
    for (auto it = at + 1; it != ids.end(); ++it) {
      const value* obj = Find(kind, *it);
      if (!obj || !keep(*obj)) continue;
      if (static_cast<int64_t>(newer.size()) == limit) {
        more = true;
        break;
      }
      newer.push_back(Expand(*obj, q, true));
    }
    std::reverse(newer.begin(), newer.end());
    return Reply{200, List(newer, url, more), {}};
  }
  bool started = after.empty(), has_more = false;
  if (!after.empty() && !Find(kind, after)) throw BadRequest{Missing(kind, after)};
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {  // newest first
    if (!started) {
      started = *it == after;
      continue;
    }
    const value* obj = Find(kind, *it);
    if (!obj || !keep(*obj)) continue;
    if (static_cast<int64_t>(data.size()) == limit) {
      has_more = true;
      break;
    }
    data.push_back(Expand(*obj, q, true));
  }
  return Reply{200, List(data, url, has_more), {}};
}

value StripeSandbox::Impl::Expand(value obj, const value& q, bool in_list) {
  if (!Has(q, "expand") || !q.at("expand").is_array()) return obj;
  for (const auto& e : q.at("expand").as_array()) {
    std::string path = e.as_string();
    if (in_list && path.rfind("data.", 0) == 0) path = path.substr(5);
    if (obj.has_field(path) && obj.at(path).is_string()) {
      const std::string id = obj.at(path).as_string();
      auto k = kind_of.find(id);
      if (k != kind_of.end())
        if (value* target = Find(k->second, id)) obj[path] = *target;
    }
  }
  return obj;
}

}  // namespace tandem::sandbox::stripe
