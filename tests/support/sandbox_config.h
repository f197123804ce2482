// A `tandem` config file for a test that runs the binary against the in-process sandboxes
// and a test store: secrets as env: references (SF_SECRET, STRIPE_KEY — see SandboxEnv()),
// the source tree's mapping and templates, plus any extra YAML the test needs.
#pragma once

#include <fstream>
#include <string>

#include "store/store.h"

namespace tandem::testing {

inline void WriteSandboxConfig(const std::string& path, const store::StoreOptions& store,
                               const std::string& crm_url, const std::string& billing_url,
                               const std::string& source_dir, const std::string& extra = "") {
  std::ofstream out(path);
  out << "store:\n  url: \"" << store.url << "\"\n";
  if (!store.schema.empty()) out << "  schema: " << store.schema << "\n";
  out << "crm:\n  base_url: " << crm_url
      << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: env:SF_SECRET\n"
      << "billing:\n  base_url: " << billing_url << "\n  api_key: env:STRIPE_KEY\n"
      << "paths:\n  mapping: " << source_dir << "/config/mapping.yaml\n"
      << "  workorders: " << source_dir << "/config/workorders.yaml\n"
      << extra;
}

// The environment that resolves those references, as a command-line prefix.
inline std::string SandboxEnv() { return "SF_SECRET=sandbox-secret STRIPE_KEY=sk_test_sandbox "; }

}  // namespace tandem::testing
