// GtvBilling: BillingSystem over Gotransverse's (GTV) Billing API 2.0 (docs/gotransverse.md).
// GTV has no idempotency keys, so every create is exactly-once by a natural key, looked up
// before the create and again after any answer that may have been lost:
//   account       ← external_account_num = the CRM id;
//   subscription  ← an order whose purchase_order_number is the operation's key (the
//                   subscription's id is that order's: stable from draft to confirmed);
//   add-on        ← its own order, keyed the same way, with parent_service = the base service;
//   one-time fee  ← an adjustment whose description ends with the key;
//   product       ← its name (unique in GTV); price ← (product, currency, amount, period);
//   commands      ← read, compare, write only what differs (change quantity or price,
//                   deactivate, renew);
//   usage         ← sequence_id derived from the key, duplicates reported back as done.
// Thread-safety: thread-safe (the reference-data cache is locked).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "connector/billing/billing_system.h"
#include "connector/billing/key_lock.h"
#include "connector/http/rest_client.h"
#include "util/clock.h"

namespace tandem::connector::billing::gtv {

struct GtvOptions {
  std::string ui_url = "https://example.gotransverse.com";  // RecordUrl's base
  // The billing account category new accounts get (its code), and their bill cycle (its id;
  // it decides the account's currency). "": the active cycle in the account's currency, else
  // the first active one.
  std::string account_category = "DEFAULT";
  std::string default_bill_cycle;
  // The shared secret a GTV HTTP notification carries in X-Tandem-Token (docs/gotransverse.md).
  std::string notification_token;
  int max_attempts = 4;  // creates and commands after an answer that may have been lost
  // Held from a create's look-up to the create, so that two workers (or processes) creating
  // one record at once make it once. Null: this process's own lock (one process only).
  KeyLock* key_lock = nullptr;
  // Renewed before each attempt and again before the create; GtvConnection makes it
  // timeout × (attempts + 2), what one attempt's look-up and create can take.
  Millis key_lease = Millis(90'000);
};

class GtvBilling final : public BillingSystem {
 public:
  GtvBilling(GtvOptions options, http::RestClient& rest, const Clock& clock, Sleeper& sleeper);

  std::string name() const override { return "gotransverse"; }
  std::string RecordUrl(const std::string& kind, const std::string& id) const override;
  int PreferredInFlight() const override { return rest_.flow().InFlight(); }
  int CallsInFlight() const override { return rest_.flow().CallsInFlight(); }

  Result<BillingAccount> CreateAccount(const BillingAccount& account,
                                       const std::string& idempotency_key) override;
  Result<BillingAccount> UpdateAccount(const std::string& id, const BillingAccount& fields,
                                       const std::string& idempotency_key) override;
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
  // No change feed in GTV: a full scan of products and prices, compared with the digests the
  // cursor carries from the last scan; what differs (or is new) is listed.
  Result<CatalogChanges> ListCatalogChanges(const std::string& since) override;

  Result<Subscription> CreateSubscription(const SubscriptionSpec& spec,
                                          const std::string& key) override;
  Result<Subscription> GetSubscription(const std::string& id) override;
  Status ListSubscriptions(
      const std::function<Status(const Subscription&)>& on_subscription) override;
  Result<std::optional<Subscription>> FindSubscription(const std::string& account_id,
                                                       const std::string& key,
                                                       const std::string& value) override;
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
  Status ListPayments(const std::string& account_id,
                      const std::function<Status(const Payment&)>& on_payment) override;
  Status ListInvoicePayments(const Invoice& invoice,
                             const std::function<Status(const Payment&)>& on_payment) override;

  // GTV signs nothing: its HTTP notification carries a shared token the operator set on it,
  // and the payload is only a hint (the object is read from GTV before anything is applied).
  std::string WebhookSignatureHeader() const override { return "x-tandem-token"; }
  Result<BillingEvent> VerifyWebhook(const std::string& payload, const std::string& token,
                                     int64_t now_epoch_s) const override;
  // A notification's body ({"type","id","billing_account_id"}) is a poll hint; a polled
  // change carries the object as GTV answered it ("object") and is an event.
  Result<BillingEvent> ParseEvent(const std::string& payload) const override;

  // No change feed: new invoices and payments by id (a cursor each: one request when nothing
  // changed), services by updated_on (with a minute's lookback; the ids repeat, the inbox
  // keeps each once).
  std::vector<std::string> PolledKinds() const override {
    return {"invoice", "payment", "service"};
  }
  Result<PolledEvents> PollEvents(const std::string& kind, const std::string& cursor) override;

 private:
  Result<Json> Call(const std::string& method, const std::string& path, const Json* body);
  Result<Json> Get(const std::string& path) { return Call("GET", path, nullptr); }
  // Every element of a list, page by page (50 at most per page, GTV's cap).
  Status ListAll(const std::string& path, const std::function<Status(const Json&)>& on_item,
                 int64_t* pages = nullptr);
  // Exactly once without keys: under the lock of `what` (its natural key), look up; if
  // absent, create; after an answer that may have been lost, look up again before creating
  // again.
  Result<Json> CreateOnce(const std::string& what,
                          const std::function<Result<std::optional<Json>>()>& lookup,
                          const std::function<Result<Json>()>& create);

  // The one record `path` lists (those `keep` accepts, when given); Conflict for several.
  Result<std::optional<Json>> FindOne(const std::string& path, const std::string& what,
                                      const std::function<bool(const Json&)>& keep = {});
  // Bill cycles and account categories, read at most every 10 minutes (an account create
  // needs them; they change rarely).
  struct Reference {
    std::vector<Json> cycles, categories;
  };
  Result<Reference> ReferenceData();
  Result<std::string> CustomFieldId(const std::string& type, const std::string& name);
  Result<Json> CustomFieldValues(const std::string& type, const Metadata& values,
                                 const std::vector<std::string>& clear = {});
  Result<Json> AccountBody(const BillingAccount& a, const Json* current);

  // The invoices payments name, by id, in as few reads as their ids allow.
  Result<std::map<std::string, Json>> InvoicesOf(const std::vector<Json>& payments, int64_t* reads);
  Result<Json> OrderItem(const SubscriptionItem& item, const std::string& currency);
  Result<std::optional<Json>> FindOrder(const std::string& account_id, const std::string& key);
  Result<Json> Confirmed(Json order, int64_t start_at);
  Result<Subscription> FromOrder(const Json& order);
  Result<Json> BaseService(const std::string& subscription_id);
  Result<Json> Command(const std::string& service_id, const char* verb, const Json& body);
  Status ScheduleEnd(const Json& service, int64_t end_at);
  // Takes (or renews) `key`'s lock for `holder`, waiting out another holder for at most a
  // lease; Unavailable (transient: the task is retried) when it is still held or the store
  // failed.
  Status Lock(const std::string& key, const std::string& holder);

  GtvOptions options_;
  http::RestClient& rest_;
  const Clock& clock_;
  Sleeper& sleeper_;
  LocalKeyLock local_lock_;
  KeyLock& key_lock_;
  const std::string holder_prefix_;  // this adapter's, unique among processes
  std::atomic<int64_t> holders_{0};
  std::mutex mu_;
  std::map<std::string, std::string> custom_field_ids_;  // "type/name" → id
  std::map<std::string, bool> custom_fields_read_;       // type → read
  Reference reference_;
  int64_t reference_read_ms_ = 0;
};

}  // namespace tandem::connector::billing::gtv
