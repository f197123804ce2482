// A `tandem` config file for a test that runs the binary against the in-process sandboxes
// and a test store: secrets as env: references (SF_SECRET, STRIPE_KEY, GTV_KEY — see
// SandboxEnv()), the source tree's mapping and templates, plus any extra YAML the test needs.
#pragma once

#include <fstream>
#include <string>

#include "store/store.h"

namespace tandem::testing {

// The `billing:` section for the Stripe sandbox at `url`.
inline std::string StripeBillingSection(const std::string& url) {
  return "billing:\n  base_url: " + url + "\n  api_key: env:STRIPE_KEY\n";
}

// `billing_section`: the whole `billing:` section (a BillingBackend's ConfigSection()).
inline void WriteSandboxConfigWith(const std::string& path, const store::StoreOptions& store,
                                   const std::string& crm_url, const std::string& billing_section,
                                   const std::string& source_dir, const std::string& extra = "") {
  std::ofstream out(path);
  out << "store:\n  url: \"" << store.url << "\"\n";
  if (!store.schema.empty()) out << "  schema: " << store.schema << "\n";
  out << "crm:\n  base_url: " << crm_url
      << "\n  auth:\n    client_id: tandem-sandbox\n    client_secret: env:SF_SECRET\n"
      << billing_section << "paths:\n  mapping: " << source_dir << "/config/mapping.yaml\n"
      << "  workorders: " << source_dir << "/config/workorders.yaml\n"
      << extra;
}

inline void WriteSandboxConfig(const std::string& path, const store::StoreOptions& store,
                               const std::string& crm_url, const std::string& billing_url,
                               const std::string& source_dir, const std::string& extra = "") {
  WriteSandboxConfigWith(path, store, crm_url, StripeBillingSection(billing_url), source_dir,
                         extra);
}

// The environment that resolves those references, as a command-line prefix.
inline std::string SandboxEnv() {
  return "SF_SECRET=sandbox-secret STRIPE_KEY=sk_test_sandbox GTV_KEY=gtv-sandbox-key ";
}

}  // namespace tandem::testing
