// API tokens for the CRM's quick actions: random, shown once at creation, kept only as a
// SHA-256 in the store.
// Thread-safety: pure functions (NewApiToken reads /dev/urandom).
#pragma once

#include <string>

#include "util/result.h"

namespace tandem::app {

// "tdm_" + 40 hex characters of randomness from the operating system.
Result<std::string> NewApiToken();
std::string TokenHash(const std::string& token);

}  // namespace tandem::app
