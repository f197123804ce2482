// Random: the seam for randomness (backoff jitter, ids). Tests pass a seeded generator;
// nothing in Tandem draws unseeded randomness outside app/.
// Thread-safety: SeededRandom is internally locked and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>

namespace tandem {

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, bound); returns 0 when bound is 0.
  virtual uint64_t Uniform(uint64_t bound) = 0;
};
using RandomPtr = std::unique_ptr<Random>;

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}

  // Random methods
  uint64_t Uniform(uint64_t bound) override {
    if (bound == 0) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(engine_);
  }

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;  // GUARDED_BY(mu_)
};

}  // namespace tandem
