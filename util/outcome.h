// Outcome: what happened to one record of a batch. A batch never fails as a whole
// because one record is bad; each record gets an Outcome naming the field and reason.
// Thread-safety: a value type.
#pragma once

#include <string>

namespace tandem {

struct Outcome {
  enum class Kind { kCreated, kUpdated, kUnchanged, kSkipped, kFailed };

  Kind kind = Kind::kFailed;
  std::string record_id;   // the record this outcome is about (CRM id, row number, ...)
  std::string remote_id;   // the id on the other side, when one exists
  std::string field;       // for kFailed: the field at fault, when one is
  std::string reason;      // for kFailed/kSkipped: why, for a person to read
  bool retryable = false;  // for kFailed: may pass on its own (unavailable, rate limited, timeout)

  static Outcome Created(std::string id, std::string remote) {
    return Outcome{Kind::kCreated, std::move(id), std::move(remote), {}, {}, false};
  }
  static Outcome Updated(std::string id, std::string remote) {
    return Outcome{Kind::kUpdated, std::move(id), std::move(remote), {}, {}, false};
  }
  static Outcome Unchanged(std::string id, std::string remote) {
    return Outcome{Kind::kUnchanged, std::move(id), std::move(remote), {}, {}, false};
  }
  static Outcome Skipped(std::string id, std::string reason) {
    return Outcome{Kind::kSkipped, std::move(id), {}, {}, std::move(reason), false};
  }
  static Outcome Failed(std::string id, std::string field, std::string reason) {
    return Outcome{Kind::kFailed, std::move(id), {}, std::move(field), std::move(reason), false};
  }

  bool failed() const { return kind == Kind::kFailed; }
  static const char* KindName(Kind kind) {
    switch (kind) {
      case Kind::kCreated:
        return "created";
      case Kind::kUpdated:
        return "updated";
      case Kind::kUnchanged:
        return "unchanged";
      case Kind::kSkipped:
        return "skipped";
      case Kind::kFailed:
        return "failed";
    }
    return "unknown";
  }
};

}  // namespace tandem
