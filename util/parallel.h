// ParallelFor: fn(0) … fn(n-1) on up to `workers` threads (the caller's among them), each
// index once. What it is for: calls that spend their time waiting on a remote (a billing
// write answers in hundreds of milliseconds), kept in flight together; a rate limiter below
// keeps the rate. A worker that throws (a broken invariant) stops taking indexes; the first
// exception is raised again here after every worker joined, so no caller records progress
// for work that did not run.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace tandem {

inline void ParallelFor(size_t n, int workers, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto worker = [&] {
    try {
      for (size_t i = next++; i < n; i = next++) fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  const size_t threads_wanted = std::min(n, static_cast<size_t>(std::max(1, workers)));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < threads_wanted; ++t) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no more threads to be had (a pids limit): the ones started do the work
    }
  }
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// As ParallelFor on up to `max_workers` threads, but at most limit() indexes run at once,
// limit() read again before each (it follows a remote: connector/http/flow_control.h).
inline void ParallelForLimited(size_t n, int max_workers, const std::function<int()>& limit,
                               const std::function<void(size_t)>& fn) {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  ParallelFor(n, max_workers, [&](size_t i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      // Timed: the limit may rise with nothing finishing.
      while (running >= std::max(1, limit())) cv.wait_for(lock, std::chrono::milliseconds(20));
      ++running;
    }
    struct Leave {
      std::mutex& mu;
      std::condition_variable& cv;
      int& running;
      ~Leave() {
        {
          std::lock_guard<std::mutex> lock(mu);
          --running;
        }
        cv.notify_all();  // the limit may have risen: every waiter looks again
      }
    } leave{mu, cv, running};
    fn(i);
  });
}

}  // namespace tandem
