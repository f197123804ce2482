// Result<T>: a value or a non-OK Status (C++17 has no std::expected).
// Thread-safety: a value type; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "util/status.h"

namespace tandem {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or an error so that `return value;` and `return status;` both work.
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    // An OK Result must carry a value; constructing one from Status::Ok() is a programmer error.
    assert(!status_.ok());
    if (status_.ok()) status_ = Status::Internal("Result constructed from OK status without value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

  T value_or(T fallback) const { return ok() ? *value_ : std::move(fallback); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tandem

// Propagates a non-OK Status from an expression returning Status.
#define TANDEM_RETURN_IF_ERROR(expr) \
  do {                               \
    ::tandem::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)
