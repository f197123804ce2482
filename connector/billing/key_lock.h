// KeyLock: one holder at a time for a key, among every Tandem process sharing a store. A
// billing system that keeps no idempotency keys (GTV) makes a create exactly-once by looking
// up its natural key first; two workers creating the same record at once (two orders of one
// account, each syncing it) would both find nothing and both create. The adapter holds the
// key's lock from the look-up to the create. The store's implementation is wired in app/;
// LocalKeyLock serves one process (tests, tools without a store).
// Thread-safety: implementations are thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "util/clock.h"
#include "util/result.h"

namespace tandem::connector::billing {

class KeyLock {
 public:
  virtual ~KeyLock() = default;
  // Takes `key` for `holder` for `lease` (the holder renews by taking it again): true when
  // taken, false when another holder has it.
  virtual Result<bool> TryLock(const std::string& key, const std::string& holder, Millis lease) = 0;
  virtual Status Unlock(const std::string& key, const std::string& holder) = 0;
};

class LocalKeyLock final : public KeyLock {
 public:
  Result<bool> TryLock(const std::string& key, const std::string& holder, Millis) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, fresh] = held_.emplace(key, holder);
    return fresh || it->second == holder;
  }
  Status Unlock(const std::string& key, const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(key);
    if (it != held_.end() && it->second == holder) held_.erase(it);
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> held_;  // key → holder
};

}  // namespace tandem::connector::billing
