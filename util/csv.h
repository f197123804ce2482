// RFC 4180 CSV writing, shared by every CSV Tandem writes (Bulk API 2.0 uploads, migration
// result files, reconciliation reports). Fields with a comma, quote, CR, LF or an edge space
// are quoted and inner quotes doubled.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem {

void AppendCsvField(std::string_view value, std::string* out);
// One line ending in `eol` ("\n" for Bulk API uploads, "\r\n" for files people open in Excel).
std::string CsvLine(const std::vector<std::string>& fields, const char* eol = "\n");

}  // namespace tandem
