// The BillingSystem contract, stated once and run over every adapter against its emulator
// (tests/support/billing_backends.h): what the steps above the interface rely on, whatever
// the billing system. A billing system without idempotency keys must keep these too — by
// looking up what it made before it makes it again.
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/billing_backends.h"
#include "tests/support/catalog_builder.h"

namespace tandem::connector::billing {
namespace {

using testing::BillingBackendParam;

class BillingConformance : public ::testing::TestWithParam<BillingBackendParam> {
 protected:
  void SetUp() override { backend_ = GetParam().make(); }
  BillingSystem& billing() { return backend_->billing(); }

  BillingAccount Account(const std::string& crm_id, const std::string& name) {
    BillingAccount a;
    a.external_key = crm_id;
    a.name = name;
    a.email = "billing@" + crm_id + ".example";
    a.currency = "eur";
    a.address.city = "Lyon";
    a.address.country = "FR";
    return a;
  }

  // A product with a monthly price of 30.00 EUR, and an add-on product with 5.00 EUR.
  void MakeCatalog() {
    auto product = testing::CreateBillingProduct(billing(), "Virtual Server", "cat-p");
    ASSERT_TRUE(product.ok()) << product.status().ToString();
    product_ = *product;
    auto price = testing::CreateBillingPrice(billing(), product_.id, "eur", 3000, "month", "cat-m");
    ASSERT_TRUE(price.ok()) << price.status().ToString();
    monthly_ = *price;
    auto addon = testing::CreateBillingProduct(billing(), "Backup", "cat-a", "add_on");
    ASSERT_TRUE(addon.ok()) << addon.status().ToString();
    auto addon_price =
        testing::CreateBillingPrice(billing(), addon->id, "eur", 500, "month", "cat-am");
    ASSERT_TRUE(addon_price.ok()) << addon_price.status().ToString();
    addon_price_ = *addon_price;
  }

  SubscriptionSpec Spec(const std::string& account_id, int64_t quantity = 1) {
    SubscriptionSpec spec;
    spec.account_id = account_id;
    spec.items.emplace_back("", monthly_.id, quantity, Metadata{});
    spec.metadata["crm_order"] = "801000000000001AAA";
    return spec;
  }

  std::unique_ptr<testing::BillingBackend> backend_;
  Product product_;
  Price monthly_, addon_price_;
};

TEST_P(BillingConformance, AnAccountCreatedTwiceWithOneKeyExistsOnce) {
  auto first = billing().CreateAccount(Account("001A", "Acme"), "acct-001A");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = billing().CreateAccount(Account("001A", "Acme"), "acct-001A");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(backend_->Count("account"), 1);
  EXPECT_EQ(first->external_key, "001A");
}

// Two workers create one account at once (two orders of one customer, each syncing it): one
// account, and both are answered with it. Stripe's idempotency key does this; GTV has none,
// and the adapter's key lock must keep the second look-up after the first create.
TEST_P(BillingConformance, AnAccountCreatedByEightWorkersAtOnceExistsOnce) {
  constexpr int kWorkers = 8;
  std::vector<std::string> ids(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w)
    workers.emplace_back([&, w] {
      auto made = billing().CreateAccount(Account("001R", "Race Ltd"), "acct-001R");
      ids[static_cast<size_t>(w)] = made.ok() ? made->id : made.status().ToString();
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(backend_->Count("account"), 1);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u) << ids[0] << " " << ids[1];
}

// Billing made the account, the answer never arrived: the retry must not make a second one.
TEST_P(BillingConformance, AnAccountWhoseAnswerWasLostExistsOnce) {
  backend_->AddFault({"POST", backend_->CreatePath("account"), 0, "LOSE_RESPONSE", 1, 0});
  auto made = billing().CreateAccount(Account("001B", "Lost Answer Ltd"), "acct-001B");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(backend_->FaultHits("LOSE_RESPONSE"), 1) << "the fault never fired";
  EXPECT_EQ(backend_->Count("account"), 1);
  auto found = billing().FindAccountByExternalKey("001B");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, made->id);
}

TEST_P(BillingConformance, AServerErrorOnCreateIsRetriedWithoutDoubling) {
  // Two refusals, then an attempt that GTV or Stripe carries out but whose answer is lost.
  backend_->AddFault({"POST", backend_->CreatePath("account"), 503, "SERVER_UNAVAILABLE", 2, 0});
  backend_->AddFault({"POST", backend_->CreatePath("account"), 0, "LOSE_RESPONSE", 1, 0});
  auto made = billing().CreateAccount(Account("001C", "Flaky"), "acct-001C");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(backend_->FaultHits("503"), 2);
  EXPECT_EQ(backend_->FaultHits("LOSE_RESPONSE"), 1);
  EXPECT_EQ(backend_->Count("account"), 1);
}

// `migrate undo` takes back an unused customer (Stripe: deleted; GTV: deactivated, then no
// match for its CRM id) and never one billing has a subscription for.
TEST_P(BillingConformance, OnlyAnUnusedAccountIsRemoved) {
  MakeCatalog();
  auto unused = billing().CreateAccount(Account("001U", "Unused Co"), "acct-001U");
  ASSERT_TRUE(unused.ok()) << unused.status().ToString();
  ASSERT_TRUE(billing().RemoveAccount(unused->id).ok());
  auto gone = billing().GetAccount(unused->id);
  EXPECT_TRUE(gone.status().IsNotFound() || (gone.ok() && gone->closed))
      << gone.status().ToString();
  EXPECT_FALSE(billing().FindAccountByExternalKey("001U").value().has_value());
  EXPECT_TRUE(billing().RemoveAccount(unused->id).ok()) << "gone already: ok";
  auto again = billing().CreateAccount(Account("001U", "Unused Co"), "acct-001U-again");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->id, unused->id) << "a removed account is not brought back";

  auto used = billing().CreateAccount(Account("001S", "Subscribed Co"), "acct-001S");
  ASSERT_TRUE(used.ok()) << used.status().ToString();
  ASSERT_TRUE(billing().CreateSubscription(Spec(used->id), "sub-001S").ok());
  EXPECT_TRUE(billing().RemoveAccount(used->id).IsConflict());
  auto still = billing().GetAccount(used->id);
  ASSERT_TRUE(still.ok()) << still.status().ToString();
  EXPECT_FALSE(still->closed);
}

TEST_P(BillingConformance, AccountsAreFoundByTheirCrmIdAndUpdatedAndCleared) {
  BillingAccount a = Account("001D", "Initech");
  a.phone = "+33 4 00 00 00 00";
  a.metadata["website"] = "https://initech.example";
  auto made = billing().CreateAccount(a, "acct-001D");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->phone, "+33 4 00 00 00 00");
  EXPECT_EQ(made->metadata["website"], "https://initech.example");
  auto none = billing().FindAccountByExternalKey("001NOPE");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  BillingAccount change;
  change.name = "Initech SA";
  change.address.city = "Paris";
  change.metadata["website"] = "https://initech.example/fr";
  change.clear = {"phone"};
  auto updated = billing().UpdateAccount(made->id, change, "acct-001D-u1");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  auto now = billing().GetAccount(made->id);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ(now->name, "Initech SA");
  EXPECT_EQ(now->address.city, "Paris");
  EXPECT_EQ(now->metadata["website"], "https://initech.example/fr");
  EXPECT_EQ(now->phone, "");
  EXPECT_EQ(now->email, "billing@001D.example");  // untouched
  EXPECT_EQ(now->external_key, "001D");
}

TEST_P(BillingConformance, ListingWalksEveryPage) {
  const int n = backend_->PageSize() + 7;
  std::set<std::string> made;
  for (int i = 0; i < n; ++i) {
    const std::string crm = "001P" + std::to_string(i);
    auto a = billing().CreateAccount(Account(crm, "Paged " + std::to_string(i)), "acct-" + crm);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    made.insert(a->id);
  }
  std::set<std::string> listed;
  ASSERT_TRUE(billing()
                  .ListAccounts([&](const BillingAccount& a) {
                    EXPECT_TRUE(listed.insert(a.id).second) << a.id << " listed twice";
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(listed, made);
}

TEST_P(BillingConformance, AnUnknownIdIsNotFoundAndABadRequestIsNotRetried) {
  auto missing = billing().GetAccount(backend_->UnknownId("account"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_FALSE(missing.status().IsTransient());
  auto no_sub = billing().GetSubscription(backend_->UnknownId("subscription"));
  ASSERT_FALSE(no_sub.ok());
  EXPECT_TRUE(no_sub.status().IsNotFound()) << no_sub.status().ToString();

  // A subscription billing refuses (a negative quantity): refused, permanently (a retry
  // cannot help), with billing's own reason, and nothing made.
  MakeCatalog();
  auto account = billing().CreateAccount(Account("001E", "Bad Order"), "acct-001E");
  ASSERT_TRUE(account.ok());
  auto refused = billing().CreateSubscription(Spec(account->id, -1), "sub-bad");
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(refused.status().IsTransient()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("quantity"), std::string::npos)
      << "billing's reason, from the create it refused: " << refused.status().ToString();
  EXPECT_EQ(backend_->Count("subscription"), 0);
}

TEST_P(BillingConformance, CatalogChangesListWhatWasMadeThenWhatChanged) {
  MakeCatalog();
  auto all = billing().ListCatalogChanges("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  auto has_product = [](const CatalogChanges& c, const std::string& id) {
    for (const auto& p : c.products)
      if (p.id == id) return &p;
    return static_cast<const Product*>(nullptr);
  };
  ASSERT_NE(has_product(*all, product_.id), nullptr);
  bool priced = false;
  for (const auto& p : all->prices)
    priced |= p.id == monthly_.id && p.unit_amount_minor == 3000 && p.interval == "month" &&
              p.product_id == product_.id;
  EXPECT_TRUE(priced);
  EXPECT_GT(all->reads, 0);

  Product rename;
  rename.name = "Virtual Server XL";
  ASSERT_TRUE(billing().UpdateProduct(product_.id, rename, "cat-rename").ok());
  auto since = billing().ListCatalogChanges(all->cursor);
  ASSERT_TRUE(since.ok()) << since.status().ToString();
  const Product* renamed = has_product(*since, product_.id);
  ASSERT_NE(renamed, nullptr) << "a renamed product is a change";
  EXPECT_EQ(renamed->name, "Virtual Server XL");
  // Nothing changed since: nothing listed.
  auto quiet = billing().ListCatalogChanges(since->cursor);
  ASSERT_TRUE(quiet.ok()) << quiet.status().ToString();
  EXPECT_TRUE(quiet->products.empty() && quiet->prices.empty());
}

// A subscription's life: held, started, re-quantified, re-rated at a sold price, an add-on
// added, changed and removed, re-termed, renewed, cancelled.
TEST_P(BillingConformance, ASubscriptionLivesThroughEveryLifecycleOperation) {
  MakeCatalog();
  auto account = billing().CreateAccount(Account("001F", "Lifecycle"), "acct-001F");
  ASSERT_TRUE(account.ok());
  SubscriptionSpec spec = Spec(account->id);
  spec.start_active = false;
  auto sub = billing().CreateSubscription(spec, "sub-f");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(sub->status, "pending");
  ASSERT_EQ(sub->items.size(), 1u);
  EXPECT_EQ(sub->metadata["crm_order"], "801000000000001AAA");

  auto started = billing().StartSubscription(sub->id, 0, "sub-f-start");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->status, "active");
  const std::string base_item = started->items.at(0).id;

  auto more = billing().ChangeQuantity(sub->id, base_item, 3, Proration::kNone, "sub-f-qty");
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ(more->items.at(0).quantity, 3);

  SubscriptionItem sold;
  sold.sold_price = true;
  sold.price.product_id = product_.id;
  sold.price.currency = "eur";
  sold.price.unit_amount_minor = 2550;  // 15 % off
  sold.price.interval = "month";
  auto rerated = billing().ChangePrice(sub->id, base_item, sold, Proration::kNone, "sub-f-rate");
  ASSERT_TRUE(rerated.ok()) << rerated.status().ToString();
  auto read = billing().GetSubscription(sub->id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_FALSE(read->items.empty());
  EXPECT_EQ(read->items.at(0).price.unit_amount_minor, 2550);
  EXPECT_EQ(read->items.at(0).quantity, 3);

  SubscriptionItem addon("", addon_price_.id, 2, Metadata{});
  auto added = billing().AddAddOn(sub->id, addon, Proration::kNone, "sub-f-addon");
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  auto again = billing().AddAddOn(sub->id, addon, Proration::kNone, "sub-f-addon");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, added->id) << "one key, one add-on";
  read = billing().GetSubscription(sub->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->items.size(), 2u);

  auto changed = billing().ChangeAddOn(added->id, 4, Proration::kNone, "sub-f-addon-qty");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->quantity, 4);
  ASSERT_TRUE(billing().RemoveAddOn(added->id, Proration::kNone, "sub-f-addon-rm").ok());
  ASSERT_TRUE(billing().RemoveAddOn(added->id, Proration::kNone, "sub-f-addon-rm").ok())
      << "removing again (a retry) is done, not an error";
  read = billing().GetSubscription(sub->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->items.size(), 1u);

  const int64_t year_on = ToEpochMillis(std::chrono::system_clock::now()) / 1000 + 365 * 86'400;
  auto termed = billing().ReTerm(sub->id, year_on, "sub-f-term");
  ASSERT_TRUE(termed.ok()) << termed.status().ToString();
  EXPECT_NEAR(static_cast<double>(termed->cancel_at), static_cast<double>(year_on), 86'400);
  auto renewed = billing().Renew(sub->id, year_on + 365 * 86'400, "sub-f-renew");
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_NEAR(static_cast<double>(renewed->cancel_at), static_cast<double>(year_on + 365 * 86'400),
              86'400);

  auto cancelled = billing().Cancel(sub->id, /*at_period_end=*/false, "sub-f-cancel");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(cancelled->status, "canceled");
  auto twice = billing().Cancel(sub->id, false, "sub-f-cancel");
  ASSERT_TRUE(twice.ok()) << "a retried cancel is done: " << twice.status().ToString();
  EXPECT_EQ(backend_->Count("subscription"), 1);
}

TEST_P(BillingConformance, ASubscriptionWhoseAnswerWasLostExistsOnce) {
  MakeCatalog();
  auto account = billing().CreateAccount(Account("001G", "Lost Sub"), "acct-001G");
  ASSERT_TRUE(account.ok());
  backend_->AddFault({"POST", backend_->CreatePath("subscription"), 0, "LOSE_RESPONSE", 1, 0});
  SubscriptionSpec spec = Spec(account->id);
  spec.metadata["tandem_task"] = "wo:801G:1:create_subscription";
  auto sub = billing().CreateSubscription(spec, "wo:801G:1:create_subscription");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(backend_->FaultHits("LOSE_RESPONSE"), 1);
  EXPECT_EQ(backend_->Count("subscription"), 1);
  auto found =
      billing().FindSubscription(account->id, "tandem_task", "wo:801G:1:create_subscription");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, sub->id);
}

TEST_P(BillingConformance, AStartDateLaterIsScheduledAndBillsNothingUntilThen) {
  MakeCatalog();
  auto account = billing().CreateAccount(Account("001H", "Later"), "acct-001H");
  ASSERT_TRUE(account.ok());
  SubscriptionSpec spec = Spec(account->id);
  spec.start_active = false;
  auto sub = billing().CreateSubscription(spec, "sub-h");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  // Midnight UTC ten days on: a day both billing systems keep exactly (GTV keeps dates).
  const int64_t today = ToEpochMillis(std::chrono::system_clock::now()) / 1000 / 86'400 * 86'400;
  const int64_t in_ten_days = today + 10 * 86'400;
  auto started = billing().StartSubscription(sub->id, in_ten_days, "sub-h-start");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->status, "scheduled");
  EXPECT_EQ(started->start_date, in_ten_days);
  auto billed = [&] {
    int64_t due = 0;
    EXPECT_TRUE(billing()
                    .ListInvoices(account->id,
                                  [&](const Invoice& i) {
                                    due += i.amount_due;
                                    return Status::Ok();
                                  })
                    .ok());
    return due;
  };
  backend_->BillRun(account->id, {});
  EXPECT_EQ(billed(), 0) << "nothing is charged before the start date";
  // The date comes: the first period is charged.
  backend_->Advance(std::chrono::hours(24 * 11));
  backend_->BillRun(account->id, {});
  EXPECT_EQ(billed(), 3000) << "one period of 30.00 from the start date";
  EXPECT_EQ(billing().GetSubscription(sub->id)->status, "active");
}

TEST_P(BillingConformance, ABillRunMakesInvoicesAndPaymentsOrFailures) {
  MakeCatalog();
  auto good = billing().CreateAccount(Account("001I", "Pays"), "acct-001I");
  auto bad = billing().CreateAccount(Account("001J", "Declines"), "acct-001J");
  ASSERT_TRUE(good.ok() && bad.ok());
  ASSERT_TRUE(billing().CreateSubscription(Spec(good->id, 2), "sub-i").ok());
  ASSERT_TRUE(billing().CreateSubscription(Spec(bad->id, 1), "sub-j").ok());
  backend_->BillRun("", {bad->id});

  // Some billing systems invoice a subscription's first period when it is made (Stripe),
  // others only in a bill run (Gotransverse): every invoice holds one period of 2 × 30.00,
  // each is paid, by one payment of its amount.
  std::vector<Invoice> invoices;
  ASSERT_TRUE(billing()
                  .ListInvoices(good->id,
                                [&](const Invoice& i) {
                                  invoices.push_back(i);
                                  return Status::Ok();
                                })
                  .ok());
  ASSERT_FALSE(invoices.empty());
  for (const auto& i : invoices) {
    EXPECT_EQ(i.account_id, good->id);
    EXPECT_EQ(i.amount_due, 6000) << "2 × 30.00";
    EXPECT_EQ(i.amount_paid, 6000);
    EXPECT_EQ(i.amount_remaining, 0);
    EXPECT_EQ(i.status, "paid");
    EXPECT_EQ(i.currency, "eur");
  }
  auto one = billing().GetInvoice(invoices.back().id);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->amount_due, 6000);
  EXPECT_EQ(one->account_id, good->id);

  std::vector<Payment> payments;
  ASSERT_TRUE(billing()
                  .ListPayments(good->id,
                                [&](const Payment& p) {
                                  payments.push_back(p);
                                  return Status::Ok();
                                })
                  .ok());
  ASSERT_EQ(payments.size(), invoices.size());
  for (const auto& p : payments) {
    EXPECT_EQ(p.amount_minor, 6000);
    EXPECT_EQ(p.status, "succeeded");
    EXPECT_EQ(p.kind, Payment::Kind::kPayment);
  }

  std::vector<Invoice> owed;
  ASSERT_TRUE(billing()
                  .ListInvoices(bad->id,
                                [&](const Invoice& i) {
                                  owed.push_back(i);
                                  return Status::Ok();
                                })
                  .ok());
  // The bill run's invoice is open, asking for the period; its payment failed.
  int open = 0;
  for (const auto& i : owed)
    if (i.status == "open") {
      ++open;
      EXPECT_EQ(i.amount_remaining, 3000);
    }
  EXPECT_EQ(open, 1);
  int failed = 0;
  ASSERT_TRUE(billing()
                  .ListPayments(bad->id,
                                [&](const Payment& p) {
                                  failed += p.status == "failed";
                                  return Status::Ok();
                                })
                  .ok());
  EXPECT_EQ(failed, 1);
}

TEST_P(BillingConformance, AOneTimeChargeIsBilledOnceOnTheNextInvoice) {
  MakeCatalog();
  auto account = billing().CreateAccount(Account("001K", "Fee"), "acct-001K");
  ASSERT_TRUE(account.ok());
  ASSERT_TRUE(billing().CreateSubscription(Spec(account->id), "sub-k").ok());
  OneTimeCharge fee;
  fee.account_id = account->id;
  fee.amount_minor = 9900;
  fee.currency = "eur";
  fee.description = "Setup fee";
  auto charged = billing().AddOneTimeCharge(fee, "fee-k");
  ASSERT_TRUE(charged.ok()) << charged.status().ToString();
  auto again = billing().AddOneTimeCharge(fee, "fee-k");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *charged) << "one key, one charge";
  backend_->BillRun(account->id, {});
  int64_t due = 0, invoices = 0;
  ASSERT_TRUE(billing()
                  .ListInvoices(account->id,
                                [&](const Invoice& i) {
                                  due += i.amount_due;
                                  ++invoices;
                                  return Status::Ok();
                                })
                  .ok());
  // One period of 30.00 per invoice, and the fee once on one of them.
  EXPECT_EQ(due, 3000 * invoices + 9900);
}

INSTANTIATE_TEST_SUITE_P(Adapters, BillingConformance,
                         ::testing::Values(testing::StripeBilling(), testing::GtvBilling()),
                         [](const ::testing::TestParamInfo<BillingBackendParam>& p) {
                           return p.param.name;
                         });

}  // namespace
}  // namespace tandem::connector::billing
