// Counts work that a server started and has not finished (a request between its arrival and
// the end of its reply), so that shutting down can wait for it: state the work uses is not
// freed under it, and nothing is still pending in a library's task chain when the process exits.
// Thread-safety: all members are safe to call concurrently.
#pragma once

#include <condition_variable>
#include <mutex>

namespace tandem {

class InFlight {
 public:
  // Starts one piece of work. False once Close() was called: the work must not start.
  bool Enter() {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    ++running_;
    return true;
  }
  // Ends one piece of work that Enter() started.
  void Exit() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }
  // Refuses new work and waits until the running work has ended.
  void CloseAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    closed_ = true;
    idle_.wait(lock, [&] { return running_ == 0; });
  }
  // Waits until no work is running; new work is still accepted afterwards.
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int running_ = 0;
  bool closed_ = false;
};

}  // namespace tandem
