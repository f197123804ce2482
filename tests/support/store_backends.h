// The store backends every store test runs against (SOCI's test-context idea): SQLite in a
// temporary file, and PostgreSQL when PG_CONN names a server. scripts/test starts a
// throwaway PostgreSQL and sets TANDEM_REQUIRE_PG=1, so there a missing server fails the
// run instead of skipping half the suite.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "store/store.h"

namespace tandem::testing {

struct StoreBackend {
  std::string name;  // "sqlite" | "postgresql"
};
inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }

inline std::string PgConn() {
  const char* c = std::getenv("PG_CONN");
  return c ? c : "";
}

inline bool PgRequired() {
  const char* r = std::getenv("TANDEM_REQUIRE_PG");
  return r && std::string(r) == "1";
}

// A fresh, isolated store for one test: its own SQLite file or its own PostgreSQL schema.
class ScopedStore {
 public:
  ScopedStore(const StoreBackend& backend, const std::string& test_name, bool migrate = true) {
    const std::string tag = Sanitize(test_name) + "_" + std::to_string(::getpid());
    options_.migrate = migrate;
    if (backend.name == "postgresql") {
      options_.url = "postgresql:" + PgConn();
      options_.schema = "t_" + tag;
      options_.pool_size = 4;
    } else {
      path_ = (std::filesystem::temp_directory_path() / ("tandem_" + tag + ".db")).string();
      Cleanup();
      options_.url = "sqlite:" + path_;
    }
  }
  ~ScopedStore() {
    if (store_) (void)store_->DropSchemaForTests();
    store_.reset();
    Cleanup();
  }

  // Skips (or, where PostgreSQL is required, fails) when the backend is not available.
  static bool Available(const StoreBackend& backend) {
    if (backend.name != "postgresql") return true;
    if (!PgConn().empty()) return true;
    if (PgRequired()) ADD_FAILURE() << "TANDEM_REQUIRE_PG=1 but PG_CONN is not set";
    return false;
  }

  Status Open() {
    auto s = store::Store::Open(options_);
    if (!s.ok()) return s.status();
    store_ = std::move(s).value();
    return Status::Ok();
  }
  // Another store on the same database (a second process, as far as the store can tell).
  Result<std::unique_ptr<store::Store>> OpenAnother() const { return store::Store::Open(options_); }

  store::Store& operator*() { return *store_; }
  store::Store* operator->() { return store_.get(); }
  const store::StoreOptions& options() const { return options_; }

 private:
  static std::string Sanitize(const std::string& s) {
    std::string out;
    for (char c : s)
      out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    return out.substr(0, 40);
  }
  void Cleanup() {
    if (path_.empty()) return;
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix, ec);
  }

  store::StoreOptions options_;
  std::string path_;
  std::unique_ptr<store::Store> store_;
};

// A test run once per backend, with a fresh store of its own. Derived SetUp calls
// OpenStore() first and returns when the test was skipped or failed there.
class StoreBackendTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void OpenStore() {
    if (!ScopedStore::Available(GetParam())) GTEST_SKIP() << "no PostgreSQL (set PG_CONN)";
    store_ = std::make_unique<ScopedStore>(
        GetParam(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    Status st = store_->Open();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  bool StoreReady() const { return !IsSkipped() && !HasFatalFailure() && store_ != nullptr; }

  std::unique_ptr<ScopedStore> store_;
};

inline std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name == "postgresql" ? "PostgreSQL" : "SQLite";
}

}  // namespace tandem::testing
