// Injected faults shared by the emulators: which requests they hit and what they do.
// A fault hits the next `count` requests whose method and path match (count -1: until
// cleared). Kinds by `error_code`: an error answer with `status`; DROP_CONNECTION (the
// connection closes before the request is served); LOSE_RESPONSE (served, then the
// connection closes before the answer arrives); `latency_ms` delays either.
// Thread-safety: FaultSet is not locked; the emulator guards it with its own mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace tandem::sandbox {

struct Fault {
  std::string method;         // "" matches any
  std::string path_contains;  // "" matches any path
  int status = 503;
  std::string error_code = "SERVER_UNAVAILABLE";
  int count = 1;
  int latency_ms = 0;
};

// Parses one fault object or an array of them:
// {"method","path","status","error_code","count","latency_ms"}; unknown keys are errors.
Status ParseFaults(const std::string& json, std::vector<Fault>* out);

// What a fault does, as a short name for counting: its error code for the kinds with one
// (LOSE_RESPONSE, DROP_CONNECTION, UNABLE_TO_LOCK_ROW, ...), else its status, else "latency".
std::string FaultKind(const Fault& fault);

class FaultSet {
 public:
  void Add(const Fault& fault) { active_.push_back(Active{fault, fault.count}); }
  // Removes the faults; their hit counts stay (tests read them after clearing).
  void Clear() { active_.clear(); }
  // Takes (and counts down) the first fault matching the request and `accept`; counts a hit.
  std::optional<Fault> Take(const std::string& method, const std::string& path,
                            const std::function<bool(const Fault&)>& accept = nullptr);
  // Hits since the emulator started (or was reset), by FaultKind: a test proves its fault
  // fired, and /__sandbox/stats shows it.
  const std::map<std::string, int64_t>& hits() const { return hits_; }
  void ResetHits() { hits_.clear(); }

 private:
  struct Active {
    Fault fault;
    int remaining;
  };
  std::vector<Active> active_;
  std::map<std::string, int64_t> hits_;
};

}  // namespace tandem::sandbox
