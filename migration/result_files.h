// Step 7's output, as consultants know it from Salesforce Data Loader, without its faults:
// success.csv = the input columns + ROW (source row number) + CRM ID + BILLING ID + STATUS;
// error.csv = the input columns + ROW + ERROR. Every input row lands in exactly one of them,
// in input order (the writer takes rows in any order within a chunk and writes them sorted).
// Thread-safety: one writer per job.
#pragma once

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::migration {

struct RowResult {
  int64_t row = 0;                  // source row number (1-based, header excluded)
  std::vector<std::string> fields;  // the input row as read
  bool success = false;
  std::string crm_id, billing_id, status;  // success: status is created / updated / linked ...
  std::string error;                       // failure: why, naming the column
};

class ResultFiles {
 public:
  // Byte lengths of both files after the last checkpointed chunk.
  // The columns each file adds after the input's.
  static const std::vector<std::string> kSuccessColumns, kErrorColumns;

  struct Sizes {
    int64_t success = 0, error = 0;
  };

  // Opens success.csv and error.csv in `folder`. Fresh (`resume_at` null, or both sizes 0: no
  // chunk was checkpointed): writes both
  // headers. Resuming: cuts each file back to its checkpointed size (rows written after the
  // last checkpoint are written again, never twice) and appends. IoError when they cannot
  // be written or a resumed file is shorter than its checkpoint.
  static Status Open(const std::string& folder, const std::vector<std::string>& columns,
                     const Sizes* resume_at, ResultFiles* out);

  // Writes one chunk's results in row order. REQUIRES: rows of one chunk, none written before.
  Status WriteChunk(std::vector<RowResult> chunk);
  // Flushes both files and reports their sizes (what a checkpoint records).
  Result<Sizes> Flush();

  // A resumed job's counts so far (the rows already in the files).
  void SetCounts(int64_t succeeded, int64_t failed) {
    succeeded_ = succeeded;
    failed_ = failed;
  }
  int64_t succeeded() const { return succeeded_; }
  int64_t failed() const { return failed_; }

 private:
  std::ofstream success_, error_;
  size_t columns_ = 0;
  int64_t succeeded_ = 0, failed_ = 0;
};

// A Data Loader mapping file (.sdl): "CsvColumn=SalesforceField" lines, '#' comments, '\'
// escaping '=' ':' '#' in names, and constants: "\"Customer - Direct\"=Type" gives every row's
// Type that value. InvalidArgument naming the line.
struct SdlMap {
  struct Constant {
    std::string value, field;
    int line = 0;
  };
  std::map<std::string, std::string> column_to_field;
  std::map<std::string, int> line_of_column;  // where each column was mapped, for errors
  std::vector<Constant> constants;
};
Status ParseSdl(const std::string& text, SdlMap* out);

}  // namespace tandem::migration
