// Shared by the benchmarks: CPU seconds this process has used (user + system).
#pragma once

#include <unistd.h>

#include <string>

#include <sys/resource.h>

namespace tandem::bench {

inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Starts `tandem sandbox` (both emulators, free ports) as its own process, so the figures are
// the client's alone. Returns its pid (-1 on failure) and the URLs it printed; `billing` may
// be null when only the CRM is wanted.
inline pid_t StartSandbox(const char* binary, std::string* crm, std::string* billing) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    execl(binary, binary, "--log-level", "warn", "sandbox", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  for (int i = 0; i < 2; ++i) {
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("crm ", 0) == 0) *crm = line.substr(4);
    if (billing && line.rfind("billing ", 0) == 0) *billing = line.substr(8);
  }
  close(fds[0]);
  return crm->empty() || (billing && billing->empty()) ? -1 : pid;
}

}  // namespace tandem::bench
