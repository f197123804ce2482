// Errors in Salesforce's shapes: a list of {errorCode|statusCode, message, fields}, and the
// save result of one record.
#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

value ErrorList(const std::vector<SfError>& errors, bool status_code_key) {
  value arr = value::array();
  size_t i = 0;
  for (const auto& e : errors) {
    value o = value::object();
    o[status_code_key ? "statusCode" : "errorCode"] = value::string(e.code);
    o["message"] = value::string(e.message);
    value f = value::array();
    for (size_t k = 0; k < e.fields.size(); ++k) f[k] = value::string(e.fields[k]);
    o["fields"] = f;
    arr[i++] = o;
  }
  return arr;
}

Reply JsonReply(int status, const value& v) {
  return Reply{status, v.serialize(), "application/json;charset=UTF-8"};
}

Reply Errors(int status, const std::string& code, const std::string& message) {
  return JsonReply(status, ErrorList({SfError{code, message, {}}}, false));
}

value Handler::SaveJson(const SaveOutcome& o, bool with_created) {
  value v = value::object();
  if (!o.id.empty()) v["id"] = value::string(o.id);
  v["success"] = value::boolean(o.success);
  v["errors"] = ErrorList(o.errors, true);
  if (with_created && o.success) v["created"] = value::boolean(o.created);
  return v;
}

}  // namespace tandem::sandbox::salesforce
