// The GTV sandbox over real HTTP on loopback, as an adapter would call it: auth, lists and
// filters, reference data, the catalog's rules, orders and services, the clock's effects,
// usage, bill runs, faults. Each test pins one rule of the wire contract (sandbox/gtv/README.md).
#include "sandbox/gtv/gtv_sandbox.h"

#include <map>
#include <optional>
#include <string>
#include <thread>

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/support/scripted_http_server.h"

namespace tandem::sandbox::gtv {
namespace {

namespace wh = web::http;
using web::json::value;

struct Answer {
  int status = 0;  // 0: no answer came (the connection closed)
  value body;
  std::string text;
  std::map<std::string, std::string> headers;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string Id() const { return body.at("id").as_string(); }
};

value Json(const std::string& text) { return value::parse(text); }

class GtvSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(GtvSandboxOptions{}); }

  void Start(GtvSandboxOptions options) {
    sandbox_ = std::make_unique<GtvSandbox>(std::move(options), clock_);
    ASSERT_TRUE(sandbox_->Start().ok());
    wh::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(10));
    client_ = std::make_unique<wh::client::http_client>(sandbox_->base_url(), cfg);
  }

  GtvSandbox& sandbox() { return *sandbox_; }

  // A call under /billing/2 (or an absolute /__sandbox path) with the sandbox's key.
  Answer Call(const std::string& method, const std::string& path,
              const std::optional<value>& body = std::nullopt,
              const std::optional<std::string>& key = std::string("gtv-sandbox-key"),
              const std::map<std::string, std::string>& extra = {}) {
    wh::http_request req(method);
    req.set_request_uri(path.rfind("/__sandbox", 0) == 0 ? path : "/billing/2" + path);
    if (key) req.headers().add("X-Api-Key", *key);
    for (const auto& [k, v] : extra) req.headers().add(k, v);
    if (body) req.set_body(body->serialize(), "application/json");
    Answer a;
    try {
      // A fresh client has no pooled connection: cpprest silently resends a request whose
      // reused connection broke, which would hide a lost answer.
      std::unique_ptr<wh::client::http_client> fresh;
      if (fresh_connection_)
        fresh = std::make_unique<wh::client::http_client>(sandbox_->base_url());
      auto resp = (fresh ? *fresh : *client_).request(req).get();
      a.status = resp.status_code();
      a.text = resp.extract_string(true).get();
      for (const auto& [k, v] : resp.headers()) a.headers[k] = v;
      if (!a.text.empty() && resp.headers().content_type().find("json") != std::string::npos)
        a.body = value::parse(a.text);
    } catch (const std::exception&) {
      a.status = 0;
    }
    return a;
  }

  value AccountBody(const std::string& external, const std::string& cycle = "101",
                    const std::string& category = "201") {
    return Json(R"({"external_account_num":")" + external + R"(","currency_code":"USD",
      "bill_cycle":{"id":")" +
                cycle + R"("},"billing_account_category":{"id":")" + category +
                R"("},"responsible_party":{"party_type":"organization","organization_name":"Acme",
      "addresses":[{"address_type":"postal","purpose":"BILLING","line1":"1 Main St",
        "city":"Austin","region_or_state":"TX","postal_code":"73301","country":"USA"},
        {"address_type":"email","purpose":"PRIMARY","email":"billing@acme.example"}]}})");
  }

  std::string Account(const std::string& external) {
    Answer a = Call("POST", "/billing-accounts", AccountBody(external));
    EXPECT_EQ(a.status, 200) << a.text;
    return a.status == 200 ? a.Id() : "";
  }

  struct Priced {
    std::string product, price;
  };

  // An ACTIVE product with one USD price (recurring monthly unless one-time).
  Priced Product(const std::string& name, const std::string& type, const std::string& amount,
                 const std::string& parent = "") {
    value body = Json(R"({"product_type":")" + type + R"(","name":")" + name + R"("})");
    if (!parent.empty()) body["parent_product"] = Json(R"({"id":")" + parent + R"("})");
    Answer p = Call("POST", "/products", body);
    EXPECT_EQ(p.status, 200) << p.text;
    const bool one_time = type == "one-time";
    Answer price =
        Call("POST", "/products/" + p.Id() + "/product-prices",
             Json(std::string(R"({"price_type":")") + (one_time ? "one-time" : "recurring") +
                  R"(","currency_code":"usd","amount":)" + amount +
                  (one_time ? "" : R"(,"recurrence_period":"MONTH")") + "}"));
    EXPECT_EQ(price.status, 200) << price.text;
    EXPECT_EQ(Call("POST", "/products/" + p.Id() + "/activate", Json("{}")).status, 200);
    return Priced{p.Id(), price.Id()};
  }

  // A DRAFT order of one item; `extra` is merged into the item.
  Answer Order(const std::string& account, const std::string& product, int quantity,
               const std::string& extra = "") {
    return Call("POST", "/orders",
                Json(R"({"order_type":"sales","billing_account":{"id":")" + account +
                     R"("},"order_items":[{"product":{"id":")" + product + R"("},"quantity":)" +
                     std::to_string(quantity) + extra + "}]}"));
  }

  // An ordered and confirmed item's service id.
  std::string Service(const std::string& account, const std::string& product, int quantity = 1,
                      const std::string& extra = "") {
    Answer o = Order(account, product, quantity, extra);
    EXPECT_EQ(o.status, 200) << o.text;
    Answer c = Call("POST", "/orders/" + o.Id() + "/confirm", Json("{}"));
    EXPECT_EQ(c.status, 200) << c.text;
    if (c.status != 200) return "";
    const value& service = c.body.at("order_items").at(0).at("service");
    return service.is_null() ? "" : service.at("id").as_string();  // null: a one-time product
  }

  std::string Status(const std::string& service) {
    return Call("GET", "/services/" + service).body.at("status").as_string();
  }

  testing::FakeClock clock_;
  bool fresh_connection_ = false;
  std::unique_ptr<GtvSandbox> sandbox_;
  std::unique_ptr<wh::client::http_client> client_;
};

TEST_F(GtvSandboxTest, AMissingOrWrongApiKeyIs401InGtvsErrorShape) {
  Answer none = Call("GET", "/billing-accounts", std::nullopt, std::nullopt);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body.at("code").as_string(), "401");
  EXPECT_EQ(none.body.at("message").as_string(), "Authentication failed");
  EXPECT_EQ(Call("GET", "/billing-accounts", std::nullopt, std::string("wrong")).status, 401);
  // The header's name is case-insensitive.
  Answer lower =
      Call("GET", "/bill-cycles", std::nullopt, std::nullopt, {{"x-api-key", "gtv-sandbox-key"}});
  EXPECT_EQ(lower.status, 200);
  EXPECT_EQ(Call("GET", "/billing-accounts/999").body.at("code").as_string(), "404");
  EXPECT_EQ(Call("POST", "/billing-accounts", std::nullopt, std::string("gtv-sandbox-key"),
                 {{"Content-Type", "application/json"}})
                .status,
            422);  // an empty body is an empty object: the account misses its bill cycle
}

TEST_F(GtvSandboxTest, MalformedJsonIs400) {
  wh::http_request req(wh::methods::POST);
  req.set_request_uri("/billing/2/billing-accounts");
  req.headers().add("X-Api-Key", "gtv-sandbox-key");
  req.set_body(std::string("{not json"), "application/json");
  auto resp = client_->request(req).get();
  EXPECT_EQ(resp.status_code(), 400);
  EXPECT_EQ(resp.extract_json(true).get().at("code").as_string(), "400");
}

TEST_F(GtvSandboxTest, ListsAreBareArraysPagedWithCountHeaders) {
  for (int i = 0; i < 3; ++i) Account("CRM-" + std::to_string(i));
  Answer first = Call("GET", "/billing-accounts?page_size=2");
  ASSERT_EQ(first.status, 200);
  ASSERT_TRUE(first.body.is_array());
  EXPECT_EQ(first.body.size(), 2u);
  EXPECT_EQ(first.Header("x-total-count"), "3");
  EXPECT_EQ(first.Header("x-total-pages"), "2");
  EXPECT_EQ(first.Header("x-element-count"), "2");
  Answer second = Call("GET", "/billing-accounts?page_size=2&page_number=2");
  EXPECT_EQ(second.body.size(), 1u);
  EXPECT_EQ(second.Header("x-element-count"), "1");
  // Sorted by id ascending.
  EXPECT_LT(std::stoll(first.body.at(0).at("id").as_string()),
            std::stoll(first.body.at(1).at("id").as_string()));
  EXPECT_LT(std::stoll(first.body.at(1).at("id").as_string()),
            std::stoll(second.body.at(0).at("id").as_string()));
  EXPECT_EQ(Call("GET", "/billing-accounts?page_size=51").status, 422);
  EXPECT_EQ(Call("GET", "/billing-accounts?page_size=0").status, 422);
  EXPECT_EQ(Call("GET", "/billing-accounts?page_number=0").status, 422);
  Answer omitted = Call("GET", "/billing-accounts?omit_total_count=true");
  EXPECT_EQ(omitted.body.size(), 3u);
  EXPECT_EQ(omitted.Header("x-total-count"), "");
  EXPECT_EQ(omitted.Header("x-element-count"), "");
}

TEST_F(GtvSandboxTest, FiltersSelectByEqAndGtAndRefuseWhatTheyDoNotSupport) {
  const std::string a = Account("CRM-A");
  const std::string b = Account("O'Brien");
  Account("CRM-C");
  Answer eq = Call("GET", "/billing-accounts?filter=" +
                              web::uri::encode_data_string("external_account_num EQ 'CRM-A'"));
  ASSERT_EQ(eq.status, 200) << eq.text;
  ASSERT_EQ(eq.body.size(), 1u);
  EXPECT_EQ(eq.body.at(0).at("id").as_string(), a);
  Answer quoted =
      Call("GET", "/billing-accounts?filter=" +
                      web::uri::encode_data_string("external_account_num eq 'O''Brien'"));
  ASSERT_EQ(quoted.body.size(), 1u);
  EXPECT_EQ(quoted.body.at(0).at("id").as_string(), b);
  Answer gt =
      Call("GET", "/billing-accounts?filter=" +
                      web::uri::encode_data_string("id GT '" + a + "' AND status EQ 'ACTIVE'"));
  EXPECT_EQ(gt.body.size(), 2u);
  Answer plain = Call("GET", "/billing-accounts?external_account_num=CRM-C");
  EXPECT_EQ(plain.body.size(), 1u);
  EXPECT_EQ(Call("GET", "/billing-accounts?filter=" +
                            web::uri::encode_data_string("external_account_num LIKE 'CRM%'"))
                .status,
            422);
  EXPECT_EQ(
      Call("GET", "/billing-accounts?filter=" + web::uri::encode_data_string("nickname EQ 'x'"))
          .status,
      422);
  EXPECT_EQ(Call("GET", "/billing-accounts?filter=" +
                            web::uri::encode_data_string("status EQ 'ACTIVE' OR id GT '1'"))
                .status,
            422);
  // A misspelt plain key is refused, not ignored (ignored, it would list every account).
  Answer misspelt = Call("GET", "/billing-accounts?external_acount_num=CRM-C");
  EXPECT_EQ(misspelt.status, 422) << misspelt.text;
  EXPECT_NE(misspelt.text.find("external_acount_num"), std::string::npos) << misspelt.text;
}

TEST_F(GtvSandboxTest, AnAccountNeedsReferenceDataAndARepeatedPostCreatesASecond) {
  Answer cycles = Call("GET", "/bill-cycles");
  ASSERT_EQ(cycles.status, 200);
  EXPECT_EQ(cycles.body.at(0).at("id").as_string(), "101");
  EXPECT_EQ(cycles.body.at(0).at("currency_code").as_string(), "USD");
  EXPECT_EQ(Call("GET", "/billing-account-categories").body.at(1).at("code").as_string(),
            "ENTERPRISE");
  EXPECT_EQ(Call("GET", "/payment-terms").body.at(0).at("days").as_integer(), 30);

  Answer no_cycle = Call("POST", "/billing-accounts", AccountBody("X", "999"));
  EXPECT_EQ(no_cycle.status, 422);
  EXPECT_NE(no_cycle.body.at("message").as_string().find("bill_cycle"), std::string::npos);
  Answer no_category = Call("POST", "/billing-accounts", AccountBody("X", "101", "999"));
  EXPECT_EQ(no_category.status, 422);
  EXPECT_NE(no_category.body.at("message").as_string().find("billing_account_category"),
            std::string::npos);
  value bad_field = AccountBody("X");
  bad_field["custom_field_values"] = Json(R"([{"custom_field":{"id":"424242"},"value":"x"}])");
  EXPECT_EQ(Call("POST", "/billing-accounts", bad_field).status, 422);
  value no_name = AccountBody("X");
  no_name["responsible_party"]["organization_name"] = value::string("");
  EXPECT_EQ(Call("POST", "/billing-accounts", no_name).status, 422);
  EXPECT_EQ(sandbox().CountObjects("billing-account"), 0);

  // A defined custom field is accepted and named in the answer.
  Answer fields = Call("GET", "/custom-fields?custom_field_value_type=billing-account");
  std::string crm_field;
  for (const auto& f : fields.body.as_array())
    if (f.at("name").as_string() == "crm_account_id") crm_field = f.at("id").as_string();
  ASSERT_FALSE(crm_field.empty());
  value body = AccountBody("CRM-1");
  body["custom_field_values"] =
      Json(R"([{"custom_field":{"id":")" + crm_field + R"("},"value":"001A"}])");
  const std::map<std::string, std::string> idem = {{"Idempotency-Key", "same-key"}};
  Answer first = Call("POST", "/billing-accounts", body, std::string("gtv-sandbox-key"), idem);
  Answer again = Call("POST", "/billing-accounts", body, std::string("gtv-sandbox-key"), idem);
  ASSERT_EQ(first.status, 200) << first.text;
  ASSERT_EQ(again.status, 200);
  EXPECT_NE(first.Id(), again.Id());  // no idempotency, as in GTV
  EXPECT_NE(first.body.at("account_num").as_string(), again.body.at("account_num").as_string());
  EXPECT_EQ(sandbox().CountObjects("billing-account"), 2);
  EXPECT_EQ(first.body.at("status").as_string(), "ACTIVE");
  EXPECT_EQ(first.body.at("bill_cycle").at("name").as_string(), "Monthly 1st");
  EXPECT_EQ(first.body.at("custom_field_values").at(0).at("custom_field").at("name").as_string(),
            "crm_account_id");
  EXPECT_NE(first.text.find("\"balance\":0.00"), std::string::npos) << first.text;
  // Tenant time: 2026-01-01T00:00Z is the 31st in -06:00.
  EXPECT_EQ(first.body.at("created_on").as_string(), "2025-12-31T18:00:00-06:00");
  EXPECT_FALSE(first.body.at("responsible_party").at("addresses").at(0).at("id").is_null());

  // PUT replaces an address by (address_type, purpose) and clears a custom field with null.
  Answer put = Call("PUT", "/billing-accounts/" + first.Id(),
                    Json(R"({"responsible_party":{"addresses":[{"address_type":"email",
                      "purpose":"PRIMARY","email":"new@acme.example"}]},
                      "custom_field_values":[{"custom_field":{"id":")" +
                         crm_field + R"("},"value":null}]})"));
  ASSERT_EQ(put.status, 200) << put.text;
  const value& addresses = put.body.at("responsible_party").at("addresses");
  EXPECT_EQ(addresses.size(), 2u);
  EXPECT_EQ(addresses.at(1).at("email").as_string(), "new@acme.example");
  EXPECT_EQ(put.body.at("custom_field_values").size(), 0u);
}

TEST_F(GtvSandboxTest, AProductMustBeActiveAndPricedToBeOrdered) {
  const std::string account = Account("CRM-P");
  Answer p = Call("POST", "/products", Json(R"({"product_type":"customer-subscription",
                                                "name":"Server"})"));
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body.at("status").as_string(), "DRAFT");
  EXPECT_EQ(Call("POST", "/products", Json(R"({"product_type":"customer-subscription",
                                              "name":"Server"})"))
                .body.at("message")
                .as_string(),
            "name must be unique");
  Answer unpriced = Call("POST", "/products/" + p.Id() + "/activate", Json("{}"));
  EXPECT_EQ(unpriced.status, 422);
  EXPECT_EQ(Order(account, p.Id(), 1).status, 422);  // DRAFT
  EXPECT_EQ(Call("POST", "/products/" + p.Id() + "/product-prices",
                 Json(R"({"price_type":"recurring","currency_code":"USD","amount":30})"))
                .status,
            422);  // a recurring price needs its period
  Answer price = Call("POST", "/products/" + p.Id() + "/product-prices",
                      Json(R"({"price_type":"recurring","currency_code":"usd","amount":30.00,
                               "recurrence_period":"MONTH"})"));
  ASSERT_EQ(price.status, 200) << price.text;
  EXPECT_EQ(price.body.at("currency_code").as_string(), "USD");
  EXPECT_NE(price.text.find("\"amount\":30.00"), std::string::npos) << price.text;
  EXPECT_EQ(Order(account, p.Id(), 1).status, 422);  // priced but still DRAFT
  ASSERT_EQ(Call("POST", "/products/" + p.Id() + "/activate", Json("{}")).status, 200);
  EXPECT_EQ(Order(account, p.Id(), 1).status, 200);
  EXPECT_EQ(Order(account, p.Id(), 0).status, 422);  // quantity ≥ 1
  ASSERT_EQ(Call("POST", "/products/" + p.Id() + "/deactivate", Json("{}")).status, 200);
  EXPECT_EQ(Order(account, p.Id(), 1).status, 422);
}

TEST_F(GtvSandboxTest, AnOrderIsADraftUntilConfirmedOnceIntoServices) {
  const std::string account = Account("CRM-O");
  const Priced server = Product("Server", "customer-subscription", "30");
  Answer draft =
      Order(account, server.product, 2, R"(,"service_resources":[{"identifier":"srv-1"}])");
  ASSERT_EQ(draft.status, 200) << draft.text;
  EXPECT_EQ(draft.body.at("status").as_string(), "DRAFT");
  const value& item = draft.body.at("order_items").at(0);
  EXPECT_FALSE(item.at("id").as_string().empty());
  EXPECT_EQ(item.at("sequence").as_integer(), 1);
  EXPECT_EQ(item.at("product_price").at("id").as_string(), server.price);  // the default price
  EXPECT_EQ(sandbox().CountObjects("service"), 0);

  Answer confirmed = Call("POST", "/orders/" + draft.Id() + "/confirm", Json("{}"));
  ASSERT_EQ(confirmed.status, 200) << confirmed.text;
  EXPECT_EQ(confirmed.body.at("status").as_string(), "COMPLETED");
  const std::string service =
      confirmed.body.at("order_items").at(0).at("service").at("id").as_string();
  Answer s = Call("GET", "/services/" + service);
  EXPECT_EQ(s.body.at("status").as_string(), "SERVICE_ACTIVE");
  EXPECT_EQ(s.body.at("quantity").as_integer(), 2);
  EXPECT_EQ(s.body.at("order").at("id").as_string(), draft.Id());
  EXPECT_EQ(s.body.at("service_resources").at(0).at("identifier").as_string(), "srv-1");
  EXPECT_TRUE(s.body.at("end_date").is_null());
  EXPECT_EQ(s.body.at("service_periods").at(0).at("start_date").as_string(), "2025-12-31");
  EXPECT_EQ(Call("GET", "/services?billing_account_id=" + account).body.size(), 1u);

  EXPECT_EQ(Call("POST", "/orders/" + draft.Id() + "/confirm", Json("{}")).status, 422);
  EXPECT_EQ(Call("DELETE", "/orders/" + draft.Id()).status, 422);
  Answer other = Order(account, server.product, 1);
  Answer voided = Call("DELETE", "/orders/" + other.Id());
  EXPECT_EQ(voided.body.at("status").as_string(), "CANCELED");
  EXPECT_EQ(Call("POST", "/orders/" + other.Id() + "/confirm", Json("{}")).status, 422);
  EXPECT_EQ(sandbox().CountObjects("service"), 1);
  EXPECT_EQ(Call("GET", "/orders?status=CANCELED").body.size(), 1u);
}

TEST_F(GtvSandboxTest, TheSoldPriceIsTheItemsUnitPriceAndBillsExactly) {
  const std::string account = Account("CRM-S");
  const Priced server = Product("Server", "customer-subscription", "30");
  const std::string service = Service(account, server.product, 3, R"(,"unit_price":12.1)");
  Answer s = Call("GET", "/services/" + service);
  EXPECT_NE(s.text.find("\"amount\":12.10"), std::string::npos) << s.text;
  GtvBillRunResult run = sandbox().BillRun();
  EXPECT_EQ(run.invoices, 1);
  Answer invoices = Call("GET", "/invoices?billing_account_id=" + account);
  ASSERT_EQ(invoices.body.size(), 1u);
  EXPECT_NE(invoices.text.find("\"amount\":36.30"), std::string::npos) << invoices.text;
  // Change the price later: the next period bills the new one.
  ASSERT_EQ(Call("POST", "/services/" + service + "/change-price",
                 Json(R"({"new_recurring_unit_price":"19.99"})"))
                .status,
            200);
  sandbox().BillRun();
  Answer second = Call("GET", "/invoices?billing_account_id=" + account + "&page_number=1");
  ASSERT_EQ(second.body.size(), 2u);
  EXPECT_DOUBLE_EQ(second.body.at(1).at("amount").as_double(), 59.97);
  EXPECT_EQ(second.body.at(1).at("invoice_items").at(0).at("charge_start_date").as_string(),
            "2026-01-31");  // the period advanced by a month after the first run
}

TEST_F(GtvSandboxTest, AnAddOnNeedsAnActiveParentServiceOfTheSameAccount) {
  const std::string account = Account("CRM-AO");
  const std::string other = Account("CRM-OTHER");
  const Priced server = Product("Server", "customer-subscription", "30");
  const Priced backup = Product("Backup", "add-on", "5", server.product);
  EXPECT_EQ(Order(account, backup.product, 1).status, 422);
  const std::string others_service = Service(other, server.product);
  EXPECT_EQ(
      Order(account, backup.product, 1, R"(,"parent_service":{"id":")" + others_service + R"("})")
          .status,
      422);
  const std::string parent = Service(account, server.product);
  const std::string child =
      Service(account, backup.product, 1, R"(,"parent_service":{"id":")" + parent + R"("})");
  ASSERT_FALSE(child.empty());
  EXPECT_EQ(Call("GET", "/services/" + child).body.at("parent_service").at("id").as_string(),
            parent);
  EXPECT_EQ(Call("GET", "/services?parent_service_id=" + parent).body.size(), 1u);
  ASSERT_EQ(Call("POST", "/services/" + parent + "/suspend", Json("{}")).status, 200);
  EXPECT_EQ(
      Order(account, backup.product, 1, R"(,"parent_service":{"id":")" + parent + R"("})").status,
      422);  // a suspended parent is not active
}

TEST_F(GtvSandboxTest, DeactivationCascadesToChildrenAndIsFinal) {
  const std::string account = Account("CRM-D");
  const Priced server = Product("Server", "customer-subscription", "30");
  const Priced backup = Product("Backup", "add-on", "5", server.product);
  const std::string parent = Service(account, server.product);
  const std::string child =
      Service(account, backup.product, 1, R"(,"parent_service":{"id":")" + parent + R"("})");
  Answer d = Call("POST", "/services/" + parent + "/deactivate", Json(R"({"reason":"churn"})"));
  ASSERT_EQ(d.status, 200) << d.text;
  EXPECT_EQ(d.body.at("status").as_string(), "SERVICE_DEACTIVATED");
  EXPECT_EQ(Status(child), "SERVICE_DEACTIVATED");
  EXPECT_EQ(Call("POST", "/services/" + parent + "/deactivate", Json("{}")).status, 422);
  EXPECT_EQ(Call("POST", "/services/" + parent + "/resume", Json("{}")).status, 422);
  EXPECT_EQ(
      Call("POST", "/services/" + child + "/change-quantity", Json(R"({"new_quantity":3})")).status,
      422);
  EXPECT_EQ(Call("POST", "/services/" + parent + "/renew", Json("{}")).status, 422);
  EXPECT_EQ(sandbox().BillRun().invoices, 0);  // nothing live to bill
}

TEST_F(GtvSandboxTest, ScheduledChangesTakeEffectWhenTheClockPassesThem) {
  const std::string account = Account("CRM-T");
  const Priced server = Product("Server", "customer-subscription", "30");
  const std::string service = Service(account, server.product);
  Answer later = Call("POST", "/services/" + service + "/deactivate",
                      Json(R"({"effective_date":"2026-01-10"})"));
  ASSERT_EQ(later.status, 200) << later.text;
  EXPECT_EQ(later.body.at("status").as_string(), "SERVICE_ACTIVE");
  EXPECT_EQ(later.body.at("end_date").as_string(), "2026-01-10");
  // A future start: SCHEDULED until its date.
  const std::string scheduled =
      Service(account, server.product, 1, R"(,"requested_effective_date":"2026-01-05")");
  EXPECT_EQ(Status(scheduled), "SERVICE_SCHEDULED");

  clock_.Advance(Millis(3LL * 86400 * 1000));
  EXPECT_EQ(Status(service), "SERVICE_ACTIVE");
  EXPECT_EQ(Status(scheduled), "SERVICE_SCHEDULED");
  clock_.Advance(Millis(3LL * 86400 * 1000));  // past the 5th
  EXPECT_EQ(Status(scheduled), "SERVICE_ACTIVE");
  clock_.Advance(Millis(5LL * 86400 * 1000));  // past the 10th
  EXPECT_EQ(Status(service), "SERVICE_DEACTIVATED");
  EXPECT_EQ(Call("POST", "/services/" + service + "/renew", Json("{}")).status, 422);

  // A renewal clears a scheduled deactivation.
  Answer again = Call("POST", "/services/" + scheduled + "/deactivate",
                      Json(R"({"effective_date":"2026-02-01T00:00:00Z"})"));
  ASSERT_EQ(again.status, 200);
  Answer renewed =
      Call("POST", "/services/" + scheduled + "/renew", Json(R"({"end_date":"2027-01-04"})"));
  ASSERT_EQ(renewed.status, 200) << renewed.text;
  EXPECT_EQ(renewed.body.at("renewal_count").as_integer(), 1);
  EXPECT_EQ(renewed.body.at("end_date").as_string(), "2027-01-04");
  clock_.Advance(Millis(40LL * 86400 * 1000));
  EXPECT_EQ(Status(scheduled), "SERVICE_ACTIVE");
}

TEST_F(GtvSandboxTest, ChangeServiceReplacesTheOldServiceThroughANewOrder) {
  const std::string account = Account("CRM-R");
  const Priced basic = Product("Basic", "customer-subscription", "30");
  const Priced premium = Product("Premium", "customer-subscription", "50");
  const Priced backup = Product("Backup", "add-on", "5", basic.product);
  const std::string old = Service(account, basic.product);
  const std::string child =
      Service(account, backup.product, 1, R"(,"parent_service":{"id":")" + old + R"("})");
  Answer changed = Call("POST", "/billing-accounts/" + account + "/change-service",
                        Json(R"({"service":{"id":")" + old +
                             R"("},"order":{"purchase_order_number":"PO-9","order_items":[
                               {"product":{"id":")" +
                             premium.product + R"("},"quantity":1}]}})"));
  ASSERT_EQ(changed.status, 200) << changed.text;
  EXPECT_EQ(changed.body.at("status").as_string(), "COMPLETED");
  const std::string fresh = changed.body.at("order_items").at(0).at("service").at("id").as_string();
  EXPECT_EQ(Status(old), "SERVICE_REPLACED");
  EXPECT_EQ(Status(child), "SERVICE_REPLACED");
  EXPECT_EQ(Status(fresh), "SERVICE_ACTIVE");
  EXPECT_EQ(Call("GET", "/orders?purchase_order_number=PO-9").body.size(), 1u);
  EXPECT_EQ(Call("POST", "/billing-accounts/" + account + "/change-service",
                 Json(R"({"service":{"id":")" + old + R"("},"order":{"order_items":[
                   {"product":{"id":")" +
                      premium.product + R"("},"quantity":1}]}})"))
                .status,
            422);
}

TEST_F(GtvSandboxTest, BulkUsageReportsDuplicatesAndUnknownResourcesInsideA200) {
  const std::string account = Account("CRM-U");
  const Priced server = Product("Server", "customer-subscription", "30");
  const std::string service = Service(account, server.product);
  auto event = [&](const std::string& identifier, const std::string& seq) {
    return Json(R"({"start_time":"2026-01-01T00:00:00Z","service_resource_identifier":")" +
                identifier + R"(","usage_uom":"COUNT","usage_amount":3,"reference_id":"item-1",
                "sequence_id":")" +
                seq + R"("})");
  };
  auto bulk = [&](const std::string& mode, std::vector<value> events) {
    value body = value::object();
    body["mode"] = value::string(mode);
    value arr = value::array(events.size());
    for (size_t i = 0; i < events.size(); ++i) arr[i] = events[i];
    body["usage_events"] = arr;
    return Call("POST", "/usage-events/bulk", body);
  };
  Answer first = bulk("FAIL_ON_EXISTING", {event(service, "s1"), event("nobody", "s2")});
  ASSERT_EQ(first.status, 200) << first.text;
  ASSERT_EQ(first.body.at("rated_events").size(), 1u);
  EXPECT_EQ(first.body.at("rated_events").at(0).at("service").at("id").as_string(), service);
  ASSERT_EQ(first.body.at("erred_events").size(), 1u);
  EXPECT_EQ(first.body.at("erred_events").at(0).at("message").as_string(),
            "Could not find a service with identifier nobody for the event start time.");
  Answer dup = bulk("FAIL_ON_EXISTING", {event(service, "s1")});
  ASSERT_EQ(dup.status, 200);
  EXPECT_EQ(dup.body.at("rated_events").size(), 0u);
  ASSERT_EQ(dup.body.at("erred_events").size(), 1u);
  EXPECT_EQ(dup.body.at("erred_events").at(0).at("message").as_string(),
            "Usage event already exists");
  EXPECT_EQ(dup.body.at("erred_events").at(0).at("code").as_string(), "400");
  Answer over = bulk("OVERWRITE_ON_EXISTING", {event(service, "s1")});
  EXPECT_EQ(over.body.at("rated_events").size(), 1u);
  EXPECT_EQ(sandbox().CountObjects("usage-event"), 2);
  EXPECT_NE(sandbox().Objects("usage-event").at(0).find("VOIDED"), std::string::npos);
  std::vector<value> many;
  for (int i = 0; i < 51; ++i) many.push_back(event(service, "m" + std::to_string(i)));
  EXPECT_EQ(bulk("FAIL_ON_EXISTING", many).status, 422);
  EXPECT_EQ(bulk("SOMETIMES", {event(service, "x")}).status, 422);
}

TEST_F(GtvSandboxTest, ABillRunMakesInvoicesAndPaymentsAndAFailedPaymentLeavesTheInvoiceOpen) {
  const std::string good = Account("CRM-GOOD");
  const std::string bad = Account("CRM-BAD");
  const Priced server = Product("Server", "customer-subscription", "30");
  const Priced setup = Product("Setup", "one-time", "99.99");
  Service(good, server.product, 2);
  Service(good, setup.product);  // a one-time product: a charge for the next run, no service
  Service(bad, server.product);
  ASSERT_EQ(Call("POST", "/adjustments",
                 Json(R"({"billing_account":{"id":")" + good +
                      R"("},"amount":5.5,"credit":true,"description":"goodwill"})"))
                .status,
            200);
  EXPECT_EQ(sandbox().CountObjects("invoice"), 0);  // nothing before a bill run
  EXPECT_EQ(sandbox().CountObjects("service"), 2);

  Answer run = Call("POST", "/__sandbox/bill-run", Json(R"({"fail":[")" + bad + R"("]})"));
  ASSERT_EQ(run.status, 200) << run.text;
  EXPECT_EQ(run.body.at("invoices").as_integer(), 2);
  EXPECT_EQ(run.body.at("paid").as_integer(), 1);
  EXPECT_EQ(run.body.at("failed").as_integer(), 1);

  Answer paid = Call("GET", "/invoices?billing_account_id=" + good);
  ASSERT_EQ(paid.body.size(), 1u);
  const value& inv = paid.body.at(0);
  EXPECT_EQ(inv.at("status").as_string(), "CLOSED");
  EXPECT_NE(paid.text.find("\"amount\":154.49"), std::string::npos) << paid.text;  // 60+99.99-5.5
  EXPECT_NE(paid.text.find("\"amount_to_pay\":0.00"), std::string::npos);
  EXPECT_EQ(inv.at("invoice_items").size(), 3u);
  EXPECT_EQ(inv.at("due_date").as_string(), "2026-01-30");  // Net 30 from the 31st
  Answer open = Call("GET", "/invoices?status=OPEN");
  ASSERT_EQ(open.body.size(), 1u);
  EXPECT_EQ(open.body.at(0).at("billing_account").at("id").as_string(), bad);
  EXPECT_DOUBLE_EQ(open.body.at(0).at("amount_to_pay").as_double(), 30.0);
  Answer failed = Call("GET", "/payments?status=PROCESSING_ERROR");
  ASSERT_EQ(failed.body.size(), 1u);
  EXPECT_FALSE(failed.body.at(0).at("failure_reason").as_string().empty());
  EXPECT_EQ(failed.body.at(0).at("invoice").at("id").as_string(),
            open.body.at(0).at("id").as_string());
  EXPECT_EQ(Call("GET", "/payments?billing_account_id=" + good).body.at(0).at("status").as_string(),
            "COMPLETED");
  EXPECT_DOUBLE_EQ(Call("GET", "/billing-accounts/" + bad).body.at("balance").as_double(), 30.0);
  EXPECT_TRUE(
      Call("GET", "/adjustments?billing_account_id=" + good).body.at(0).at("invoiced").as_bool());

  Answer pdf = Call("GET", "/invoices/" + inv.at("id").as_string() + "/pdf");
  EXPECT_EQ(pdf.status, 200);
  EXPECT_EQ(pdf.Header("Content-Type"), "application/pdf");
  EXPECT_EQ(pdf.text.rfind("%PDF", 0), 0u);

  Answer since = Call("GET", "/invoices?filter=" + web::uri::encode_data_string(
                                                       "id GT '" + inv.at("id").as_string() + "'"));
  EXPECT_EQ(since.body.size(), 1u);

  // A second failed run: the account goes to collection; its balance holds both invoices.
  sandbox().BillRun(bad, {bad});
  Answer collected = Call("GET", "/billing-accounts/" + bad);
  EXPECT_EQ(collected.body.at("status").as_string(), "COLLECTION");
  EXPECT_DOUBLE_EQ(collected.body.at("balance").as_double(), 60.0);
  EXPECT_EQ(sandbox().CountObjects("payment"), 3);
}

TEST_F(GtvSandboxTest, InjectedFaultsAnswerInGtvsShapeOrLoseTheAnswerOfADoneCreate) {
  sandbox().AddFault(Fault{"GET", "/billing/2/bill-cycles", 503, "SERVER_UNAVAILABLE", 1, 0});
  Answer unavailable = Call("GET", "/bill-cycles");
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body.at("code").as_string(), "503");
  EXPECT_FALSE(unavailable.body.at("message").as_string().empty());
  EXPECT_EQ(Call("GET", "/bill-cycles").status, 200);  // count 1: once

  sandbox().AddFault(Fault{"POST", "/billing/2/billing-accounts", 0, "LOSE_RESPONSE", 1, 0});
  fresh_connection_ = true;
  Answer lost = Call("POST", "/billing-accounts", AccountBody("CRM-LOST"));
  fresh_connection_ = false;
  EXPECT_EQ(lost.status, 0);                                // the client saw no answer ...
  EXPECT_EQ(sandbox().CountObjects("billing-account"), 1);  // ... but the account exists
  EXPECT_EQ(sandbox().dropped_connections(), 1);
  EXPECT_EQ(Call("GET", "/billing-accounts?external_account_num=CRM-LOST").body.size(), 1u);
  EXPECT_EQ(sandbox().FaultHits().at("LOSE_RESPONSE"), 1);
  EXPECT_EQ(sandbox().FaultHits().at("503"), 1);

  // Faults through the admin endpoint, and the stats that count them.
  ASSERT_EQ(Call("POST", "/__sandbox/faults",
                 Json(R"({"method":"GET","path":"/billing/2/products","status":500,
                          "error_code":"INTERNAL"})"))
                .status,
            200);
  EXPECT_EQ(Call("GET", "/products").body.at("code").as_string(), "500");
  Answer stats = Call("GET", "/__sandbox/stats");
  EXPECT_EQ(stats.body.at("fault_hits").at("500").as_integer(), 1);
  EXPECT_EQ(stats.body.at("objects").at("billing-account").as_integer(), 1);
}

TEST_F(GtvSandboxTest, TheRateLimitAnswers429WithoutRetryAfter) {
  GtvSandboxOptions options;
  options.rate_limit_per_second = 2;
  Start(options);
  int limited = 0;
  Answer last;
  for (int i = 0; i < 6; ++i) {
    Answer a = Call("GET", "/bill-cycles");
    if (a.status == 429) {
      ++limited;
      last = a;
    }
  }
  ASSERT_GT(limited, 0);
  EXPECT_EQ(last.body.at("code").as_string(), "429");
  EXPECT_EQ(last.Header("Retry-After"), "");
  EXPECT_EQ(sandbox().rate_limited(), limited);
}

TEST_F(GtvSandboxTest, NotificationsArePostedWithTheRegisteredHeadersAndRetried) {
  testing::ScriptedHttpServer receiver;
  receiver.Enqueue(testing::ScriptedResponse{503, {}, "{}", 0, false});  // retried
  ASSERT_EQ(Call("POST", "/__sandbox/notifications",
                 Json(R"({"url":")" + receiver.base_url() +
                      R"(/gtv","headers":{"X-Tandem-Token":"s3cret"}})"))
                .status,
            200);
  const std::string account = Account("CRM-N");
  const Priced server = Product("Server", "customer-subscription", "30");
  const std::string service = Service(account, server.product);
  sandbox().BillRun();
  // Fire-and-forget: wait for the hints to arrive (service, invoice, payment; one retried).
  std::vector<testing::RecordedRequest> got;
  for (int i = 0; i < 100 && got.size() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = receiver.requests();
  }
  ASSERT_EQ(got.size(), 4u);
  std::map<std::string, std::string> ids;  // type → id
  for (const auto& r : got) {
    EXPECT_EQ(r.Header("X-Tandem-Token"), "s3cret");
    EXPECT_EQ(r.path, "/gtv");
    value hint = value::parse(r.body);
    EXPECT_EQ(hint.at("billing_account_id").as_string(), account);
    ids[hint.at("type").as_string()] = hint.at("id").as_string();
  }
  EXPECT_EQ(ids["service.status_changed"], service);
  EXPECT_EQ(ids["invoice.distributed"], Call("GET", "/invoices").body.at(0).at("id").as_string());
  EXPECT_EQ(ids.count("payment.completed"), 1u);
}

TEST_F(GtvSandboxTest, AdminResetAndCustomFieldsAndStats) {
  Account("CRM-X");
  ASSERT_EQ(
      Call("POST", "/__sandbox/custom-fields", Json(R"({"type":"order","name":"tandem_key"})"))
          .status,
      200);
  sandbox().AddCustomField("service", "svc_note");
  Answer fields = Call("GET", "/custom-fields?custom_field_value_type=order");
  bool found = false;
  for (const auto& f : fields.body.as_array())
    found = found || f.at("name").as_string() == "tandem_key";
  EXPECT_TRUE(found);
  EXPECT_EQ(Call("GET", "/custom-fields?custom_field_value_type=service").body.size(), 6u);
  ASSERT_EQ(Call("POST", "/__sandbox/reset", Json("{}")).status, 200);
  EXPECT_EQ(sandbox().CountObjects("billing-account"), 0);
  EXPECT_EQ(Call("GET", "/bill-cycles").body.size(), 2u);  // seeds come back
}

TEST_F(GtvSandboxTest, EveryApiRequestWaitsTheModelledNetworkLatencyButAdminRequestsDoNot) {
  GtvSandboxOptions options;
  options.latency = Latency{400, 0};
  Start(options);
  for (int i = 0; i < 3; ++i) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(Call("GET", "/bill-cycles").status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Call("GET", "/__sandbox/stats").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));
}

}  // namespace
}  // namespace tandem::sandbox::gtv
