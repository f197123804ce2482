// What the tests of the method's steps on Gotransverse share: the Salesforce sandbox, the GTV
// emulator with the GTV adapter, a real store (the test's parameter), the default mapping and
// the shipped work-order templates, and helpers to read both sides.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actions/sync.h"
#include "reconcile/reconciler.h"
#include "tests/support/billing_backends.h"
#include "tests/support/default_mapping.h"
#include "tests/support/order_builder.h"
#include "tests/support/salesforce_env.h"
#include "tests/support/store_backends.h"
#include "tests/support/work_order_catalog.h"
#include "tests/support/work_orders.h"
#include "workorders/engine.h"

namespace tandem::testing {

class GtvStepsTest : public StoreBackendTest {
 protected:
  void SetUp() override {
    OpenStore();
    if (!StoreReady()) return;
    mapping_ = DefaultMapping();
    templates_ = ShippedTemplates();
    actions_ = std::make_unique<actions::Actions>(
        actions::ActionDeps{crm_.client(), gtv_.billing(), **store_, mapping_, gtv_.clock()},
        "test:gtv");
    workorders::EngineOptions o;
    o.backoff_base = Millis(1);
    o.backoff_max = Millis(5);
    engine_ = std::make_unique<workorders::Engine>(
        workorders::TaskDeps{crm_.client(), gtv_.billing(), **store_, mapping_, gtv_.clock(),
                             *actions_},
        templates_, o);
  }

  std::string CrmAccount(const std::string& name) {
    Json a = Json::MakeObject();
    a.Set("Name", name);
    a.Set("Phone", "+33 4 72 00 00 00");
    a.Set("Website", "https://" + name + ".example");
    a.Set("BillingStreet", "1 rue de la République");
    a.Set("BillingCity", "Lyon");
    a.Set("BillingPostalCode", "69001");
    a.Set("BillingCountry", "FR");
    return crm_.client().Create("Account", a).value();
  }

  workorders::OrderState Run(const std::string& order_id) { return RunOrder(*engine_, order_id); }

  // The emulator's objects of `kind` ("billing-account", "order", "service", "adjustment").
  std::vector<Json> Objects(const std::string& kind) {
    std::vector<Json> out;
    for (const auto& text : gtv_.sandbox().Objects(kind)) out.push_back(Json::Parse(text).value());
    return out;
  }

  std::string ItemSubscription(const std::string& order_id) {
    return testing::ItemSubscription(crm_.client(), order_id);
  }

  Json Inventory(const std::string& order_id) {
    return crm_.client()
        .Retrieve("Service_Subscription__c", ItemSubscription(order_id),
                  {"Billing_Subscription_Id__c", "Status__c", "Quantity__c", "Billed_Quantity__c",
                   "Billed_Amount__c", "Unit_Price__c", "Start_Date__c", "End_Date__c"})
        .value_or(Json());
  }

  // A reconciliation of `object` ("account", "invoice"), not fixing; its report.
  std::unique_ptr<reconcile::Report> Reconcile(const std::string& object) {
    auto out = reconcile::Report::Open("", 3);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    actions::ActionDeps deps{crm_.client(), gtv_.billing(), **store_, mapping_, gtv_.clock()};
    reconcile::Reconciler r(deps, *actions_, **out);
    reconcile::ReconcileOptions options;
    options.objects = {object};
    const Status st = r.Run(options);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return std::move(out).value();
  }

  SalesforceEnv crm_;
  GtvBackend gtv_;
  mapping::Mapping mapping_;
  workorders::Templates templates_;
  std::unique_ptr<actions::Actions> actions_;
  std::unique_ptr<workorders::Engine> engine_;
};

}  // namespace tandem::testing
