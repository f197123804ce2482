// Bulk API 2.0 ingest: jobs, their CSV uploads, processing (on the status poll after
// UploadComplete) and result files. CSV through the sandbox's own reader and writer.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {
namespace {

// CSV (the sandbox's own reader and writer).

std::vector<std::vector<std::string>> ReadCsv(const std::string& text, bool* ok) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  *ok = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
      any = false;
    } else {
      field.push_back(c);
      any = true;
    }
  }
  if (quoted) *ok = false;
  if (any || !field.empty() || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string CsvCell(const std::string& v, bool always_quote) {
  if (!always_quote && v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

value SalesforceSandbox::Impl::JobInfo(const BulkJob& j) {
  value o = value::object();
  o["id"] = value::string(j.id);
  o["operation"] = value::string(j.operation);
  o["object"] = value::string(j.object);
  o["createdById"] = value::string("005000000000001AAA");
  o["createdDate"] = value::string(FormatDateTime(j.created_ms));
  o["systemModstamp"] = value::string(FormatDateTime(NowMs()));
  o["state"] = value::string(j.state);
  if (!j.external_id_field.empty()) o["externalIdFieldName"] = value::string(j.external_id_field);
  o["concurrencyMode"] = value::string("Parallel");
  o["contentType"] = value::string("CSV");
  o["apiVersion"] = value::number(61.0);
  o["contentUrl"] = value::string("services/data/v61.0/jobs/ingest/" + j.id + "/batches");
  o["lineEnding"] = value::string("LF");
  o["columnDelimiter"] = value::string("COMMA");
  o["numberRecordsProcessed"] = value::number(j.processed);
  o["numberRecordsFailed"] = value::number(j.failures);
  return o;
}

void SalesforceSandbox::Impl::ProcessJob(BulkJob& job) {
  bool ok = true;
  auto rows = ReadCsv(job.csv, &ok);
  std::string header_line;
  std::vector<std::string> header = rows.empty() ? std::vector<std::string>{} : rows.front();
  for (size_t i = 0; i < header.size(); ++i)
    header_line += (i ? "," : "") + CsvCell(header[i], false);
  job.successful = "\"sf__Id\",\"sf__Created\"" + (header.empty() ? "" : "," + header_line) + "\n";
  job.failed = "\"sf__Id\",\"sf__Error\"" + (header.empty() ? "" : "," + header_line) + "\n";
  job.unprocessed = header_line + "\n";
  Table* table = FindTable(job.object);
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() == 1 && row[0].empty()) continue;  // blank line
    std::string echo;
    for (size_t i = 0; i < row.size(); ++i) echo += (i ? "," : "") + CsvCell(row[i], false);
    SaveOutcome out;
    if (!ok || row.size() != header.size()) {
      out.errors.push_back(SfError{"INVALID_FIELD",
                                   "row has " + std::to_string(row.size()) + " values for " +
                                       std::to_string(header.size()) + " columns",
                                   {}});
    } else {
      out = ProcessRow(job, table, header, row);
    }
    ++job.processed;
    if (out.success) {
      job.successful += CsvCell(out.id, true) + "," +
                        CsvCell(out.created ? "true" : "false", true) +
                        (header.empty() ? "" : "," + echo) + "\n";
    } else {
      ++job.failures;
      std::string err;
      for (const auto& e : out.errors) {
        err += e.code + ":" + e.message + ":";
        for (size_t k = 0; k < e.fields.size(); ++k) err += (k ? "," : "") + e.fields[k];
        err += " --";
      }
      job.failed += CsvCell(out.id, true) + "," + CsvCell(err, true) +
                    (header.empty() ? "" : "," + echo) + "\n";
    }
  }
  job.csv.clear();
}

// Saves one row of a job (its columns as named by the header).
SaveOutcome SalesforceSandbox::Impl::ProcessRow(const BulkJob& job, Table* table,
                                                const std::vector<std::string>& header,
                                                const std::vector<std::string>& row) {
  SaveOutcome out;
  value input = value::object();
  std::string id;
  for (size_t i = 0; i < header.size(); ++i) {
    if (Lower(header[i]) == "id") {
      id = row[i];
      continue;
    }
    if (row[i].empty()) continue;  // empty: leave as is
    input[header[i]] = row[i] == "#N/A" ? value::null() : value::string(row[i]);
  }
  if (job.operation == "insert")
    out = Create(*table, input);
  else if (job.operation == "update")
    out = Update(*table, id, input);
  else if (job.operation == "delete")
    out = Delete(*table, id);
  else {
    const FieldDef* f = table->def->Field(job.external_id_field);
    std::string ext = f && input.has_field(f->name) && input.at(f->name).is_string()
                          ? input.at(f->name).as_string()
                          : "";
    if (ext.empty() && Lower(job.external_id_field) == "id") ext = id;
    if (ext.empty()) {
      out.errors.push_back(
          SfError{"REQUIRED_FIELD_MISSING", "external id is empty", {job.external_id_field}});
    } else {
      out = Upsert(*table, job.external_id_field, ext, input);
    }
  }
  return out;
}

Reply Handler::Jobs(const Segments& seg) {
  // seg: services data vXX jobs ingest [id
  // [batches|successfulResults|failedResults|unprocessedrecords]]
  if (seg.size() < 5 || seg[4] != "ingest")
    return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  if (seg.size() == 5) return CreateJob();
  auto it = s_.jobs.find(NormalizeId(seg[5]));
  if (it == s_.jobs.end()) return Errors(404, "NOT_FOUND", "The requested resource does not exist");
  BulkJob& job = it->second;
  if (seg.size() == 6) {
    if (method_ == "GET") return JobStatus(job);
    if (method_ == "PATCH") return SetJobState(job);
    if (method_ == "DELETE") {
      s_.jobs.erase(it);
      return Reply{204, "", "text/plain"};
    }
    return Errors(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed");
  }
  const std::string& what = seg[6];
  if (what == "batches" && method_ == "PUT") {
    if (job.state != "Open") return Errors(400, "INVALIDJOBSTATE", "Job is not open for uploads");
    job.csv += body_;
    return Reply{201, "", "text/plain"};
  }
  if (method_ == "GET" &&
      (what == "successfulResults" || what == "failedResults" || what == "unprocessedrecords")) {
    if (job.state != "JobComplete" && job.state != "Failed" && job.state != "Aborted")
      return Errors(400, "INVALIDJOBSTATE", "job is not complete");
    const std::string& csv = what == "successfulResults" ? job.successful
                             : what == "failedResults"   ? job.failed
                                                         : job.unprocessed;
    return Reply{200, csv, "text/csv"};
  }
  return Errors(404, "NOT_FOUND", "The requested resource does not exist");
}

Reply Handler::CreateJob() {
  if (method_ != "POST") return Errors(405, "METHOD_NOT_ALLOWED", "use POST");
  value req;
  if (auto bad = ParseBody(&req)) return *bad;
  BulkJob job;
  job.object = req.has_field("object") ? req.at("object").as_string() : "";
  job.operation = req.has_field("operation") ? req.at("operation").as_string() : "";
  if (req.has_field("externalIdFieldName"))
    job.external_id_field = req.at("externalIdFieldName").as_string();
  if (!s_.FindTable(job.object))
    return Errors(400, "INVALIDJOB",
                  "Entity '" + job.object + "' is not supported by the Bulk API.");
  if (job.operation != "insert" && job.operation != "update" && job.operation != "upsert" &&
      job.operation != "delete")
    return Errors(400, "INVALIDJOB", "InvalidJob : Invalid operation: " + job.operation);
  if (job.operation == "upsert" && job.external_id_field.empty())
    return Errors(400, "INVALIDJOB", "InvalidJob : External ID was blank for " + job.object);
  job.id = MakeId("750", ++s_.job_seq);
  job.created_ms = s_.NowMs();
  s_.jobs[job.id] = job;
  return JsonReply(200, s_.JobInfo(job));
}

// A status poll moves a job on: UploadComplete → InProgress (processing it) → JobComplete.
Reply Handler::JobStatus(BulkJob& job) {
  value info = s_.JobInfo(job);
  if (job.state == "UploadComplete") {
    job.state = "InProgress";
    s_.ProcessJob(job);
    info["state"] = value::string("InProgress");
  } else if (job.state == "InProgress") {
    job.state = "JobComplete";
    info = s_.JobInfo(job);
  }
  return JsonReply(200, info);
}

Reply Handler::SetJobState(BulkJob& job) {
  value req;
  if (auto bad = ParseBody(&req)) return *bad;
  const std::string state = req.has_field("state") ? req.at("state").as_string() : "";
  if (state == "UploadComplete" && job.state == "Open")
    job.state = "UploadComplete";
  else if (state == "Aborted" && (job.state == "Open" || job.state == "UploadComplete"))
    job.state = "Aborted";
  else if (state != job.state)
    return Errors(400, "INVALIDJOBSTATE",
                  "Invalid state transition from " + job.state + " to " + state);
  return JsonReply(200, s_.JobInfo(job));
}

}  // namespace tandem::sandbox::salesforce
