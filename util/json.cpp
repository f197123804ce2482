#include "util/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tandem {
namespace {

const Json& NullJson() {
  static const Json kNull;
  return kNull;
}

void AppendNumber(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");  // JSON has no NaN/Infinity
    return;
  }
  char buf[32];
  if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", d);
    // Prefer the shortest representation that reads back the same.
    for (int precision = 1; precision < 17; ++precision) {
      char shorter[32];
      std::snprintf(shorter, sizeof shorter, "%.*g", precision, d);
      if (std::strtod(shorter, nullptr) == d) {
        std::snprintf(buf, sizeof buf, "%s", shorter);
        break;
      }
    }
  }
  out->append(buf);
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Result<Json> ParseDocument() {
    Json value;
    if (!ParseValue(&value, 0)) return Fail();
    SkipSpace();
    if (pos_ != s_.size()) {
      error_ = "unexpected text after the JSON value";
      return Fail();
    }
    return value;
  }

 private:
  Status Fail() const {
    return Status::InvalidArgument("invalid JSON at byte " + std::to_string(pos_) + ": " + error_);
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool Expect(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    error_ = std::string("expected '") + c + "'";
    return false;
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      error_ = "expected a value";
      return false;
    }
    pos_ += word.size();
    return true;
  }

  bool ParseValue(Json* out, int depth) {
    if (depth > max_depth_) {
      error_ = "nesting deeper than " + std::to_string(max_depth_);
      return false;
    }
    SkipSpace();
    if (pos_ >= s_.size()) {
      error_ = "unexpected end of input";
      return false;
    }
    const char c = s_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      std::string str;
      if (!ParseString(&str)) return false;
      *out = Json(std::move(str));
      return true;
    }
    if (c == 't') {
      if (!Literal("true")) return false;
      *out = Json(true);
      return true;
    }
    if (c == 'f') {
      if (!Literal("false")) return false;
      *out = Json(false);
      return true;
    }
    if (c == 'n') {
      if (!Literal("null")) return false;
      *out = Json();
      return true;
    }
    return ParseNumber(out);
  }

  bool ParseNumber(Json* out) {
    const size_t start = pos_;
    auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (!digit()) {
      error_ = "expected a value";
      return false;
    }
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digit()) {
        error_ = "expected a digit after '.'";
        return false;
      }
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit()) {
        error_ = "expected a digit in the exponent";
        return false;
      }
      while (digit()) ++pos_;
    }
    *out = Json(std::strtod(std::string(s_.substr(start, pos_ - start)).c_str(), nullptr));
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) {
      error_ = "truncated \\u escape";
      return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<uint32_t>(c - 'A' + 10);
      else {
        error_ = "bad hex digit in \\u escape";
        return false;
      }
    }
    *out = v;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        error_ = "control character in string";
        return false;
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
              pos_ += 2;
              if (!Hex4(&low)) return false;
              if (low < 0xDC00 || low > 0xDFFF) {
                error_ = "unpaired surrogate";
                return false;
              }
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              error_ = "unpaired surrogate";
              return false;
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error_ = "unpaired surrogate";
            return false;
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          error_ = "bad escape";
          return false;
      }
    }
    error_ = "unterminated string";
    return false;
  }

  bool ParseArray(Json* out, int depth) {
    ++pos_;
    Json::Array arr;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      *out = Json(std::move(arr));
      return true;
    }
    for (;;) {
      Json v;
      if (!ParseValue(&v, depth + 1)) return false;
      arr.push_back(std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (!Expect(']')) return false;
      *out = Json(std::move(arr));
      return true;
    }
  }

  bool ParseObject(Json* out, int depth) {
    ++pos_;
    Json::Object obj;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      *out = Json(std::move(obj));
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        error_ = "expected a member name";
        return false;
      }
      std::string key;
      if (!ParseString(&key)) return false;
      if (!Expect(':')) return false;
      Json v;
      if (!ParseValue(&v, depth + 1)) return false;
      obj.emplace_back(std::move(key), std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (!Expect('}')) return false;
      *out = Json(std::move(obj));
      return true;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_;
  std::string error_;
};

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

bool Json::as_bool(bool fallback) const { return is_bool() ? std::get<bool>(v_) : fallback; }
double Json::as_number(double fallback) const {
  return is_number() ? std::get<double>(v_) : fallback;
}
int64_t Json::as_int(int64_t fallback) const {
  return is_number() ? static_cast<int64_t>(std::llround(std::get<double>(v_))) : fallback;
}
const std::string& Json::as_string() const {
  static const std::string kEmpty;
  return is_string() ? std::get<std::string>(v_) : kEmpty;
}

std::string Json::ToText() const {
  switch (type()) {
    case Type::kNull:
      return "";
    case Type::kString:
      return as_string();
    default:
      return Dump();
  }
}

const Json::Array& Json::array() const {
  static const Array kEmpty;
  return is_array() ? std::get<Array>(v_) : kEmpty;
}
Json::Array& Json::mutable_array() {
  if (!is_array()) v_ = Array{};
  return std::get<Array>(v_);
}
const Json::Object& Json::object() const {
  static const Object kEmpty;
  return is_object() ? std::get<Object>(v_) : kEmpty;
}
Json::Object& Json::mutable_object() {
  if (!is_object()) v_ = Object{};
  return std::get<Object>(v_);
}

const Json* Json::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_))
    if (k == key) return &v;
  return nullptr;
}
Json* Json::Find(std::string_view key) {
  if (!is_object()) return nullptr;
  for (auto& [k, v] : std::get<Object>(v_))
    if (k == key) return &v;
  return nullptr;
}
const Json& Json::operator[](std::string_view key) const {
  const Json* found = Find(key);
  return found ? *found : NullJson();
}
Json& Json::Set(std::string key, Json value) {
  if (Json* existing = Find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  auto& obj = mutable_object();
  obj.emplace_back(std::move(key), std::move(value));
  return obj.back().second;
}
bool Json::Erase(std::string_view key) {
  if (!is_object()) return false;
  auto& obj = std::get<Object>(v_);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it->first == key) {
      obj.erase(it);
      return true;
    }
  }
  return false;
}
Json& Json::Push(Json value) {
  auto& arr = mutable_array();
  arr.push_back(std::move(value));
  return arr.back();
}
size_t Json::size() const {
  if (is_array()) return std::get<Array>(v_).size();
  if (is_object()) return std::get<Object>(v_).size();
  return 0;
}

void Json::DumpTo(std::string* out) const {
  switch (type()) {
    case Type::kNull:
      out->append("null");
      break;
    case Type::kBool:
      out->append(std::get<bool>(v_) ? "true" : "false");
      break;
    case Type::kNumber:
      AppendNumber(std::get<double>(v_), out);
      break;
    case Type::kString:
      AppendJsonString(std::get<std::string>(v_), out);
      break;
    case Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& v : std::get<Array>(v_)) {
        if (!first) out->push_back(',');
        first = false;
        v.DumpTo(out);
      }
      out->push_back(']');
      break;
    }
    case Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : std::get<Object>(v_)) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(k, out);
        out->push_back(':');
        v.DumpTo(out);
      }
      out->push_back('}');
      break;
    }
  }
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(&out);
  return out;
}

Result<Json> Json::Parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).ParseDocument();
}

}  // namespace tandem
