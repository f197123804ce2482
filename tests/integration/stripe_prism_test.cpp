// Every request the Stripe adapter sends and every answer the Stripe sandbox gives, passed
// through Prism (Stoplight's OpenAPI validator, in proxy mode) with Stripe's published
// OpenAPI description: zero violations. Prism reports each violation in an sl-violations
// header; a recorder in front of the transport collects them.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "connector/billing/stripe/connection.h"
#include "connector/http/cpprest_transport.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "tests/fakes/fake_clock.h"
#include "util/net.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace tandem::connector::billing {
namespace {

class ViolationRecorder final : public http::HttpTransport {
 public:
  explicit ViolationRecorder(http::HttpTransportPtr next) : next_(std::move(next)) {}
  Result<http::HttpResponse> Send(http::HttpRequest& request) override {
    auto r = next_->Send(request);
    std::lock_guard<std::mutex> lock(mu_);
    ++seen_;
    if (r.ok())
      if (auto v = r->Header("sl-violations"))
        violations_.push_back(request.method + " " + request.path + ": " + *v);
    return r;
  }
  std::vector<std::string> violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }
  int seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  http::HttpTransportPtr next_;
  std::mutex mu_;
  std::vector<std::string> violations_;
  int seen_ = 0;
};

bool Listening(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

TEST(StripeThroughPrism, EveryRequestAndAnswerMatchesStripesOpenApiDescription) {
  const std::string root = TANDEM_SOURCE_DIR;
  const std::string prism = root + "/tests/peers/node_modules/.bin/prism";
  // Stripe's description, cut to the paths Tandem uses (tests/peers/stripe-openapi/README.md).
  const std::string spec_file = root + "/tests/peers/stripe-openapi/spec3.tandem.json";
  ASSERT_TRUE(std::filesystem::exists(prism)) << "prism is missing: run npm ci in tests/peers";
  ASSERT_TRUE(std::filesystem::exists(spec_file)) << spec_file;

  SystemClock clock;
  sandbox::stripe::StripeSandbox sandbox({}, clock);
  ASSERT_TRUE(sandbox.Start().ok());
  const int port = FreeLoopbackPort();
  const pid_t pid = fork();
  if (pid == 0) {
    // Prism's own log is not needed: violations come back in the sl-violations header.
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(prism.c_str(), prism.c_str(), "proxy", spec_file.c_str(), sandbox.base_url().c_str(),
          "-p", std::to_string(port).c_str(), "-h", "127.0.0.1", static_cast<char*>(nullptr));
    _exit(127);
  }
  bool up = false;
  for (int i = 0; i < 120 && !up; ++i) {
    up = Listening(port);
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(up) << "prism did not start";

  testing::FakeClock fake;
  testing::FakeSleeper sleeper(fake);
  SeededRandom random(3);
  http::CallCounter counter;
  Redactor redactor;
  stripe::StripeConnectionOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.api_key = "sk_test_sandbox";
  o.rate_per_second = 0;
  // The Prism cut of Stripe's spec knows expandable fields only as ids (see its README).
  o.api.expand = false;
  auto recorder = std::make_unique<ViolationRecorder>(
      std::make_unique<http::CpprestTransport>(http::TransportOptions{o.base_url, Millis(30'000)}));
  ViolationRecorder* rec = recorder.get();
  stripe::StripeConnection conn(o, {clock, sleeper, random, counter}, redactor,
                                std::move(recorder));
  auto& b = conn.billing();

  // Accounts.
  BillingAccount acct;
  acct.name = "Prism Co";
  acct.email = "ap@prism.example";
  acct.external_key = "001PRISM";
  acct.address.city = "Porto";
  acct.address.country = "PT";
  const auto account = b.CreateAccount(acct, "prism:acct").value();
  BillingAccount change;
  change.phone = "+351 22 000 0000";
  EXPECT_TRUE(b.UpdateAccount(account.id, change, "prism:acct:update").ok());
  EXPECT_TRUE(b.GetAccount(account.id).ok());
  EXPECT_TRUE(b.FindAccountByExternalKey("001PRISM").ok());
  EXPECT_TRUE(b.ListAccounts([](const BillingAccount&) { return Status::Ok(); }).ok());
  EXPECT_TRUE(b.GetAccount("cus_missing").status().IsNotFound());  // an error answer too

  // Catalog.
  Product product;
  product.name = "Virtual Server";
  product.description = "2 vCPU";
  const auto prod = b.CreateProduct(product, "prism:prod").value();
  Price price;
  price.product_id = prod.id;
  price.currency = "usd";
  price.unit_amount_minor = 5000;
  price.interval = "month";
  const auto monthly = b.CreatePrice(price, "prism:price").value();
  price.unit_amount_minor = 7000;
  const auto premium = b.CreatePrice(price, "prism:price2").value();
  EXPECT_TRUE(b.GetPrice(monthly.id).ok());
  auto cat = b.ListCatalogChanges("");
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  product.name = "Virtual Server XL";
  EXPECT_TRUE(b.UpdateProduct(prod.id, product, "prism:prod:rename").ok());
  EXPECT_TRUE(b.ListCatalogChanges(cat->cursor).ok());

  // Subscriptions, add-ons, charges, usage.
  SubscriptionSpec spec;
  spec.account_id = account.id;
  spec.items.push_back(SubscriptionItem{"", monthly.id, 2, {{"crm_order_item", "802P"}}});
  spec.metadata["crm_order"] = "801P";
  spec.cancel_at = ToEpochMillis(clock.Now()) / 1000 + 365 * 86400;
  const auto sub = b.CreateSubscription(spec, "prism:sub").value();
  const std::string item = sub.items.at(0).id;
  EXPECT_TRUE(b.GetSubscription(sub.id).ok());
  EXPECT_TRUE(b.ChangeQuantity(sub.id, item, 3, Proration::kProrate, "prism:qty").ok());
  EXPECT_TRUE(b.ChangePrice(sub.id, item, SubscriptionItem{"", premium.id, 1, {}}, Proration::kNone,
                            "prism:rerate")
                  .ok());
  // The sold price (ADR 0009): price_data on a subscription, a re-rate and an add-on.
  SubscriptionItem sold{"", "", 1, {}};
  sold.sold_price = true;
  sold.price.product_id = monthly.product_id;
  sold.price.currency = "eur";
  sold.price.unit_amount_minor = 2550;
  sold.price.interval = "month";
  SubscriptionSpec sold_spec = spec;
  sold_spec.items = {sold};
  EXPECT_TRUE(b.CreateSubscription(sold_spec, "prism:sold:sub").ok());
  EXPECT_TRUE(b.ChangePrice(sub.id, item, sold, Proration::kProrate, "prism:sold:rerate").ok());
  EXPECT_TRUE(b.AddAddOn(sub.id, sold, Proration::kNone, "prism:sold:addon").ok());
  auto addon = b.AddAddOn(sub.id, SubscriptionItem{"", monthly.id, 1, {}}, Proration::kProrate,
                          "prism:addon");
  ASSERT_TRUE(addon.ok()) << addon.status().ToString();
  EXPECT_TRUE(b.ChangeAddOn(addon->id, 2, Proration::kNone, "prism:addon:qty").ok());
  EXPECT_TRUE(b.RecordUsage(UsageRecord{addon->id, 5, ToEpochMillis(clock.Now()) / 1000, false},
                            "prism:usage")
                  .ok());
  EXPECT_TRUE(b.RemoveAddOn(addon->id, Proration::kNone, "prism:addon:remove").ok());
  EXPECT_TRUE(b.ReTerm(sub.id, spec.cancel_at + 86400, "prism:reterm").ok());
  EXPECT_TRUE(b.Cancel(sub.id, true, "prism:cancel-end").ok());
  EXPECT_TRUE(b.Renew(sub.id, spec.cancel_at + 400 * 86400, "prism:renew").ok());
  OneTimeCharge fee;
  fee.account_id = account.id;
  fee.amount_minor = 999;
  fee.currency = "usd";
  fee.description = "Early termination fee";
  EXPECT_TRUE(b.AddOneTimeCharge(fee, "prism:fee").ok());
  SubscriptionSpec pending = spec;
  pending.start_active = false;
  const auto held = b.CreateSubscription(pending, "prism:sub2").value();
  EXPECT_TRUE(b.StartSubscription(held.id, 0, "prism:start").ok());
  sandbox.BillRun("", {});
  std::string invoice_id;
  EXPECT_TRUE(b.ListInvoices(account.id, [&](const Invoice& i) {
                 invoice_id = i.id;
                 return Status::Ok();
               }).ok());
  EXPECT_TRUE(b.GetInvoice(invoice_id).ok());
  // Money given back, as made in Stripe's dashboard (so the sandbox's answers are checked
  // too), then read the ways Tandem reads it.
  const Invoice billed = b.GetInvoice(invoice_id).value();
  ASSERT_EQ(billed.status, "paid");
  auto post = [&](const std::string& path, const std::string& form) {
    http::HttpRequest req;
    req.method = "POST";
    req.path = path;
    req.body = form;
    http::SetHeader(req.headers, "Content-Type", "application/x-www-form-urlencoded");
    auto resp = conn.rest().Send(std::move(req));
    if (!resp.ok()) return std::make_pair(0, Json());
    auto body = Json::Parse(resp->body);
    return std::make_pair(resp->status, body.ok() ? *body : Json());
  };
  EXPECT_EQ(
      post("/v1/refunds", "charge=" + billed.charge_id + "&amount=100&reason=duplicate").first,
      200);
  EXPECT_EQ(post("/v1/credit_notes", "invoice=" + billed.id +
                                         "&amount=300&credit_amount=200&refund_amount=100"
                                         "&memo=Goodwill&reason=order_change")
                .first,
            200);
  EXPECT_EQ(post("/v1/refunds", "charge=" + billed.charge_id + "&amount=999999").first, 400);
  const auto [made, to_void] =
      post("/v1/credit_notes", "invoice=" + billed.id + "&amount=50&credit_amount=50");
  EXPECT_EQ(made, 200);
  EXPECT_EQ(post("/v1/credit_notes/" + to_void["id"].as_string() + "/void", "").first, 200);
  EXPECT_TRUE(b.GetPayment(billed.charge_id).ok());
  int entries = 0;
  EXPECT_TRUE(b.ListInvoicePayments(billed, [&](const Payment&) {
                 ++entries;
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(entries, 5);  // the payment, two refunds, two credit notes (one void)
  EXPECT_TRUE(b.ListPayments(account.id, [](const Payment&) { return Status::Ok(); }).ok());
  EXPECT_TRUE(b.Cancel(sub.id, false, "prism:cancel-now").ok());

  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  EXPECT_GE(rec->seen(), 30);
  const auto violations = rec->violations();
  for (const auto& v : violations) ADD_FAILURE() << v;
  EXPECT_TRUE(violations.empty());
}

}  // namespace
}  // namespace tandem::connector::billing
