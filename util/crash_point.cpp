#include "util/crash_point.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace tandem {

CrashPoints::CrashPoints(const std::string& spec) {
  const auto hash = spec.find('#');
  name_ = spec.substr(0, hash);
  if (hash != std::string::npos) at_hit_ = std::atoi(spec.c_str() + hash + 1);
  if (at_hit_ < 1) at_hit_ = 1;
}

void CrashPoints::Hit(const std::string& name) {
  if (name_.empty() || name != name_) return;
  if (hits_.fetch_add(1) + 1 == at_hit_) {
    ::kill(::getpid(), SIGKILL);  // no destructors, no flush: a real crash
    std::_Exit(137);
  }
}

}  // namespace tandem
