// Form decoding (a[b][0][c]=v into a JSON tree, the sandbox's own) and reading parameters,
// with Stripe's errors for a missing, unknown or malformed one.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "sandbox/http/request_parts.h"
#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

void Insert(value& node, const std::vector<std::string>& path, size_t at, const std::string& v) {
  const std::string& seg = path[at];
  const bool last = at + 1 == path.size();
  const bool index = seg.empty() || std::all_of(seg.begin(), seg.end(), ::isdigit);
  if (index) {
    if (!node.is_array()) node = value::array();
    const size_t i = seg.empty() ? node.size() : static_cast<size_t>(std::stoul(seg));
    if (i > node.size() + 1000) ThrowInvalid(path[0], "array index too large");
    if (last) {
      node[i] = value::string(v);
    } else {
      if (i >= node.size() || node[i].is_null()) node[i] = value::object();
      Insert(node[i], path, at + 1, v);
    }
    return;
  }
  if (!node.is_object()) node = value::object();
  if (last) {
    node[seg] = value::string(v);
  } else {
    if (!node.has_field(seg)) node[seg] = value::null();
    Insert(node[seg], path, at + 1, v);
  }
}

}  // namespace

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

value DecodeForm(const std::string& body) {
  value root = value::object();
  for (const FormPair& pair : SplitFormPairs(body)) {
    const std::string key = UrlDecode(pair.key);
    const std::string val = pair.has_value ? UrlDecode(pair.value) : "";
    std::vector<std::string> path;
    const auto br = key.find('[');
    path.push_back(key.substr(0, br));
    size_t i = br;
    while (i != std::string::npos && i < key.size()) {
      const auto close = key.find(']', i);
      if (key[i] != '[' || close == std::string::npos)
        ThrowInvalid(key, "Invalid parameter name: " + key);
      path.push_back(key.substr(i + 1, close - i - 1));
      i = close + 1 < key.size() ? close + 1 : std::string::npos;
    }
    Insert(root, path, 0, val);
  }
  return root;
}

std::string Str(const value& params, const std::string& key) {
  return params.has_field(key) && params.at(key).is_string() ? params.at(key).as_string() : "";
}
bool Has(const value& params, const std::string& key) { return params.has_field(key); }

int64_t Int(const value& params, const std::string& key, int64_t fallback) {
  if (!params.has_field(key)) return fallback;
  const std::string s = params.at(key).is_string() ? params.at(key).as_string() : "";
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0')
    throw BadRequest{StripeError(400, "invalid_request_error", "parameter_invalid_integer",
                                 "Invalid integer: " + s, key)};
  return v;
}

bool Bool(const value& params, const std::string& key, bool fallback) {
  if (!params.has_field(key)) return fallback;
  const std::string s = Str(params, key);
  if (s != "true" && s != "false") ThrowInvalid(key, "Invalid boolean: " + s);
  return s == "true";
}

void CheckKnown(const value& params, std::initializer_list<const char*> allowed) {
  if (!params.is_object()) return;
  for (const auto& kv : params.as_object()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || kv.first == a;
    if (!ok)
      throw BadRequest{StripeError(400, "invalid_request_error", "parameter_unknown",
                                   "Received unknown parameter: " + kv.first, kv.first)};
  }
}

value Metadata(const value& params, value current) {
  if (!current.is_object()) current = value::object();
  if (!params.has_field("metadata")) return current;
  const value& m = params.at("metadata");
  if (m.is_string() && m.as_string().empty()) return value::object();  // metadata= clears
  if (!m.is_object()) ThrowInvalid("metadata", "Invalid metadata");
  for (const auto& kv : m.as_object()) {
    if (kv.second.is_string() && kv.second.as_string().empty()) {
      if (current.has_field(kv.first)) current.erase(kv.first);  // unsetting an absent key is fine
    } else
      current[kv.first] = kv.second;
  }
  return current;
}

}  // namespace tandem::sandbox::stripe
