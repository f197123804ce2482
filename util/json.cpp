#include "util/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

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

// Builds a Json straight from nlohmann's SAX events (no intermediate document), keeping what
// the hand-written parser did: object members in their order (a repeated name kept twice;
// lookup finds the first), integers exact as int64 (a uint64 beyond it as a double), and a
// nesting limit, checked here since nlohmann has none.
class Builder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Builder(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return Add(Json()); }
  bool boolean(bool v) override { return Add(Json(v)); }
  bool number_integer(number_integer_t v) override { return Add(Json(static_cast<int64_t>(v))); }
  bool number_unsigned(number_unsigned_t v) override {
    if (v <= static_cast<number_unsigned_t>(std::numeric_limits<int64_t>::max()))
      return Add(Json(static_cast<int64_t>(v)));
    return Add(Json(static_cast<double>(v)));
  }
  bool number_float(number_float_t v, const string_t&) override { return Add(Json(v)); }
  bool string(string_t& v) override { return Add(Json(std::move(v))); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(Json::MakeObject()); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Json::MakeArray()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    position_ = position;
    // nlohmann's message names the token and what was expected; the byte offset is ours.
    std::string what = e.what();
    const auto colon = what.find(": ", what.find("parse error"));
    error_ = colon == std::string::npos ? what : what.substr(colon + 2);
    return false;
  }

  Result<Json> Take(bool parsed) {
    if (!parsed || !error_.empty())
      return Status::InvalidArgument("invalid JSON at byte " + std::to_string(position_) + ": " +
                                     (error_.empty() ? "unexpected input" : error_));
    return std::move(root_);
  }

 private:
  // Where a finished value goes: into the open container, or it is the document.
  Json* Place(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& top = *stack_.back();
    if (top.is_array()) return &top.Push(std::move(v));
    auto& members = top.mutable_object();
    members.emplace_back(std::move(key_), std::move(v));
    return &members.back().second;
  }
  bool Add(Json v) {
    Place(std::move(v));
    return true;
  }
  bool Open(Json container) {
    if (static_cast<int>(stack_.size()) >= max_depth_)
      return Fail("nesting deeper than " + std::to_string(max_depth_));
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  bool Fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  int max_depth_;
  Json root_;
  std::vector<Json*> stack_;  // the open containers; stable: a parent's vector no longer grows
  std::string key_;
  std::string error_;
  std::size_t position_ = 0;
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
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  return is_number() ? std::get<double>(v_) : fallback;
}
int64_t Json::as_int(int64_t fallback) const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  return is_number() ? static_cast<int64_t>(std::llround(std::get<double>(v_))) : fallback;
}
bool Json::operator==(const Json& other) const {
  // Numbers compare by value whichever way they are held (5 == 5.0).
  if (is_number() && other.is_number()) {
    const auto* a = std::get_if<int64_t>(&v_);
    const auto* b = std::get_if<int64_t>(&other.v_);
    if (a && b) return *a == *b;
    return as_number() == other.as_number();
  }
  return type() == other.type() && v_ == other.v_;
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
      if (const auto* i = std::get_if<int64_t>(&v_))
        out->append(std::to_string(*i));
      else
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
  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore what follows;
  // a raw NUL is never valid JSON (inside a string it must be escaped), so it is refused here.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    return Status::InvalidArgument("invalid JSON at byte " + std::to_string(nul) + ": a NUL byte");
  Builder builder(max_depth);
  // Strict RFC 8259: no comments, the whole text one value.
  const bool parsed =
      nlohmann::json::sax_parse(text, &builder, nlohmann::json::input_format_t::json,
                                /*strict=*/true, /*ignore_comments=*/false);
  return builder.Take(parsed);
}

}  // namespace tandem
