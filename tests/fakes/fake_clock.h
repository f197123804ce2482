// FakeClock and FakeSleeper: frozen time that moves only when a test (or a Sleep) moves it.
// Thread-safety: both are internally locked.
#pragma once

#include <mutex>
#include <vector>

#include "util/clock.h"

namespace tandem::testing {

class FakeClock final : public Clock {
 public:
  // 2026-01-01T00:00:00Z: a fixed, readable start.
  explicit FakeClock(int64_t epoch_ms = 1767225600000) : wall_(Millis(epoch_ms)) {}

  // Clock methods
  WallTime Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  SteadyTime SteadyNow() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return SteadyTime(steady_);
  }

  void Advance(Millis d) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ += d;
    steady_ += d;
  }

 private:
  mutable std::mutex mu_;
  WallTime wall_;
  Millis steady_{1'000'000};
};

// Records each requested sleep and advances the clock instead of blocking.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock& clock) : clock_(clock) {}

  // Sleeper methods
  void Sleep(Millis d) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sleeps_.push_back(d);
    }
    clock_.Advance(d);
  }

  std::vector<Millis> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  FakeClock& clock_;
  mutable std::mutex mu_;
  std::vector<Millis> sleeps_;
};

}  // namespace tandem::testing
