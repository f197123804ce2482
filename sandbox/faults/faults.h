// Injected faults shared by the emulators: which requests they hit and what they do.
// A fault hits the next `count` requests whose method and path match (count -1: until
// cleared). Kinds by `error_code`: an error answer with `status`; DROP_CONNECTION (the
// connection closes before the request is served); LOSE_RESPONSE (served, then the
// connection closes before the answer arrives); `latency_ms` delays either.
// Thread-safety: FaultSet is not locked; the emulator guards it with its own mutex.
#pragma once

#include <functional>
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

class FaultSet {
 public:
  void Add(const Fault& fault) { active_.push_back(Active{fault, fault.count}); }
  void Clear() { active_.clear(); }
  // Takes (and counts down) the first fault matching the request and `accept`.
  std::optional<Fault> Take(const std::string& method, const std::string& path,
                            const std::function<bool(const Fault&)>& accept = nullptr);

 private:
  struct Active {
    Fault fault;
    int remaining;
  };
  std::vector<Active> active_;
};

}  // namespace tandem::sandbox
