// Shared by the benchmarks that run Tandem's runtime in process against the in-process
// sandboxes: a scratch folder and the config of a SQLite store in it, the sandbox CRM's
// credentials and the billing emulator's address; each bench adds what it measures.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "app/config.h"

namespace tandem::bench {

// A new folder under the system's temporary one, named for the bench and this process.
inline std::filesystem::path ScratchDir(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem-bench-" + name + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

inline app::Config SandboxRuntimeConfig(const std::filesystem::path& dir,
                                        const std::string& crm_url, const std::string& billing_url,
                                        const std::string& billing_api_key) {
  app::Config c;
  c.store.url = "sqlite:" + (dir / "bench.db").string();
  c.crm.remote.base_url = crm_url;
  c.crm.client_id = "tandem-sandbox";
  c.crm.client_secret = "sandbox-secret";
  c.billing.remote.base_url = billing_url;
  c.billing.api_key = billing_api_key;
  c.mapping_path = "config/mapping.yaml";
  return c;
}

}  // namespace tandem::bench
