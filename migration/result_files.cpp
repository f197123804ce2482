#include "migration/result_files.h"

#include <algorithm>
#include <filesystem>

#include "util/csv.h"

namespace tandem::migration {

namespace {
std::string Line(const std::vector<std::string>& fields) {
  return CsvLine(fields, "\r\n");  // Data Loader writes CRLF; Excel expects it
}
}  // namespace

const std::vector<std::string> ResultFiles::kSuccessColumns = {"ROW", "CRM ID", "BILLING ID",
                                                               "STATUS"};
const std::vector<std::string> ResultFiles::kErrorColumns = {"ROW", "ERROR"};

Status ResultFiles::Open(const std::string& folder, const std::vector<std::string>& columns,
                         const Sizes* resume_at, ResultFiles* out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(folder, ec);
  const fs::path success = fs::path(folder) / "success.csv", error = fs::path(folder) / "error.csv";
  if (resume_at) {
    for (const auto& [path, size] :
         {std::pair{success, resume_at->success}, std::pair{error, resume_at->error}}) {
      const auto have = fs::file_size(path, ec);
      if (ec || static_cast<int64_t>(have) < size)
        return Status::IoError(path.string() + " is missing or shorter than its checkpoint (" +
                               std::to_string(size) + " bytes); cannot resume into it");
      fs::resize_file(path, static_cast<uintmax_t>(size), ec);
      if (ec) return Status::IoError("cannot cut " + path.string() + " back: " + ec.message());
    }
  }
  // A job stopped before its first checkpoint (killed, or billing down in its first chunk) has
  // no rows to keep: its files start again, headers included.
  const bool fresh = !resume_at || (resume_at->success == 0 && resume_at->error == 0);
  const auto mode = fresh ? std::ios::trunc : std::ios::app;
  out->success_.open(success, std::ios::out | mode | std::ios::binary);
  out->error_.open(error, std::ios::out | mode | std::ios::binary);
  if (!out->success_ || !out->error_)
    return Status::IoError("cannot write result files in " + folder);
  out->columns_ = columns.size();
  if (fresh) {
    std::vector<std::string> s = columns, e = columns;
    s.insert(s.end(), kSuccessColumns.begin(), kSuccessColumns.end());
    e.insert(e.end(), kErrorColumns.begin(), kErrorColumns.end());
    out->success_ << Line(s);
    out->error_ << Line(e);
  }
  return Status::Ok();
}

Status ResultFiles::WriteChunk(std::vector<RowResult> chunk) {
  std::sort(chunk.begin(), chunk.end(),
            [](const RowResult& a, const RowResult& b) { return a.row < b.row; });
  for (auto& r : chunk) {
    r.fields.resize(columns_);  // a short or long malformed row still fits the header
    std::vector<std::string> line = r.fields;
    line.push_back(std::to_string(r.row));
    if (r.success) {
      line.push_back(r.crm_id);
      line.push_back(r.billing_id);
      line.push_back(r.status);
      success_ << Line(line);
      ++succeeded_;
    } else {
      line.push_back(r.error);
      error_ << Line(line);
      ++failed_;
    }
  }
  if (!success_ || !error_) return Status::IoError("writing the result files failed");
  return Status::Ok();
}

Result<ResultFiles::Sizes> ResultFiles::Flush() {
  success_.flush();
  error_.flush();
  if (!success_ || !error_) return Status::IoError("flushing the result files failed");
  return Sizes{static_cast<int64_t>(success_.tellp()), static_cast<int64_t>(error_.tellp())};
}

Status ParseSdl(const std::string& text, SdlMap* out) {
  size_t start = 0;
  int line_no = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') {
      if (end == text.size()) break;
      continue;
    }
    std::string key, value;
    bool in_value = false, escaped = false;
    for (char c : line) {
      if (escaped) {
        (in_value ? value : key).push_back(c);
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '=' && !in_value) {
        in_value = true;
      } else {
        (in_value ? value : key).push_back(c);
      }
    }
    if (!in_value || key.empty() || value.empty())
      return Status::InvalidArgument("mapping file line " + std::to_string(line_no) +
                                     ": expected CsvColumn=SalesforceField");
    if (key.size() >= 2 && key.front() == '"' && key.back() == '"') {
      out->constants.push_back({key.substr(1, key.size() - 2), value, line_no});
      if (end == text.size()) break;
      continue;
    }
    if (out->column_to_field.count(key))
      return Status::InvalidArgument("mapping file line " + std::to_string(line_no) + ": column '" +
                                     key + "' is mapped twice");
    out->column_to_field[key] = value;
    out->line_of_column[key] = line_no;
    if (end == text.size()) break;
  }
  return Status::Ok();
}

}  // namespace tandem::migration
