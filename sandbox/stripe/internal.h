// Private to the Stripe emulator (sandbox/stripe/*.cpp), not part of its API (stripe_sandbox.h):
// the emulator's state, the request handler, and the helpers its files share. Each file serves
// one part: server.cpp (the request pipeline and the route table), admin.cpp (/__sandbox/),
// errors.cpp, params.cpp (form decoding), state.cpp (objects, lists), events.cpp (events and
// webhooks), customers.cpp, products.cpp (products and prices), subscriptions.cpp (and items,
// usage records), invoices.cpp (invoice items, invoices, charges, bill runs), refunds.cpp
// (refunds and credit notes).
// Thread-safety: everything here runs under StripeSandbox::Impl::mu unless a member says
// otherwise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cpprest/json.h>

#include "sandbox/faults/faults.h"
#include "sandbox/faults/listener.h"
#include "sandbox/http/emulator_front.h"
#include "sandbox/stripe/stripe_sandbox.h"
#include "util/clock.h"

namespace tandem::sandbox::stripe {

namespace wh = web::http;
using web::json::value;

inline constexpr int64_t kDay = 86400;
inline constexpr char kApiVersion[] = "2023-08-16";

struct Reply {
  int status = 200;
  value body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// --- errors in Stripe's shape (errors.cpp) ---------------------------------------------

Reply StripeError(int status, const std::string& type, const std::string& code,
                  const std::string& message, const std::string& param = "");
Reply Missing(const std::string& kind, const std::string& id);

// Thrown inside handlers for a bad request; turned into a 400 answer.
struct BadRequest {
  Reply reply;
};

[[noreturn]] void ThrowMissingParam(const std::string& name);
[[noreturn]] void ThrowInvalid(const std::string& name, const std::string& why);

// --- form decoding: a[b][0][c]=v into a JSON tree, and reading parameters (params.cpp) -

std::string UrlDecode(const std::string& s);
value DecodeForm(const std::string& body);
std::string Str(const value& params, const std::string& key);
bool Has(const value& params, const std::string& key);
int64_t Int(const value& params, const std::string& key, int64_t fallback = 0);
bool Bool(const value& params, const std::string& key, bool fallback = false);
void CheckKnown(const value& params, std::initializer_list<const char*> allowed);
value Metadata(const value& params, value current = value::object());

// A list object in Stripe's shape (state.cpp).
value List(const std::vector<value>& data, const std::string& url, bool has_more);

struct Delivery {
  std::string endpoint_id;
  std::string payload;
  int attempt = 0;
  SteadyTime due;
};

struct StripeSandbox::Impl {
  StripeSandboxOptions options;
  const Clock& clock;
  EmulatorFront front;

  mutable std::mutex mu;
  // kind ("customer", ...) → id → object, plus creation order for lists (newest first).
  std::map<std::string, std::unordered_map<std::string, value>> objects;
  std::map<std::string, std::vector<std::string>> order;
  std::map<std::string, std::string> kind_of;  // id → kind
  std::map<std::string, std::string> secrets;  // webhook endpoint id → whsec
  int64_t seq = 0;
  struct Idem {
    std::string fingerprint;
    Reply reply;
    int64_t saved_ms = 0;  // by the sandbox clock; forgotten after options.idempotency_ttl_ms
  };
  std::unordered_map<std::string, Idem> idempotency;
  std::deque<std::string> idempotency_order;  // oldest first; bounded by options.retain
  std::map<std::string, int64_t> made;        // kind → objects ever stored (stats)
  FaultSet faults;
  int64_t request_count = 0, rate_limited_count = 0, window_start_ms = 0, window_count = 0;
  std::string current_request_id, current_idem_key;

  std::mutex delivery_mu;
  std::condition_variable delivery_cv;
  std::deque<Delivery> deliveries;  // GUARDED_BY(delivery_mu)
  int in_flight = 0;                // GUARDED_BY(delivery_mu)
  bool stopping = false;            // GUARDED_BY(delivery_mu)
  std::atomic<int64_t> delivery_attempts{0};
  std::thread deliverer;

  Impl(StripeSandboxOptions o, const Clock& c) : options(std::move(o)), clock(c) {}

  int64_t Now() const { return ToEpochMillis(clock.Now()) / 1000; }

  // --- objects and lists (state.cpp) ---
  std::string NewId(const std::string& prefix);
  value* Find(const std::string& kind, const std::string& id);
  value& Store(const std::string& kind, value obj);
  // With options.retain, forgets the oldest objects of `kind` that a bulk load makes per
  // request, keeping the newest options.retain (amortised: only once twice that many are
  // kept). Only `kind`: pointers to objects of other kinds stay valid.
  void ForgetOldest(const std::string& kind);
  // Saves the answer of an Idempotency-Key, forgetting the oldest keys beyond options.retain.
  void Remember(const std::string& key, Idem idem);
  Reply ListOf(const std::string& kind, const value& q, const std::string& url,
               const std::function<bool(const value&)>& keep);
  value Expand(value obj, const value& q, bool in_list);

  // --- events and webhooks (events.cpp) ---
  void Emit(const std::string& type, const value& object, const value& previous = value::null());
  // The webhook deliverer's thread; takes delivery_mu and mu itself.
  void DeliveryLoop();

  // --- object builders ---
  value NewCustomer(const value& p);                            // customers.cpp
  void ApplyCustomer(value& c, const value& p);                 // customers.cpp
  value ExpandPrice(const std::string& id);                     // products.cpp
  value NewProduct(const value& p);                             // products.cpp
  value NewPrice(const value& p);                               // products.cpp
  int64_t PeriodSeconds(const value& price);                    // products.cpp
  value NewItem(const std::string& sub_id, const value& spec);  // subscriptions.cpp
  // The price an item spec names: `price` (a stored price) or `price_data` (a new price for
  // the item alone, kept inactive as Stripe does). `where` names the param in errors.
  value ItemPrice(const value& spec, const std::string& where);  // subscriptions.cpp
  void RefreshItems(value& sub);                                 // subscriptions.cpp
  value* FindItem(const std::string& item_id, value** sub_out);  // subscriptions.cpp
  value Charge(const value& invoice, bool succeed);              // invoices.cpp
  // Refunds `amount` of a succeeded charge (checked by the caller): the refund stored, the
  // charge's amount_refunded and refunded updated, charge.refunded and refund.created emitted.
  value Refund(value& charge, int64_t amount, const value& reason,
               const value& metadata);  // refunds.cpp

  // --- invoicing (invoices.cpp) ---
  // Creates, finalizes and pays (or fails) one invoice of `customer` for `sub` (may be null)
  // and every pending invoice item. Returns false when there was nothing to bill.
  bool Invoice(const std::string& customer, value* sub, bool succeed, const std::string& reason);
  // REQUIRES: mu held.
  // A trialing subscription whose trial_end has passed becomes active, its first period from
  // trial_end; false when its trial has not ended.
  bool EndTrial(web::json::value* sub);
  // A pending invoice item (the next invoice takes it).
  value NewInvoiceItem(const std::string& customer, const std::string& sub, int64_t amount,
                       std::string currency, const std::string& description, bool proration);
  // After a subscription's items changed mid-period: proration invoice items (a credit for
  // the unused time of what was, a charge for the rest of the period of what is), unless
  // `behavior` is "none".
  void Prorate(const value& sub, const value& items_before, const std::string& behavior);
  BillRunResult BillRunLocked(const std::string& customer, const std::vector<std::string>& fail);

 private:
  // The lines of an invoice being made, with their total and currency (invoices.cpp).
  struct InvoiceLines {
    std::vector<value> lines;
    int64_t total = 0;
    std::string currency = "usd";
  };
  void AddSubscriptionLines(const value* sub, int64_t period_start, int64_t period_end,
                            InvoiceLines* out);
  void AddPendingItemLines(const std::string& customer, const value* sub,
                           const std::string& invoice_id, InvoiceLines* out);
  value& CreateDraftInvoice(const std::string& invoice_id, const std::string& customer,
                            const value* sub, const InvoiceLines& lines, const std::string& reason,
                            int64_t period_start, int64_t period_end);
  void FinalizeInvoice(value& invoice, const std::string& invoice_id);
  void PayInvoice(value& invoice, const std::string& customer, value* sub, bool succeed,
                  int64_t total);
};

// The request pipeline (server.cpp): faults, the admin endpoints, authentication, the rate
// limit, idempotency, then the Handler. Takes mu itself.
void ServeRequest(StripeSandbox::Impl& s, IncomingRequest& in);

// The answer of a /__sandbox/ admin endpoint (admin.cpp). REQUIRES: s.mu held.
Reply ServeAdmin(StripeSandbox::Impl& s, const std::string& method,
                 const std::vector<std::string>& seg, const std::string& body);

// Serves one API request against the state; one member function per resource, each in its
// resource's file. Runs under the state lock.
class Handler {
 public:
  Handler(StripeSandbox::Impl& s, const std::string& method, const std::vector<std::string>& seg,
          const value& params, const std::string& url)
      : s_(s), method_(method), seg_(seg), p_(params), url_(url) {}

  Reply Serve();  // server.cpp: the route table

 private:
  Reply Customers();
  Reply Products();
  Reply Prices();
  Reply Subscriptions();
  Reply SubscriptionItems();
  Reply InvoiceItems();
  Reply Invoices();
  Reply Charges();
  Reply Refunds();
  Reply CreditNotes();
  Reply Events();
  Reply WebhookEndpoints();
  Reply Ok(const value& v) { return Reply{200, v, {}}; }
  Reply Get(const std::string& kind, const std::string& id) {
    value* o = s_.Find(kind, id);
    if (!o) return Missing(kind, id);
    return Ok(s_.Expand(*o, p_, false));
  }

  // customers.cpp
  Reply SearchCustomers();
  Reply UpdateCustomer(value* c);
  Reply DeleteCustomer(const value& c);
  // subscriptions.cpp
  Reply CreateSubscription();
  value NewSubscription(const std::string& id, const std::string& customer, const value& items,
                        int64_t start, int64_t now);
  Reply SubscriptionUpdate(value& sub);
  std::optional<Reply> ApplyItemChanges(value& sub);
  Reply CancelSubscription(value* sub);
  Reply AddSubscriptionItem();
  Reply ListSubscriptionItems();
  Reply RecordUsage();
  Reply UpdateSubscriptionItem(value* sub, value* item);
  Reply DeleteSubscriptionItem(value* sub);
  // invoices.cpp
  Reply CreateInvoiceItem();
  // refunds.cpp
  Reply CreateRefund();
  Reply CreateCreditNote();
  Reply VoidCreditNote();
  // events.cpp
  Reply CreateWebhookEndpoint();
  Reply DeleteWebhookEndpoint();

  StripeSandbox::Impl& s_;
  const std::string method_;
  const std::vector<std::string> seg_;
  const value& p_;
  const std::string url_;
};

}  // namespace tandem::sandbox::stripe
