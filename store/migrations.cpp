#include "store/migrations.h"

#include <string>
#include <vector>

namespace tandem::store {

std::vector<std::string> MigrationStatements(const Migration& m, bool postgres) {
  const std::string id_type =
      postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  std::vector<std::string> out;
  std::string current;
  std::string text = m.sql;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line.compare(first, 2, "--") == 0) continue;
    for (size_t p; (p = line.find("{{ID}}")) != std::string::npos;) line.replace(p, 6, id_type);
    const auto last = line.find_last_not_of(" \t\r");
    if (line[last] == ';') {
      current += line.substr(0, last);
      out.push_back(current);
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
  return out;
}

}  // namespace tandem::store
