// Linked into every test binary: tracks cpprest's asynchronous work from the start and waits
// for it after the last test, so nothing is still queued when the process exits (see
// connector/http/pplx_drain.h).
#include <gtest/gtest.h>

#include "connector/http/pplx_drain.h"

namespace {

class PplxDrain final : public ::testing::Environment {
 public:
  void SetUp() override { tandem::connector::http::InstallPplxTracking(); }
  void TearDown() override {
    (void)tandem::connector::http::WaitForPplxIdle(tandem::Millis(10'000));
  }
};

const auto* const kRegistered = ::testing::AddGlobalTestEnvironment(new PplxDrain);

}  // namespace
