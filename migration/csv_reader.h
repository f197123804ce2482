// Step 7's input: RFC 4180 CSV read as a stream, one record at a time, in constant memory —
// quoted fields with commas, quotes ("") and line breaks inside, a UTF-8 byte-order mark,
// CRLF or LF. Each record knows the line it starts on, so an error names line and column.
// A malformed record is reported (with its row number) and skipped; reading goes on with the
// next line. Blank lines are not records.
// Thread-safety: one reader per thread.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "util/status.h"

namespace tandem::migration {

struct CsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;    // the physical line the record starts on (1-based)
  int64_t number = 0;  // the record's position among data records (1-based, header excluded)
};

struct CsvLimits {
  size_t max_field_bytes = 1 << 20;  // a longer field is an error, not an allocation; default 1 MiB
  size_t max_fields = 1000;          // default 1,000 columns
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in, CsvLimits limits = {});

  // Reads the next record. Returns false at the end of input. A malformed record sets
  // *error (InvalidArgument naming line and column), is skipped, and still returns true.
  bool Next(CsvRecord* record, Status* error);

  // Reads the first record as the header. InvalidArgument when it is missing, malformed or
  // names a column twice.
  Status ReadHeader(std::vector<std::string>* columns);

 private:
  int Get();  // next byte or EOF, keeping line/column
  int Peek();
  void SkipRestOfLine();

  std::istream& in_;
  CsvLimits limits_;
  int64_t line_ = 1, column_ = 0, records_ = 0;
  bool started_ = false;
};

}  // namespace tandem::migration
