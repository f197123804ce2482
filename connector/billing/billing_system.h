// BillingSystem: what Tandem needs from a billing system, in the billing domain's terms
// (accounts, catalog, subscriptions, add-ons, charges, usage, invoices, payments, events),
// not any one vendor's. Stripe is the first adapter; others plug in here without touching
// the steps above.
// Every write takes an idempotency key derived from what the write does (the task key, the
// CRM id and content hash, the migration job and row): sending it twice never does it twice.
// Thread-safety: implementations are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace tandem::connector::billing {

using Metadata = std::map<std::string, std::string>;

struct Address {
  std::string line1, line2, city, state, postal_code, country;
};

struct BillingAccount {
  std::string id;            // assigned by billing
  std::string external_key;  // the CRM id; each adapter keeps it where billing can search it
  std::string number;        // billing's own account number for people (GTV's account_num)
  std::string name;
  std::string email;
  std::string phone;
  std::string currency;  // ISO 4217, lower case as billing systems keep it
  std::string description;
  Address address;
  // Read: the bill cycle (by name) and account category (by code) billing gave the account;
  // empty where billing has none (Stripe).
  std::string billing_cycle, category;
  Metadata metadata;
  int64_t balance_minor = 0;  // amount owed (positive) in minor units
  bool delinquent = false;
  // Read: billing has closed the account (GTV: deactivated, final bill, closed); Stripe's
  // deleted customers are not read at all. A closed account is no migration match.
  bool closed = false;
  int64_t created = 0;  // epoch seconds
  // UpdateAccount: billing paths ("phone", "address.city", "custom.k") to empty. An empty
  // field above means "leave as is", so clearing a value the CRM no longer has is explicit.
  // kExternalKeyPath untags the account (where billing lets the CRM id change: Stripe).
  std::vector<std::string> clear;
};
inline constexpr const char* kExternalKeyPath = "external_key";

struct Product {
  std::string id;
  std::string name;
  std::string description;
  bool active = true;
  std::string kind = "base";      // base | add_on | fee (metadata tandem_kind)
  std::string parent_product_id;  // add-ons and fees: the product they belong to
  Metadata metadata;
  int64_t updated = 0;  // epoch seconds of the last change
};

struct Price {
  std::string id;
  std::string product_id;
  std::string currency;
  int64_t unit_amount_minor = 0;
  std::string interval;  // month | year | "" (one-time)
  int interval_count = 1;
  bool active = true;
  std::string nickname;
  Metadata metadata;
  int64_t created = 0;
};

struct CatalogChanges {
  std::vector<Product> products;
  std::vector<Price> prices;
  std::string cursor;  // pass back as `since` next time
  int64_t reads = 0;   // list calls made, for the "at most N billing reads" guarantee
};

struct SubscriptionItem {
  SubscriptionItem() = default;
  SubscriptionItem(std::string item_id, std::string catalog_price, int64_t qty, Metadata meta)
      : id(std::move(item_id)),
        price_id(std::move(catalog_price)),
        quantity(qty),
        metadata(std::move(meta)) {}

  std::string id;
  std::string price_id;
  int64_t quantity = 1;
  Metadata metadata;
  // Read: the price billing charges for the item (amount, currency, interval, product).
  // Write with `sold_price`: bill this price instead of the catalog's `price_id` — the price
  // the line was sold at (after discount), made for this item alone so the catalog stays as
  // it is (ADR 0009). product_id, currency, unit_amount_minor and interval are required.
  Price price;
  bool sold_price = false;
};

// Item metadata: the catalog price an item was billed from (its own price may be a sold one).
constexpr char kCatalogPriceKey[] = "catalog_price";

// The item that bills `quantity` of the catalog price `catalog` at `sold_unit_minor` each (in
// the catalog price's currency): the catalog price itself when the amounts agree, else a price
// made for the item with the catalog price's product, currency and interval (ADR 0009). The
// catalog price id is in the item's metadata either way (kCatalogPriceKey). InvalidArgument
// for a one-time catalog price sold at another amount.
Result<SubscriptionItem> ItemSoldAt(const Price& catalog, int64_t quantity,
                                    int64_t sold_unit_minor);

struct Subscription {
  std::string id;
  std::string account_id;
  // incomplete | incomplete_expired | pending (held: not billing until started) |
  // scheduled (starts billing at start_date) |
  // active | past_due | unpaid | paused | canceled
  std::string status;
  std::vector<SubscriptionItem> items;
  int64_t start_date = 0;  // when the service started (the first period's start)
  int64_t current_period_start = 0, current_period_end = 0;
  int64_t cancel_at = 0;  // 0: none
  bool cancel_at_period_end = false;
  int64_t canceled_at = 0;
  std::string latest_invoice_id;
  std::string latest_invoice_status;  // filled when the billing system returns it inline
  Metadata metadata;
};

struct SubscriptionSpec {
  std::string account_id;
  std::vector<SubscriptionItem> items;  // price and quantity
  int64_t cancel_at = 0;                // end of the term (epoch s); 0: open-ended
  int64_t start_at = 0;                 // backdate or anchor; 0: now
  bool start_active = true;             // false: create without charging until Start()
  // When the operation was decided (epoch s), the same on every attempt: an adapter whose
  // request depends on a time (a hold that must end by some date) derives it from this, not
  // from the clock of the attempt, so that a retry sends the same request. 0: now.
  int64_t decided_at = 0;
  Metadata metadata;  // CRM ids (order, order item, subscription record)
};

struct OneTimeCharge {
  std::string account_id;
  int64_t amount_minor = 0;
  std::string currency;
  std::string description;
  std::string subscription_id;  // optional: bill with that subscription's next invoice
  Metadata metadata;
};

// What was paid against an invoice and what was given back, in one shape: billing's payments,
// refunds and credit notes. A refund or a credit note is a Payment with a negative amount and
// its kind, so the CRM mirrors all three as payment records of the invoice
// (Billing_Payment__c, Kind__c Payment | Refund | Credit Note). A credit note reduces what an
// open invoice asks for (pre-payment) or gives back on a paid one (post-payment: by refund, to
// the customer's balance, or outside billing). The same money never appears twice: a credit
// note that refunds carries only what it gives back beyond that refund, an entry of its own.
struct Payment {
  enum class Kind { kPayment, kRefund, kCreditNote };
  std::string id;  // the payment (charge), refund or credit note
  Kind kind = Kind::kPayment;
  std::string account_id;
  std::string invoice_id;      // the invoice it pays or gives back from; "" when none
  std::string payment_id;      // refunds: the payment they return money from
  int64_t amount_minor = 0;    // payments positive; refunds and credit notes negative
  int64_t refunded_minor = 0;  // payments: how much of it was refunded since (positive)
  std::string currency;
  // payments: succeeded | pending | failed; refunds: succeeded | pending | failed | canceled;
  // credit notes: issued | void
  std::string status;
  std::string number;   // credit notes: the document's number
  std::string pdf_url;  // credit notes: the document
  std::string failure_message;
  int64_t created = 0;  // epoch s: paid, refunded or issued
};
const char* PaymentKindName(Payment::Kind kind);  // "payment" | "refund" | "credit_note"

struct Invoice {
  std::string id;
  std::string account_id;
  std::string subscription_id;
  std::string number;
  std::string status;  // draft | open | paid | uncollectible | void
  // amount_due is after credit notes issued while the invoice was open; amount_paid is not
  // reduced by refunds or later credit notes (those are Payment entries of their own).
  int64_t amount_due = 0, amount_paid = 0, amount_remaining = 0;
  int64_t credited = 0;  // credit notes issued against it, before and after payment
  std::string currency;
  int64_t created = 0, due_date = 0;
  int64_t issued_at = 0, paid_at = 0;  // epoch s; 0: not (yet)
  std::string hosted_url;              // the page the customer pays it on
  std::string pdf_url;
  int attempt_count = 0;
  std::string charge_id;  // the latest payment attempt behind it, when any
  // That payment as billing has it now (refunded amount included), when the read brought it:
  // GetInvoice and ListInvoices("") do (an account's listing may not: it serves balances);
  // an event's invoice names only charge_id.
  std::optional<Payment> payment;
  Metadata metadata;
};

// Whether a mid-period change bills the part of the period it affects (credit for what is no
// longer used, a charge for what is added) or waits for the next period. Per work-order
// template; prorate is the default (docs/workorders.md).
enum class Proration { kProrate, kNone };

struct BillingEvent {
  enum class Type {
    kInvoiceCreated,
    kInvoiceFinalized,
    kInvoicePaid,
    kInvoicePaymentFailed,
    kInvoiceChanged,  // voided, marked uncollectible, edited: recorded as it is, nothing else
    kSubscriptionChanged,
    kCustomerChanged,
    kCustomerDeleted,
    kCatalogChanged,
    kRefunded,          // money given back on a payment (a refund made, or its status changed)
    kCreditNoteIssued,  // a credit note issued against an invoice (or changed since: voided)
    kPollHint,          // something changed in billing: poll now (a notification without data)
    kOther,
  };
  std::string id;
  Type type = Type::kOther;
  std::string raw_type;         // the billing system's own name ("invoice.paid")
  std::string object_id;        // the invoice, subscription, customer or product
  std::string account_id;       // the customer it concerns, when any
  int64_t created = 0;          // epoch seconds: orders events about one object
  std::string idempotency_key;  // of the request that caused it, when Tandem's own write
  Json object;                  // the object as the event carries it
  Invoice invoice;              // invoice events: the invoice, parsed
  // Refund and credit-note events: the refund, the refunded payment, or the credit note,
  // parsed as far as the event tells (a refund names its payment, not always the invoice).
  Payment payment;
};
const char* EventTypeName(BillingEvent::Type type);

// Usage reported against a metered subscription item.
struct UsageRecord {
  std::string subscription_item_id;
  int64_t quantity = 0;
  int64_t timestamp = 0;  // epoch s
  bool set = false;       // true: replace the period's total; false: add to it
};

// Changes a billing system without webhooks reports when asked (PollEvents).
struct PolledEvents {
  std::vector<BillingEvent> events;  // each with `object` the payload ParseEvent reads back
  std::string cursor;                // pass back next time
  int64_t reads = 0;                 // list calls made
};

class BillingSystem {
 public:
  virtual ~BillingSystem() = default;
  virtual std::string name() const = 0;
  // The URL a person opens to see the record in the billing system's own UI.
  virtual std::string RecordUrl(const std::string& kind, const std::string& id) const = 0;
  // Calls worth keeping in flight to billing now, by its rate limit and the latency and
  // throttling seen (connector/http/flow_control.h); 1 where nothing is known.
  virtual int PreferredInFlight() const { return 1; }
  // Calls to billing on the wire now.
  virtual int CallsInFlight() const { return 0; }
  // Whether a price's amount, currency and interval never change once made (Stripe's do not;
  // a GTV price list's may): a price read earlier still says what it charges.
  virtual bool PriceAmountsFixed() const { return false; }

  // --- accounts ---
  virtual Result<BillingAccount> CreateAccount(const BillingAccount& account,
                                               const std::string& idempotency_key) = 0;
  virtual Result<BillingAccount> UpdateAccount(const std::string& id, const BillingAccount& fields,
                                               const std::string& idempotency_key) = 0;
  virtual Result<BillingAccount> GetAccount(const std::string& id) = 0;
  // By the CRM id kept in metadata; nullopt when none. Conflict when several claim it.
  virtual Result<std::optional<BillingAccount>> FindAccountByExternalKey(
      const std::string& external_key) = 0;
  // Streams every account (reconciliation, migration matching).
  virtual Status ListAccounts(const std::function<Status(const BillingAccount&)>& on_account) = 0;
  // Takes back a customer Tandem created (`tandem migrate undo`): Stripe deletes it, GTV
  // deactivates it (GTV never deletes an account). Ok when it is gone already; Conflict when
  // billing has subscriptions (GTV: orders) or invoices for it: only an unused customer is
  // taken back.
  virtual Status RemoveAccount(const std::string& id) = 0;

  // --- catalog ---
  virtual Result<Product> CreateProduct(const Product& product,
                                        const std::string& idempotency_key) = 0;
  virtual Result<Product> UpdateProduct(const std::string& id, const Product& fields,
                                        const std::string& idempotency_key) = 0;
  virtual Result<Price> CreatePrice(const Price& price, const std::string& idempotency_key) = 0;
  virtual Result<Price> GetPrice(const std::string& id) = 0;
  // Products and prices created or changed since `since` ("" = everything).
  virtual Result<CatalogChanges> ListCatalogChanges(const std::string& since) = 0;

  // --- subscriptions ---
  virtual Result<Subscription> CreateSubscription(const SubscriptionSpec& spec,
                                                  const std::string& idempotency_key) = 0;
  virtual Result<Subscription> GetSubscription(const std::string& id) = 0;
  // Streams every subscription, canceled ones included (reconciliation).
  virtual Status ListSubscriptions(
      const std::function<Status(const Subscription&)>& on_subscription) = 0;
  // The account's subscription whose metadata `key` holds `value` (canceled ones included), or
  // none: a create retried after billing may have forgotten its idempotency key looks first.
  virtual Result<std::optional<Subscription>> FindSubscription(const std::string& account_id,
                                                               const std::string& key,
                                                               const std::string& value) = 0;
  // Activates a subscription created with start_active=false: now (start_at 0) or, for an
  // order that takes effect later, billing from `start_at` (epoch s) on; until then its
  // status reads "scheduled" and nothing is charged.
  virtual Result<Subscription> StartSubscription(const std::string& id, int64_t start_at,
                                                 const std::string& idempotency_key) = 0;
  virtual Result<Subscription> ChangeQuantity(const std::string& subscription_id,
                                              const std::string& item_id, int64_t quantity,
                                              Proration proration,
                                              const std::string& idempotency_key) = 0;
  // Re-rate: the item moves to another price: `to.price_id` (a catalog price) or, with
  // `to.sold_price`, a price made for the item (`to.price`).
  virtual Result<Subscription> ChangePrice(const std::string& subscription_id,
                                           const std::string& item_id, const SubscriptionItem& to,
                                           Proration proration,
                                           const std::string& idempotency_key) = 0;
  // Re-term: the subscription now ends at `cancel_at` (0: open-ended).
  virtual Result<Subscription> ReTerm(const std::string& subscription_id, int64_t cancel_at,
                                      const std::string& idempotency_key) = 0;
  virtual Result<Subscription> Cancel(const std::string& subscription_id, bool at_period_end,
                                      const std::string& idempotency_key) = 0;
  // Replace: the old subscription ends now and `spec` takes its place (a product swap).
  // Returns the new subscription; both steps are keyed, so a retry neither doubles the new
  // one nor fails on the already-canceled old one.
  virtual Result<Subscription> Replace(const std::string& old_subscription_id,
                                       const SubscriptionSpec& spec,
                                       const std::string& idempotency_key) = 0;
  // Renewal: extends the term to `new_cancel_at` and clears a pending cancellation.
  virtual Result<Subscription> Renew(const std::string& subscription_id, int64_t new_cancel_at,
                                     const std::string& idempotency_key) = 0;

  // --- add-ons and charges ---
  // An add-on is an item of its subscription: it co-terminates with it (ends at its end,
  // renews with it) and bills on its invoices.
  virtual Result<SubscriptionItem> AddAddOn(const std::string& subscription_id,
                                            const SubscriptionItem& item, Proration proration,
                                            const std::string& idempotency_key) = 0;
  virtual Result<SubscriptionItem> ChangeAddOn(const std::string& item_id, int64_t quantity,
                                               Proration proration,
                                               const std::string& idempotency_key) = 0;
  virtual Status RemoveAddOn(const std::string& item_id, Proration proration,
                             const std::string& idempotency_key) = 0;
  // A one-time charge (one-time add-on, early-termination fee): billed on the next invoice.
  virtual Result<std::string> AddOneTimeCharge(const OneTimeCharge& charge,
                                               const std::string& idempotency_key) = 0;
  virtual Status RecordUsage(const UsageRecord& usage, const std::string& idempotency_key) = 0;

  // --- invoices and payments ---
  // An empty account_id streams every account's (reconciliation).
  virtual Status ListInvoices(const std::string& account_id,
                              const std::function<Status(const Invoice&)>& on_invoice) = 0;
  virtual Result<Invoice> GetInvoice(const std::string& id) = 0;
  // The payment `id`, refunded amount included.
  virtual Result<Payment> GetPayment(const std::string& id) = 0;
  // Streams an account's payments, then their refunds, then its credit notes (see Payment).
  virtual Status ListPayments(const std::string& account_id,
                              const std::function<Status(const Payment&)>& on_payment) = 0;
  // Everything recorded against one invoice, as billing has it now: the payment behind it
  // (invoice.charge_id), that payment's refunds, then the invoice's credit notes.
  virtual Status ListInvoicePayments(const Invoice& invoice,
                                     const std::function<Status(const Payment&)>& on_payment) = 0;

  // --- webhooks ---
  // The request header (lower case) that carries what VerifyWebhook checks.
  virtual std::string WebhookSignatureHeader() const = 0;
  // Verifies the signature header over the exact payload and parses the event.
  // Unauthenticated for a bad or stale signature; InvalidArgument for a malformed event.
  virtual Result<BillingEvent> VerifyWebhook(const std::string& payload,
                                             const std::string& signature_header,
                                             int64_t now_epoch_s) const = 0;
  // Parses a payload that was verified earlier (the inbox keeps verified payloads only).
  virtual Result<BillingEvent> ParseEvent(const std::string& payload) const = 0;

  // --- polling, for billing systems that call no webhooks ---
  // The kinds of change the billing system is asked for ("invoice", "payment", ...); none for
  // one that pushes its events (Stripe).
  virtual std::vector<std::string> PolledKinds() const { return {}; }
  // What changed of `kind` since `cursor` ("" = from now on: an empty list and a cursor),
  // as events with ids that are the same when polled again (the inbox keeps each once).
  virtual Result<PolledEvents> PollEvents(const std::string& kind, const std::string& cursor) {
    (void)kind;
    return PolledEvents{{}, cursor, 0};
  }
};
using BillingSystemPtr = std::unique_ptr<BillingSystem>;

}  // namespace tandem::connector::billing
