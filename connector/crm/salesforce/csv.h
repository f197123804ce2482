// RFC 4180 CSV for Bulk API 2.0 result files (client side; the sandbox has its own). Writing
// is util/csv.h's.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/csv.h"
#include "util/result.h"

namespace tandem::connector::crm::salesforce {

using ::tandem::AppendCsvField;
using ::tandem::CsvLine;
// Parses a whole CSV text (CRLF or LF). Failure: InvalidArgument naming the line.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

}  // namespace tandem::connector::crm::salesforce
