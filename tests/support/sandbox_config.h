// A `tandem` config file for a test that runs the binary against the in-process sandboxes
// and a test store: secrets as env: references (SF_SECRET, STRIPE_KEY, GTV_KEY — see
// SandboxEnv()), the source tree's mapping and templates, plus any extra YAML the test needs.
#pragma once

#include <fstream>
#include <string>

#include "store/options.h"
#include "store/store.h"

namespace tandem::testing {

// The `store:` section of the config file at `config_path`. A URL with a password goes, as the
// configuration requires, through a secret reference: a file beside the config.
inline void WriteStoreSection(std::ostream& out, const std::string& config_path,
                              const std::string& url, const std::string& schema) {
  if (store::StoreUrlHasPassword(url)) {
    std::ofstream(config_path + ".store-url") << url << "\n";
    const auto slash = config_path.rfind('/');
    out << "store:\n  url: file:"
        << (slash == std::string::npos ? config_path : config_path.substr(slash + 1))
        << ".store-url\n";
  } else {
    out << "store:\n  url: \"" << url << "\"\n";
  }
  if (!schema.empty()) out << "  schema: " << schema << "\n";
}

// The `billing:` section for the Stripe sandbox at `url`.
inline std::string StripeBillingSection(const std::string& url) {
  return "billing:\n  base_url: " + url + "\n  api_key: env:STRIPE_KEY\n";
}

// `billing_section`: the whole `billing:` section (a BillingBackend's ConfigSection()).
inline void WriteSandboxConfigWith(const std::string& path, const store::StoreOptions& store,
                                   const std::string& crm_url, const std::string& billing_section,
                                   const std::string& source_dir, const std::string& extra = "") {
  std::ofstream out(path);
  WriteStoreSection(out, path, store.url, store.schema);
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
