// libFuzzer target: the sandbox's SOQL parser and evaluator must never crash, hang or
// read out of bounds, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sandbox/salesforce/soql_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::sandbox::salesforce;
  const std::string text(reinterpret_cast<const char*>(data), size);
  SoqlParseResult r = ParseSoql(text);
  if (r.query && r.query->where) {
    SoqlValue v;
    v.kind = SoqlLiteral::Kind::kString;
    v.text = "Acme 100% _x_";
    EvaluateSoql(*r.query->where, [&](const std::string&) { return std::optional<SoqlValue>(v); });
  }
  return 0;
}
