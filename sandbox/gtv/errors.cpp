// Errors in GTV's shape: {"code": "<status>", "message": "..."} (verified for the Usage
// Processing service; the emulator uses it for Billing too, as the research note infers).
#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {

Reply GtvError(int status, const std::string& message) {
  value body = value::object();
  body["code"] = value::string(std::to_string(status));
  body["message"] = value::string(message);
  return Reply{status, body, {}, {}, {}};
}

Reply NotFound(const std::string& kind, const std::string& id) {
  return GtvError(404, "Entity not found: " + kind + " " + id);
}

[[noreturn]] void Fail(int status, const std::string& message) {
  throw ApiError{GtvError(status, message)};
}

[[noreturn]] void Invalid(const std::string& message) { Fail(422, message); }

}  // namespace tandem::sandbox::gtv
