// Errors in Stripe's shape: {"error": {type, code, message, param, doc_url}}.
#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {

Reply StripeError(int status, const std::string& type, const std::string& code,
                  const std::string& message, const std::string& param) {
  value e = value::object();
  e["type"] = value::string(type);
  if (!code.empty()) e["code"] = value::string(code);
  e["message"] = value::string(message);
  if (!param.empty()) e["param"] = value::string(param);
  if (!code.empty()) e["doc_url"] = value::string("https://stripe.com/docs/error-codes/" + code);
  value body = value::object();
  body["error"] = e;
  return Reply{status, body, {}};
}

Reply Missing(const std::string& kind, const std::string& id) {
  return StripeError(404, "invalid_request_error", "resource_missing",
                     "No such " + kind + ": '" + id + "'", "id");
}

[[noreturn]] void ThrowMissingParam(const std::string& name) {
  throw BadRequest{StripeError(400, "invalid_request_error", "parameter_missing",
                               "Missing required param: " + name + ".", name)};
}
[[noreturn]] void ThrowInvalid(const std::string& name, const std::string& why) {
  throw BadRequest{StripeError(400, "invalid_request_error", "parameter_invalid", why, name)};
}

}  // namespace tandem::sandbox::stripe
