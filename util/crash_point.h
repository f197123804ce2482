// CrashPoints: named places where a test can make the process die at once (SIGKILL),
// to prove that work is never half-applied and resumes cleanly (LevelDB's
// fault_injection_test kills around its sync point the same way).
// Armed only by app/ from the TANDEM_CRASH_AT environment variable ("name" or "name#N" for
// the N-th hit); production code just calls Hit(). Thread-safety: Hit() is thread-safe.
#pragma once

#include <atomic>
#include <string>

namespace tandem {

class CrashPoints {
 public:
  CrashPoints() = default;
  // `spec` is "name" (first hit) or "name#N" (N-th hit); empty disarms.
  explicit CrashPoints(const std::string& spec);

  // Kills the process with SIGKILL when `name` is the armed point and its hit count is due.
  void Hit(const std::string& name);

 private:
  std::string name_;
  int at_hit_ = 1;
  std::atomic<int> hits_{0};
};

}  // namespace tandem
