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

// Real time moved forward by a test, as a Stripe test clock moves a sandbox's time: stamps stay
// real (webhook signatures check them against the verifier's clock, which is this one too).
class ShiftedClock final : public Clock {
 public:
  // Clock methods
  WallTime Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::chrono::system_clock::now() + shift_;
  }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }

  void Advance(Millis d) {
    std::lock_guard<std::mutex> lock(mu_);
    shift_ += d;
  }

 private:
  mutable std::mutex mu_;
  Millis shift_{0};
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
