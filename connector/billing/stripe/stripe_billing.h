// StripeBilling: BillingSystem over the Stripe API (pinned Stripe-Version), on the shared
// REST client core. Every POST carries an Idempotency-Key: the caller's key for the logical
// operation, qualified by the call it makes, so one operation's several calls never share a
// key and the same operation repeated always does. CRM ids ride in metadata.
// Thread-safety: all methods are thread-safe.
#pragma once

#include "connector/billing/billing_system.h"
#include "connector/http/form.h"
#include "connector/http/rest_client.h"

namespace tandem::connector::billing::stripe {

struct StripeOptions {
  std::string api_version = "2023-08-16";  // the Stripe-Version we speak; default 2023-08-16
  std::string webhook_secret;              // whsec_... of our endpoint
  int64_t webhook_tolerance_s = 300;       // default 5 minutes
  std::string dashboard_url = "https://dashboard.stripe.com/test";  // for RecordUrl
  int page_size = 100;                                              // list calls; Stripe's maximum
  // Reads ask for the related object inline where that saves a call: a subscription's
  // latest_invoice (its status), an invoice's charge (what was refunded of it); default true.
  // The Prism check turns it off: its reduced spec knows expandable fields as ids only.
  bool expand = true;
};

class StripeBilling final : public BillingSystem {
 public:
  // `rest` must authenticate with the secret key (Bearer) and use stripe::Classify.
  StripeBilling(StripeOptions options, http::RestClient& rest, const Clock& clock);

  // BillingSystem methods
  std::string name() const override { return "stripe"; }
  std::string RecordUrl(const std::string& kind, const std::string& id) const override;
  int PreferredInFlight() const override { return rest_.flow().InFlight(); }
  int CallsInFlight() const override { return rest_.flow().CallsInFlight(); }
  bool PriceAmountsFixed() const override { return true; }
  Result<BillingAccount> CreateAccount(const BillingAccount& account,
                                       const std::string& key) override;
  Result<BillingAccount> UpdateAccount(const std::string& id, const BillingAccount& fields,
                                       const std::string& key) override;
  Result<BillingAccount> GetAccount(const std::string& id) override;
  Result<std::optional<BillingAccount>> FindAccountByExternalKey(
      const std::string& external_key) override;
  Status ListAccounts(const std::function<Status(const BillingAccount&)>& on_account) override;
  Status RemoveAccount(const std::string& id) override;
  Result<Product> CreateProduct(const Product& product, const std::string& key) override;
  Result<Product> UpdateProduct(const std::string& id, const Product& fields,
                                const std::string& key) override;
  Result<Price> CreatePrice(const Price& price, const std::string& key) override;
  Result<Price> GetPrice(const std::string& id) override;
  Result<CatalogChanges> ListCatalogChanges(const std::string& since) override;
  Result<Subscription> CreateSubscription(const SubscriptionSpec& spec,
                                          const std::string& key) override;
  Result<Subscription> GetSubscription(const std::string& id) override;
  Result<std::optional<Subscription>> FindSubscription(const std::string& account_id,
                                                       const std::string& key,
                                                       const std::string& value) override;
  Status ListSubscriptions(
      const std::function<Status(const Subscription&)>& on_subscription) override;
  Result<Subscription> StartSubscription(const std::string& id, int64_t start_at,
                                         const std::string& key) override;
  Result<Subscription> ChangeQuantity(const std::string& subscription_id,
                                      const std::string& item_id, int64_t quantity,
                                      Proration proration, const std::string& key) override;
  Result<Subscription> ChangePrice(const std::string& subscription_id, const std::string& item_id,
                                   const SubscriptionItem& to, Proration proration,
                                   const std::string& key) override;
  Result<Subscription> ReTerm(const std::string& subscription_id, int64_t cancel_at,
                              const std::string& key) override;
  Result<Subscription> Cancel(const std::string& subscription_id, bool at_period_end,
                              const std::string& key) override;
  Result<Subscription> Replace(const std::string& old_subscription_id, const SubscriptionSpec& spec,
                               const std::string& key) override;
  Result<Subscription> Renew(const std::string& subscription_id, int64_t new_cancel_at,
                             const std::string& key) override;
  Result<SubscriptionItem> AddAddOn(const std::string& subscription_id,
                                    const SubscriptionItem& item, Proration proration,
                                    const std::string& key) override;
  Result<SubscriptionItem> ChangeAddOn(const std::string& item_id, int64_t quantity,
                                       Proration proration, const std::string& key) override;
  Status RemoveAddOn(const std::string& item_id, Proration proration,
                     const std::string& key) override;
  Result<std::string> AddOneTimeCharge(const OneTimeCharge& charge,
                                       const std::string& key) override;
  Status RecordUsage(const UsageRecord& usage, const std::string& key) override;
  Status ListInvoices(const std::string& account_id,
                      const std::function<Status(const Invoice&)>& on_invoice) override;
  Result<Invoice> GetInvoice(const std::string& id) override;
  Result<Payment> GetPayment(const std::string& id) override;
  // Charges, then the refunds of each refunded one (Stripe lists refunds by charge only),
  // then credit notes.
  Status ListPayments(const std::string& account_id,
                      const std::function<Status(const Payment&)>& on_payment) override;
  Status ListInvoicePayments(const Invoice& invoice,
                             const std::function<Status(const Payment&)>& on_payment) override;
  std::string WebhookSignatureHeader() const override { return "stripe-signature"; }
  Result<BillingEvent> VerifyWebhook(const std::string& payload,
                                     const std::string& signature_header,
                                     int64_t now_epoch_s) const override;
  Result<BillingEvent> ParseEvent(const std::string& payload) const override;

 private:
  // POST with form fields; the Idempotency-Key is `key` + ":" + what this call does.
  Result<Json> Post(const std::string& path, const http::FormFields& fields,
                    const std::string& key);
  Result<Json> Get(const std::string& path);
  Result<Json> Delete(const std::string& path, const std::string& key);
  // Streams every object of a list endpoint (starting_after paging).
  Status List(const std::string& path, const std::function<Status(const Json&)>& on_object,
              int64_t* reads = nullptr);
  // The refunds of `charge` (filled in with its invoice and account), each to on_payment and
  // into *refunded (refund id → amount given back), for the credit notes read after them.
  Status ListRefunds(const Payment& charge, std::map<std::string, int64_t>* refunded,
                     const std::function<Status(const Payment&)>& on_payment);
  // A credit note read from `j`: its amount beyond the refund it made (see Payment).
  Result<Payment> CreditNote(const Json& j, std::map<std::string, int64_t>* refunded);

  const StripeOptions options_;
  http::RestClient& rest_;
  const Clock& clock_;
};

}  // namespace tandem::connector::billing::stripe
