// libFuzzer target: the migration CSV reader must never crash, hang or overread.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "migration/csv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  tandem::migration::CsvReader reader(in, tandem::migration::CsvLimits{4096, 64});
  tandem::migration::CsvRecord record;
  tandem::Status error;
  int guard = 0;
  while (reader.Next(&record, &error) && ++guard < 100000) {
  }
  return 0;
}
