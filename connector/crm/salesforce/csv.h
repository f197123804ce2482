// RFC 4180 CSV for Bulk API 2.0 uploads and result files (client side; the sandbox has its
// own). Fields with a comma, quote, CR or LF are quoted and inner quotes doubled.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace tandem::connector::crm::salesforce {

void AppendCsvField(std::string_view value, std::string* out);
// One line, LF-terminated.
std::string CsvLine(const std::vector<std::string>& fields);
// Parses a whole CSV text (CRLF or LF). Failure: InvalidArgument naming the line.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

}  // namespace tandem::connector::crm::salesforce
