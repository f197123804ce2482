// Secret references: "env:NAME" reads an environment variable, "file:PATH" reads a file
// (trailing newline trimmed; a relative path is relative to the config file's folder).
// Anything else is refused: secrets never stand in the config file in clear.
// Thread-safety: pure functions (they read the environment and files).
#pragma once

#include <string>

#include "app/config.h"

namespace tandem::app {

bool LooksLikeSecretRef(const std::string& value);
// Resolves a reference. Failure: InvalidArgument naming the reference (never the value).
Result<std::string> ResolveSecret(const std::string& ref, const std::string& base_dir,
                                  const EnvLookup& env);

}  // namespace tandem::app
