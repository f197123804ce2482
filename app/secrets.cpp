#include "app/secrets.h"

#include <fstream>
#include <sstream>

namespace tandem::app {

bool LooksLikeSecretRef(const std::string& v) {
  return v.rfind("env:", 0) == 0 || v.rfind("file:", 0) == 0;
}

Result<std::string> ResolveSecret(const std::string& ref, const std::string& base_dir,
                                  const EnvLookup& env) {
  if (ref.rfind("env:", 0) == 0) {
    const std::string name = ref.substr(4);
    if (name.empty()) return Status::InvalidArgument("'env:' needs a variable name");
    auto value = env(name);
    if (!value || value->empty())
      return Status::InvalidArgument("environment variable " + name + " is not set");
    return *value;
  }
  if (ref.rfind("file:", 0) == 0) {
    std::string path = ref.substr(5);
    if (path.empty()) return Status::InvalidArgument("'file:' needs a path");
    if (path[0] != '/' && !base_dir.empty()) path = base_dir + "/" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::InvalidArgument("cannot read secret file " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) return Status::InvalidArgument("secret file " + path + " is empty");
    return value;
  }
  return Status::InvalidArgument(
      "a secret must be a reference (env:NAME or file:PATH), never a value written in clear");
}

}  // namespace tandem::app
