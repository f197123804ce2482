// Status: the outcome of an operation that can fail in an expected way.
// Modelled on LevelDB's Status: a small value with named constructors, ok(), IsX()
// and ToString(). Expected failures (a 4xx, a bad row, a dead link) travel as values;
// exceptions are reserved for bad startup config and broken invariants (docs/adr/0001).
// Thread-safety: a Status is an immutable value; copies may be used from any thread.
#pragma once

#include <string>
#include <utility>

namespace tandem {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the caller's input is wrong (bad config value, bad row)
    kNotFound,
    kAlreadyExists,
    kConflict,         // e.g. several records match an external id
    kUnauthenticated,  // credentials missing or rejected
    kPermissionDenied,
    kRateLimited,  // the remote asked us to slow down (429, REQUEST_LIMIT_EXCEEDED)
    kUnavailable,  // transient remote failure (502/503/504, connect error, dropped)
    kTimeout,
    kRemoteError,  // the remote answered with an error that is not transient
    kIoError,      // local files, the database
    kCorruption,   // stored state that violates an invariant
    kCancelled,
    kInternal,
  };

  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }
  static Status Unauthenticated(std::string msg) {
    return Status(Code::kUnauthenticated, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status RateLimited(std::string msg) { return Status(Code::kRateLimited, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status RemoteError(std::string msg) { return Status(Code::kRemoteError, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Cancelled(std::string msg) { return Status(Code::kCancelled, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsAlreadyExists() const { return code_ == Code::kAlreadyExists; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsUnauthenticated() const { return code_ == Code::kUnauthenticated; }
  bool IsRateLimited() const { return code_ == Code::kRateLimited; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsTimeout() const { return code_ == Code::kTimeout; }
  bool IsRemoteError() const { return code_ == Code::kRemoteError; }
  bool IsIoError() const { return code_ == Code::kIoError; }

  // A transient failure: trying the same thing later may succeed.
  bool IsTransient() const {
    return code_ == Code::kRateLimited || code_ == Code::kUnavailable || code_ == Code::kTimeout;
  }

  // Returns a copy whose message is prefixed with `context` ("loading x.yaml: ...").
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;
  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace tandem
