// The shipped config/mapping.yaml, parsed, for tests that sync with the real default.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "mapping/mapping.h"

namespace tandem::testing {

inline mapping::Mapping DefaultMapping() {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/config/mapping.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = mapping::ParseMapping(ss.str(), "config/mapping.yaml");
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? *m : mapping::Mapping{};
}

}  // namespace tandem::testing
