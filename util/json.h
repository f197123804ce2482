// Json: a small JSON value for records crossing module boundaries (CRM records, billing
// payloads, mapping input and output), so that no header above the connector needs
// cpprest's types. Objects keep their keys in insertion order (stable output, readable diffs).
// Parse() is strict RFC 8259 with a nesting limit, safe on hostile input: nlohmann-json's
// parser underneath (docs/adr/0008), integers kept exact.
// Thread-safety: a value type; concurrent reads of one value are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "util/result.h"

namespace tandem {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  Json() = default;
  Json(std::nullptr_t) {}                       // NOLINT
  Json(bool b) : v_(b) {}                       // NOLINT
  Json(int v) : v_(static_cast<int64_t>(v)) {}  // NOLINT
  Json(int64_t v) : v_(v) {}                    // NOLINT
  Json(double v) : v_(v) {}                     // NOLINT
  Json(const char* s) : v_(std::string(s)) {}   // NOLINT
  Json(std::string s) : v_(std::move(s)) {}     // NOLINT
  Json(Array a) : v_(std::move(a)) {}           // NOLINT
  Json(Object o) : v_(std::move(o)) {}          // NOLINT

  static Json MakeObject() { return Json(Object{}); }
  static Json MakeArray() { return Json(Array{}); }

  // Integers are held exactly (int64), other numbers as double; both are kNumber.
  Type type() const {
    return v_.index() == kIntIndex ? Type::kNumber : static_cast<Type>(v_.index());
  }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // Typed access; the fallback is returned when the value has another type.
  bool as_bool(bool fallback = false) const;
  double as_number(double fallback = 0) const;
  int64_t as_int(int64_t fallback = 0) const;
  const std::string& as_string() const;  // "" when not a string
  // Strings as they are, numbers and booleans as JSON text, null as "".
  std::string ToText() const;

  const Array& array() const;    // empty when not an array
  Array& mutable_array();        // converts to an empty array first when not one
  const Object& object() const;  // empty when not an object
  Object& mutable_object();      // converts to an empty object first when not one

  // Object member lookup: nullptr when absent or not an object.
  const Json* Find(std::string_view key) const;
  Json* Find(std::string_view key);
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // The member, or a shared null when absent.
  const Json& operator[](std::string_view key) const;
  // Sets (replacing) a member; converts to an object first when not one.
  Json& Set(std::string key, Json value);
  bool Erase(std::string_view key);
  // Appends to an array; converts to an array first when not one.
  Json& Push(Json value);
  size_t size() const;

  bool operator==(const Json& other) const;
  bool operator!=(const Json& other) const { return !(*this == other); }

  // Compact serialization (no spaces); numbers that are whole print without a fraction.
  std::string Dump() const;
  void DumpTo(std::string* out) const;

  // Failure: InvalidArgument with the byte offset and what was expected.
  static Result<Json> Parse(std::string_view text, int max_depth = 128);

 private:
  // The first six in Type's order; the exact integer last.
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object, int64_t> v_;
  static constexpr size_t kIntIndex = 6;
};

// Appends `s` as a JSON string literal (with quotes) to `out`.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace tandem
