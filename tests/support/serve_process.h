// `tandem serve` as an operator runs it, in a child process: the sandbox's secrets (see
// SandboxEnv()) and any `env` in its environment, its output appended to `log`.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace tandem::testing {

inline pid_t StartServeProcess(const std::string& binary, const std::string& config,
                               const std::string& log, int port,
                               const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setenv("SF_SECRET", "sandbox-secret", 1);
  ::setenv("STRIPE_KEY", "sk_test_sandbox", 1);
  ::setenv("GTV_KEY", "gtv-sandbox-key", 1);
  for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), "serve", "--listen",
          listen.c_str(), static_cast<char*>(nullptr));
  ::_exit(127);
}

}  // namespace tandem::testing
