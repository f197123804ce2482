// Shared by the benchmarks: CPU seconds this process has used (user + system).
#pragma once

#include <sys/resource.h>

namespace tandem::bench {

inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace tandem::bench
