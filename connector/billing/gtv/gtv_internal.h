// What the GTV adapter's parts share (gtv_billing.cpp, gtv_subscriptions.cpp, gtv_events.cpp):
// query building, references, and which answers and service states mean what. Internal.
#pragma once

#include <string>

#include "connector/http/form.h"
#include "util/json.h"
#include "util/status.h"

namespace tandem::connector::billing::gtv {

// A filter=<field> EQ '<value>' query (GTV's filter language quotes with '', doubled inside).
inline std::string Eq(const std::string& field, const std::string& value) {
  std::string quoted;
  for (char c : value) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return http::FormEncode({{"filter", field + " EQ '" + quoted + "'"}});
}

inline std::string Query(const http::FormFields& fields) { return http::FormEncode(fields); }

inline Json Ref(const std::string& id) {
  Json r = Json::MakeObject();
  r.Set("id", id);
  return r;
}

// An answer that may have been lost after GTV acted on it: look before doing it again.
inline bool Ambiguous(const Status& st) {
  return st.IsUnavailable() || st.IsTimeout() || st.IsIoError() || st.IsRateLimited() ||
         st.IsRemoteError();
}

inline bool ServiceEnded(const Json& service) {
  const std::string s = service["status"].as_string();
  return s == "SERVICE_DEACTIVATED" || s == "SERVICE_REPLACED" || s == "SERVICE_CANCELED";
}

inline constexpr char kTermNote[] = "tandem term ends ";  // a held order's term, kept on its note

}  // namespace tandem::connector::billing::gtv
