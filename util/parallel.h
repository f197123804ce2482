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
#include <utility>
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

// Threads that may grow in number while they run: up to `limit` at once, each running one
// function, which may itself start more (a batch of work-order tasks takes in the tasks that
// became runnable while it ran: a batch claimed when few were runnable, at the end of a run,
// otherwise ran the rest one after another on its few threads). Join() waits for every thread,
// those started by the group's own among them, and raises the first exception one threw; from
// that exception on no thread is started (as ParallelFor stops handing out indexes).
// Thread-safety: all members but Join may be called from any thread, the group's own included.
class ThreadGroup {
 public:
  explicit ThreadGroup(int limit) : limit_(std::max(1, limit)) {}
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { JoinAll(); }  // a group left by an exception: its threads end first

  // Takes up to `most` free slots for threads the caller is about to Start: how many.
  int Reserve(int most) {
    std::lock_guard<std::mutex> lock(mu_);
    return ReserveLocked(most);
  }
  // As Reserve, under a new limit from now on (the threads running go on): one step, so two
  // callers reading a changing limit cannot leave the older one in force.
  int Reserve(int most, int limit) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = std::max(1, limit);
    return ReserveLocked(most);
  }
  // Gives back reserved slots not used.
  void Unreserve(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    taken_ -= n;
  }
  // Runs `fn` on a thread of its own, in a slot Reserve()d for it. False, the slot given back,
  // when no thread is to be had (a pids limit) or one of the group's threw: the caller runs
  // the work itself or leaves it.
  bool StartReserved(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) {
      try {
        threads_.emplace_back([this, fn = std::move(fn)] {
          try {
            fn();
          } catch (...) {
            std::lock_guard<std::mutex> inner(mu_);
            if (!error_) error_ = std::current_exception();
          }
          std::lock_guard<std::mutex> inner(mu_);
          --taken_;
        });
        return true;
      } catch (const std::system_error&) {
      }
    }
    --taken_;
    return false;
  }
  // Whether one of the group's threads threw.
  bool failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_ != nullptr;
  }
  // Waits for every thread, then raises the first exception one threw. Not from the group's
  // own threads.
  void Join() {
    JoinAll();
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  int ReserveLocked(int most) {  // REQUIRES: mu_ held
    if (error_) return 0;
    const int n = std::clamp(limit_ - taken_, 0, std::max(0, most));
    taken_ += n;
    return n;
  }
  void JoinAll() {
    for (;;) {  // a thread joined may have started others: until none is left
      std::thread t;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (threads_.empty()) return;
        t = std::move(threads_.back());
        threads_.pop_back();
      }
      t.join();
    }
  }

  mutable std::mutex mu_;
  int limit_;                         // GUARDED_BY(mu_)
  int taken_ = 0;                     // GUARDED_BY(mu_): threads running and slots reserved
  std::exception_ptr error_;          // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;  // GUARDED_BY(mu_): started, not joined
};

}  // namespace tandem
