#include "migration/csv_reader.h"

#include <set>

namespace tandem::migration {

CsvReader::CsvReader(std::istream& in, CsvLimits limits) : in_(in), limits_(limits) {}

int CsvReader::Peek() { return in_.peek(); }

int CsvReader::Get() {
  const int c = in_.get();
  if (c == '\n') {
    ++line_;
    column_ = 0;
  } else if (c != EOF) {
    ++column_;
  }
  return c;
}

void CsvReader::SkipRestOfLine() {
  for (int c = Get(); c != EOF && c != '\n'; c = Get()) {
  }
}

bool CsvReader::Next(CsvRecord* record, Status* error) {
  *error = Status::Ok();
  if (!started_) {
    started_ = true;
    // A UTF-8 byte-order mark (Excel writes one) is not data.
    if (Peek() == 0xEF) {
      char bom[3];
      in_.read(bom, 3);
      if (!(static_cast<unsigned char>(bom[1]) == 0xBB &&
            static_cast<unsigned char>(bom[2]) == 0xBF)) {
        in_.clear();
        in_.seekg(0);
      }
    }
  }
  // Blank lines (a trailing newline, spacing left by an editor) are not records.
  for (;;) {
    if (Peek() == '\n') {
      Get();
    } else if (Peek() == '\r') {
      Get();
      if (Peek() == '\n') Get();
    } else {
      break;
    }
  }
  if (Peek() == EOF) return false;
  record->fields.clear();
  record->line = line_;
  auto fail = [&](const std::string& why) {
    *error = Status::InvalidArgument("line " + std::to_string(record->line) + ", column " +
                                     std::to_string(column_) + ": " + why);
    record->number = ++records_;  // a bad record is still a row of the file
  };
  std::string field;
  for (;;) {
    // One field.
    field.clear();
    bool quoted = false;
    if (Peek() == '"') {
      quoted = true;
      Get();
      for (;;) {
        const int c = Get();
        if (c == EOF) {
          fail("a quoted field is not closed");
          return true;
        }
        if (c == '"') {
          if (Peek() == '"') {
            Get();
            field.push_back('"');
            continue;
          }
          break;
        }
        field.push_back(static_cast<char>(c));
        if (field.size() > limits_.max_field_bytes) {
          fail("a field is longer than " + std::to_string(limits_.max_field_bytes) + " bytes");
          SkipRestOfLine();
          return true;
        }
      }
    }
    // After the field: a separator, the end of the record, or (unquoted) more text.
    for (;;) {
      const int c = Peek();
      if (c == ',' || c == '\n' || c == EOF) break;
      if (c == '\r') {
        Get();
        if (Peek() == '\n' || Peek() == EOF) break;
        field.push_back('\r');
        continue;
      }
      if (quoted) {
        fail("text after a closing quote");
        SkipRestOfLine();
        return true;
      }
      if (c == '"') {
        fail("a quote inside an unquoted field");
        SkipRestOfLine();
        return true;
      }
      field.push_back(static_cast<char>(Get()));
      if (field.size() > limits_.max_field_bytes) {
        fail("a field is longer than " + std::to_string(limits_.max_field_bytes) + " bytes");
        SkipRestOfLine();
        return true;
      }
    }
    record->fields.push_back(field);
    if (record->fields.size() > limits_.max_fields) {
      fail("more than " + std::to_string(limits_.max_fields) + " fields");
      SkipRestOfLine();
      return true;
    }
    const int c = Get();
    if (c == ',') continue;
    break;  // '\n' or EOF
  }
  record->number = ++records_;
  return true;
}

Status CsvReader::ReadHeader(std::vector<std::string>* columns) {
  CsvRecord header;
  Status error;
  if (!Next(&header, &error)) return Status::InvalidArgument("the file is empty: no header line");
  if (!error.ok()) return error.WithContext("header");
  --records_;  // the header is not a data record
  std::set<std::string> seen;
  for (const auto& c : header.fields) {
    if (c.empty()) return Status::InvalidArgument("header: an empty column name");
    if (!seen.insert(c).second)
      return Status::InvalidArgument("header: column '" + c + "' appears twice");
  }
  *columns = header.fields;
  return Status::Ok();
}

}  // namespace tandem::migration
