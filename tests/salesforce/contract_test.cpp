// The Salesforce package's contract with Tandem, checked without an org: every call of
// salesforce/.../staticresources/TandemApiContract.json — the requests the Apex classes build
// and the answers they parse, which their HttpCalloutMock tests answer from — is replayed
// against `tandem serve` (the real binary, the sandboxes on loopback) in the contract's order.
// Each answer must have the contract's HTTP status and every key of the contract's answer, with
// the same JSON type: if the API changes shape, this test fails before an Apex class breaks in
// an org.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "connector/http/rest_client.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/billing_backends.h"
#include "tests/support/catalog_builder.h"
#include "tests/support/order_builder.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/sandbox_config.h"
#include "tests/support/serve_process.h"
#include "tests/support/store_backends.h"
#include "tests/support/test_dates.h"
#include "util/net.h"

#include <sys/wait.h>

namespace tandem::app {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "contract-test-token";

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TypeName(const Json& j) {
  if (j.is_object()) return "object";
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_number()) return "number";
  if (j.is_bool()) return "boolean";
  return "null";
}

// The keys whose values the Apex code and its tests rely on (outcomes, counts, states, error
// codes, a drift's values): the contract's value must be Tandem's, not only its type. Ids,
// URLs, keys and messages differ from run to run and are compared by type.
bool ValueMatters(const std::string& path) {
  static const std::set<std::string> kKeys = {
      "outcome",  "object",  "created", "updated",   "unchanged",  "failed",   "invoices",
      "payments", "changed", "kept",    "replanned", "superseded", "finished", "status",
      "done",     "total",   "code",    "field",     "crm",        "billing",  "state"};
  const size_t dot = path.rfind('.');
  return kKeys.count(dot == std::string::npos ? path : path.substr(dot + 1)) > 0;
}

// Where `live` lacks what `want` has: each key of an object with the same JSON type (and the
// same value where ValueMatters); for an array, each key of the contract's element in some
// element of the live one (a task list holds done and failed tasks; only a failed one has
// last_error).
void Shape(const Json& want, const Json& live, const std::string& path,
           std::vector<std::string>* wrong) {
  if (TypeName(want) != TypeName(live)) {
    wrong->push_back(path + ": " + TypeName(want) + " in the contract, " + TypeName(live) +
                     " from Tandem");
    return;
  }
  if (!want.is_object() && !want.is_array() && ValueMatters(path) &&
      want.ToText() != live.ToText()) {
    wrong->push_back(path + ": " + want.ToText() + " in the contract, " + live.ToText() +
                     " from Tandem");
    return;
  }
  if (want.is_object()) {
    for (const auto& [key, value] : want.object()) {
      const Json* got = live.Find(key);
      if (!got)
        wrong->push_back(path + "." + key + ": missing from Tandem's answer");
      else
        Shape(value, *got, path + "." + key, wrong);
    }
  } else if (want.is_array() && !want.array().empty()) {
    if (live.array().empty()) {
      wrong->push_back(path + ": empty in Tandem's answer, the contract has an element");
      return;
    }
    for (const auto& [key, value] : want.array()[0].object()) {
      bool found = false;
      for (const auto& element : live.array()) {
        const Json* got = element.Find(key);
        if (got && TypeName(*got) == TypeName(value)) {
          std::vector<std::string> inner;
          Shape(value, *got, path + "[]." + key, &inner);
          found = found || inner.empty();
        }
      }
      if (!found) wrong->push_back(path + "[]." + key + ": in no element of Tandem's answer");
    }
  }
}

std::string Replace(std::string text, const std::map<std::string, std::string>& ids) {
  for (const auto& [placeholder, id] : ids)
    for (size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder, at + id.size()))
      text.replace(at, placeholder.size(), id);
  return text;
}

class SalesforceContract : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem_contract_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<testing::ScopedStore>(testing::StoreBackend{"sqlite"}, "contract");
    ASSERT_TRUE(store_->Open().ok());
    config_ = (dir_ / "tandem.yaml").string();
    testing::WriteSandboxConfigWith(config_, store_->options(), crm_.sandbox.base_url(),
                                    billing_.ConfigSection(), TANDEM_SOURCE_DIR,
                                    "server:\n  api_token: env:TANDEM_API_TOKEN\n"
                                    "schedules:\n  order_poll: 200ms\n  catalog_sync: 24h\n"
                                    "workers:\n  count: 1\n  lease: 5s\n");
    auto& billing = billing_.billing();
    const auto product = testing::CreateBillingProduct(billing, "Virtual Server", "p").value();
    price_ =
        testing::CreateBillingPrice(billing, product.id, "eur", 3000, "month", "pm").value().id;
    const std::string pricebook = testing::CreatePricebook(crm_.client()).value();
    server_.product_crm =
        testing::CreateProduct2(crm_.client(), {"Virtual Server", "", "Virtual Server", "Base", ""})
            .value();
    server_.entry_crm =
        testing::CreatePricebookEntry(crm_.client(), pricebook, server_.product_crm, 30.0, price_)
            .value();
    port_ = FreeLoopbackPort();
    pid_ = testing::StartServeProcess(TANDEM_BINARY, config_, (dir_ / "serve.log").string(), port_,
                                      {{"TANDEM_API_TOKEN", kToken}});
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string NewAccount(const std::string& name) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    return crm_.client().Create("Account", a).value();
  }

  std::string NewOrder(const std::string& account) {
    return testing::CreateOrders(
               crm_.client(),
               {{account, testing::TestMonth(0), "New", {{&server_, 1, 30.0, "", "", 12}}}})
        .value()
        .front();
  }

  // Waits (up to 60 s) until the order's work order is failed, or done.
  bool WaitFor(const std::string& order, const std::string& state) {
    for (int i = 0; i < 600; ++i) {
      store::GroupFilter f;
      f.state = state;
      f.group_id = order;
      auto groups = (*store_)->ListGroups(f);
      if (groups.ok() && groups->size() == 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  connector::http::HttpResponse Post(const std::string& path, const std::string& body,
                                     const std::string& token) {
    testing::FakeClock fake;
    testing::FakeSleeper sleeper(fake);
    SeededRandom random(1);
    connector::http::CallCounter counter;
    connector::http::RestClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port_);
    o.retry.max_attempts = 1;
    o.timeout = Millis(60'000);
    connector::http::RestClient client(o, {clock_, sleeper, random, counter}, nullptr);
    connector::http::HttpRequest req;
    req.method = "POST";
    req.path = path;
    req.body = body;
    connector::http::SetHeader(req.headers, "Content-Type", "application/json");
    connector::http::SetHeader(req.headers, "Authorization", "Bearer " + token);
    auto resp = client.Send(req);
    return resp.ok() ? *resp : connector::http::HttpResponse{};
  }

  SystemClock clock_;
  std::unique_ptr<testing::ScopedStore> store_;
  testing::SalesforceEnv crm_;
  testing::StripeBackend billing_;
  testing::CatalogProduct server_;
  std::string price_;
  fs::path dir_;
  std::string config_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(SalesforceContract, EveryCallTheApexClassesMakeGetsTheAnswerTheyParse) {
  auto contract = Json::Parse(
      Slurp(fs::path(TANDEM_SOURCE_DIR) / "salesforce/force-app/main/default/staticresources/"
                                          "TandemApiContract.json"));
  ASSERT_TRUE(contract.ok()) << contract.status().ToString();
  ASSERT_GE((*contract)["calls"].array().size(), 10u);

  // The records the contract names: a fresh account, two work orders that failed (the planted
  // refusals: one to retry, one to restart), one that completed.
  const std::string account = NewAccount("Contract Co");
  billing_.AddFault({"POST", "/v1/subscriptions", 400, "parameter_invalid_integer", 2, 0});
  const std::string failed_order = NewOrder(NewAccount("Failing Orders Co"));
  ASSERT_TRUE(WaitFor(failed_order, "failed")) << Slurp(dir_ / "serve.log");
  const std::string stuck_order = NewOrder(NewAccount("Stuck Orders Co"));
  ASSERT_TRUE(WaitFor(stuck_order, "failed")) << Slurp(dir_ / "serve.log");
  const std::string order = NewOrder(NewAccount("Orders Co"));
  ASSERT_TRUE(WaitFor(order, "done")) << Slurp(dir_ / "serve.log");
  std::map<std::string, std::string> ids{{"{{account}}", account},
                                         {"{{order}}", order},
                                         {"{{failed_order}}", failed_order},
                                         {"{{stuck_order}}", stuck_order},
                                         {"{{by}}", "salesforce:contract-test"}};

  std::set<std::string> replayed;
  for (const auto& call : (*contract)["calls"].array()) {
    const std::string name = call["name"].as_string();
    SCOPED_TRACE(name);
    // What the Apex caller would find in the org by then.
    if (name == "query") {  // a drift to list: the CRM renamed the account
      Json renamed = Json::MakeObject();
      renamed.Set("Name", "Contract Co Renamed");
      ASSERT_TRUE(crm_.client().Update("Account", account, renamed).ok());
    }
    if (name == "invoices") {  // an invoice billing made for the account
      connector::billing::SubscriptionSpec spec;
      spec.account_id = ids.at("{{customer}}");
      spec.items.push_back({"", price_, 1, {}});
      ASSERT_TRUE(billing_.billing().CreateSubscription(spec, "contract:invoice").ok());
    }
    const std::string token = call.Has("token") ? call["token"].as_string() : kToken;
    const std::string body = Replace(call["request"].Dump(), ids);
    auto resp = Post(call["path"].as_string(), body, token);
    EXPECT_EQ(resp.status, call["status"].as_int()) << body << " → " << resp.body;
    auto live = Json::Parse(resp.body);
    ASSERT_TRUE(live.ok()) << resp.body;
    std::vector<std::string> wrong;
    Shape(call["response"], *live, "answer", &wrong);
    EXPECT_TRUE(wrong.empty()) << ::testing::PrintToString(wrong) << "\n" << resp.body;
    if (name == "sync") {
      const Json& result = (*live)["results"].array().at(0);
      EXPECT_EQ(result["outcome"].ToText(), "created");
      ids["{{customer}}"] = result["billing_id"].ToText();  // linked again after the unlink
    }
    replayed.insert(name);
  }
  EXPECT_EQ(replayed.size(), (*contract)["calls"].array().size());
  // The replay changed what the contract says: the failed order was retried, the account is
  // linked to its customer again.
  EXPECT_EQ((*store_)->FindLinkByCrmId("account", account).value().value().billing_id,
            ids.at("{{customer}}"));
}

// The shape check itself: what it must catch.
TEST(SalesforceContractShape, FindsAMissingKeyATypeChangeAndAnEmptyList) {
  auto want = Json::Parse(R"({"results":[{"id":"x","invoices":1}],"n":1})").value();
  std::vector<std::string> wrong;
  Shape(want, Json::Parse(R"({"results":[{"id":"a","invoices":1}],"n":3,"more":true})").value(),
        "answer", &wrong);
  EXPECT_TRUE(wrong.empty()) << ::testing::PrintToString(wrong);
  Shape(want, Json::Parse(R"({"results":[{"id":"a","invoices":2}],"n":1})").value(), "answer",
        &wrong);
  ASSERT_EQ(wrong.size(), 1u);  // a count the Apex relies on differs
  EXPECT_EQ(wrong[0], "answer.results[].invoices: in no element of Tandem's answer");
  wrong.clear();
  Shape(want, Json::Parse(R"({"results":[{"id":"a","invoices":"2"}]})").value(), "answer", &wrong);
  ASSERT_EQ(wrong.size(), 2u);
  EXPECT_EQ(wrong[0], "answer.results[].invoices: in no element of Tandem's answer");
  EXPECT_EQ(wrong[1], "answer.n: missing from Tandem's answer");
  wrong.clear();
  Shape(want, Json::Parse(R"({"results":[],"n":1})").value(), "answer", &wrong);
  EXPECT_EQ(wrong.size(), 1u);
}

}  // namespace
}  // namespace tandem::app
