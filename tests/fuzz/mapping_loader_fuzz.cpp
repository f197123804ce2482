// libFuzzer target: a broken mapping file must give an error naming where, never a crash —
// and a file that loads must map a record without crashing either.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mapping/mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto mapping = tandem::mapping::ParseMapping(text, "fuzz.yaml");
  if (!mapping.ok()) return 0;
  tandem::Json record = tandem::Json::MakeObject();
  record.Set("Id", "001000000000001AAA");
  record.Set("Name", "Acme");
  record.Set("AnnualRevenue", "12.5");
  record.Set("CurrencyIsoCode", "EUR");
  for (const auto& map : mapping->objects) {
    auto mapped = tandem::mapping::ApplyToBilling(map, record);
    (void)tandem::mapping::ApplyToCrm(map, mapped.payload);
  }
  return 0;
}
