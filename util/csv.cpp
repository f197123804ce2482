#include "util/csv.h"

namespace tandem {

void AppendCsvField(std::string_view value, std::string* out) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) {
    out->append(value);
    return;
  }
  out->push_back('"');
  for (char c : value) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string CsvLine(const std::vector<std::string>& fields, const char* eol) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back(',');
    AppendCsvField(fields[i], &out);
  }
  out.append(eol);
  return out;
}

}  // namespace tandem
