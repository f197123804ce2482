#include "sandbox/http/request_parts.h"

namespace tandem::sandbox {

std::vector<std::string> SplitPath(const std::string& path,
                                   const std::function<std::string(const std::string&)>& decode) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(decode(path.substr(start, slash - start)));
    start = slash + 1;
  }
  return out;
}

std::vector<FormPair> SplitFormPairs(const std::string& body) {
  std::vector<FormPair> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    FormPair p;
    p.key = pair.substr(0, eq);
    p.has_value = eq != std::string::npos;
    if (p.has_value) p.value = pair.substr(eq + 1);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace tandem::sandbox
