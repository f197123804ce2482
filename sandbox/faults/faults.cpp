#include "sandbox/faults/faults.h"

#include <cpprest/json.h>

namespace tandem::sandbox {

Status ParseFaults(const std::string& json, std::vector<Fault>* out) {
  try {
    const web::json::value root = web::json::value::parse(json);
    std::vector<web::json::value> items;
    if (root.is_array()) {
      for (const auto& v : root.as_array()) items.push_back(v);
    } else {
      items.push_back(root);
    }
    for (const auto& v : items) {
      Fault f;
      for (const auto& kv : v.as_object()) {
        const std::string& k = kv.first;
        if (k == "method")
          f.method = kv.second.as_string();
        else if (k == "path")
          f.path_contains = kv.second.as_string();
        else if (k == "status")
          f.status = kv.second.as_integer();
        else if (k == "error_code")
          f.error_code = kv.second.as_string();
        else if (k == "count")
          f.count = kv.second.as_integer();
        else if (k == "latency_ms")
          f.latency_ms = kv.second.as_integer();
        else
          return Status::InvalidArgument("unknown fault key '" + k +
                                         "' (method, path, status, error_code, count, latency_ms)");
      }
      out->push_back(f);
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("faults: ") + e.what());
  }
  return Status::Ok();
}

std::string FaultKind(const Fault& fault) {
  if (!fault.error_code.empty() && fault.status == 0) return fault.error_code;
  if (fault.error_code == "DROP_CONNECTION" || fault.error_code == "LOSE_RESPONSE" ||
      fault.error_code == "UNABLE_TO_LOCK_ROW")
    return fault.error_code;
  if (fault.status != 0) return std::to_string(fault.status);
  return "latency";
}

std::optional<Fault> FaultSet::Take(const std::string& method, const std::string& path,
                                    const std::function<bool(const Fault&)>& accept) {
  for (auto& a : active_) {
    if (a.remaining == 0) continue;
    if (!a.fault.method.empty() && a.fault.method != method) continue;
    if (path.find(a.fault.path_contains) == std::string::npos) continue;
    if (accept && !accept(a.fault)) continue;
    if (a.remaining > 0) --a.remaining;
    ++hits_[FaultKind(a.fault)];
    return a.fault;
  }
  return std::nullopt;
}

}  // namespace tandem::sandbox
