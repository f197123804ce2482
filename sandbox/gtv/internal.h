// Private to the GTV emulator (sandbox/gtv/*.cpp), not part of its API (gtv_sandbox.h): the
// emulator's state, the request handler, and the helpers its files share. Each file serves
// one part: server.cpp (the request pipeline and the route table), admin.cpp (/__sandbox/),
// errors.cpp, wire.cpp (money, dates, JSON fields, rendering), lists.cpp (paging and the
// filter language), state.cpp (ids, objects, seeds, the clock's effects), accounts.cpp
// (reference data, custom fields, billing accounts), catalog.cpp (products and prices),
// orders.cpp (orders, change-service), services.cpp (service commands), billing.cpp (bill
// run, invoices, payments), charges.cpp (adjustments, usage), notifications.cpp.
// Thread-safety: everything here runs under GtvSandbox::Impl::mu unless a member says
// otherwise.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <cpprest/json.h>

#include "sandbox/faults/faults.h"
#include "sandbox/faults/listener.h"
#include "sandbox/gtv/gtv_sandbox.h"
#include "sandbox/http/emulator_front.h"
#include "util/clock.h"

namespace tandem::sandbox::gtv {

namespace wh = web::http;
using web::json::value;

struct Reply {
  int status = 200;
  value body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A non-JSON answer (the invoice PDF): sent as is when content_type is set.
  std::string raw, content_type;
};

// --- errors in GTV's shape {"code":"<status>","message":"..."} (errors.cpp) -----------------

Reply GtvError(int status, const std::string& message);
Reply NotFound(const std::string& kind, const std::string& id);

// Thrown inside a handler for a refused request, caught once by the pipeline (server.cpp) and
// sent as the answer: validation is deep in nested bodies, and unwinding to the one place that
// answers keeps every validation a single line, as the Stripe emulator does.
struct ApiError {
  Reply reply;
};
[[noreturn]] void Fail(int status, const std::string& message);
[[noreturn]] void Invalid(const std::string& message);  // 422

// --- wire values (wire.cpp) ---------------------------------------------------------------

// Digits after the decimal point of a currency (JPY 0, KWD/BHD/OMR 3, the rest 2).
int CurrencyDecimals(const std::string& currency);
// Money is kept in the JSON tree as a marker string holding minor units and decimals, so it
// stays exact and prints as a JSON number with the currency's decimals ("30.00").
value Money(int64_t minor, const std::string& currency);
bool IsMoney(const value& v);
int64_t MinorOf(const value& money);        // 0 for a non-money value
std::string MoneyText(const value& money);  // "30.00"
// A request's amount (a JSON number or a decimal string) in minor units of `currency`;
// an error names `field`.
Result<int64_t> ParseAmount(const value& v, const std::string& currency, const std::string& field);
// The JSON text of `v` as the API shows it: money printed as numbers, and fields named
// "__..." (the emulator's own bookkeeping, e.g. a service's instants in ms) left out.
std::string Render(const value& v);

// Time in the tenant's offset (minutes east of UTC).
std::string Timestamp(int64_t epoch_ms, int offset_min);  // "2026-12-01T10:00:00-06:00"
std::string DateOf(int64_t epoch_ms, int offset_min);     // "2026-12-01"
// "2026-12-01" (the tenant's midnight), or a timestamp with Z or an offset, to epoch ms.
Result<int64_t> ParseWhen(const std::string& text, int offset_min);
// Date arithmetic on "YYYY-MM-DD" (months clamp the day to the month's end).
std::string AddDays(const std::string& date, int days);
std::string AddMonths(const std::string& date, int months);
Result<int> ParseOffset(const std::string& text);  // "-06:00" → -360

// Reading request bodies: a field absent or null reads as absent.
const value* Field(const value& obj, const std::string& key);
std::string Str(const value& obj, const std::string& key);  // "" when absent; numbers as text
// The id of a nested reference {"id": "..."} (a number is accepted too); "" when absent.
std::string RefId(const value& obj, const std::string& key);
value Ref(const std::string& id);  // {"id": id}
// A whole number field (a JSON integer or digit string); 422 naming `where` otherwise.
int64_t WholeNumber(const value& obj, const std::string& key, const std::string& where);
// Months in a recurrence_period (MONTH 1 ... TWOYEARS 24); 0 for none.
int PeriodMonths(const std::string& period);
value Arr(const std::vector<value>& items);

// --- lists (lists.cpp) -------------------------------------------------------------------

using Query = std::map<std::string, std::string>;
Query ParseQuery(const std::string& raw);
// A bare-array page of `items` (already in id order) kept by the query's plain keys and
// filter=, with the count headers. The plain keys and filter fields `kind` supports are
// its filterable fields (lists.cpp).
Reply ListPage(const std::string& kind, const std::vector<const value*>& items, const Query& q);

// --- the emulator --------------------------------------------------------------------------

struct Notification {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Outgoing {
  Notification target;
  std::string body;
  int attempt = 0;
};

struct GtvSandbox::Impl {
  GtvSandboxOptions options;
  const Clock& clock;
  int offset_min = 0;  // options.tenant_offset, parsed at construction
  EmulatorFront front;

  mutable std::mutex mu;
  // kind → numeric id → object; a std::map keeps lists in id order (GTV's default sort).
  std::map<std::string, std::map<int64_t, value>> objects;
  std::map<std::string, int64_t> last_id;  // kind → last id given
  int64_t account_nums = 0, invoice_nums = 0, bulk_requests = 0;
  // (sequence_id, reference_id) → the usage event holding it (usage dedupe).
  std::map<std::pair<std::string, std::string>, std::string> usage_keys;
  std::map<std::string, int> failed_runs;  // billing account id → failed auto-payments
  std::vector<Notification> notifications;
  FaultSet faults;
  int64_t request_count = 0, rate_limited_count = 0, window_start_ms = 0, window_count = 0;

  // The notification sender's queue (notifications.cpp).
  std::mutex out_mu;
  std::condition_variable out_cv;
  std::deque<Outgoing> outgoing;  // GUARDED_BY(out_mu)
  bool stopping = false;          // GUARDED_BY(out_mu)
  std::thread sender;

  Impl(GtvSandboxOptions o, const Clock& c);

  int64_t NowMs() const { return ToEpochMillis(clock.Now()); }
  std::string NowStamp() const { return Timestamp(NowMs(), offset_min); }
  std::string Today() const { return DateOf(NowMs(), offset_min); }
  // A date or timestamp of a request field, as epoch ms; 422 naming `field` when unreadable.
  int64_t When(const std::string& text, const std::string& field) const;

  // --- objects (state.cpp) ---
  std::string NewId(const std::string& kind);
  value* Find(const std::string& kind, const std::string& id);
  value& Get(const std::string& kind, const std::string& id);  // 404 when missing
  value& Store(const std::string& kind, value obj);
  std::vector<const value*> All(const std::string& kind);
  void Seed();   // reference data and the default custom fields
  void Reset();  // everything gone, seeds again
  // The clock's effects, evaluated lazily before each request and bill run: scheduled
  // services start, scheduled deactivations end services, prices past thru_date go INACTIVE.
  void Tick();

  // --- custom fields (accounts.cpp) ---
  value AddCustomField(const std::string& type, const std::string& name);
  // `current` with the request's custom_field_values applied (set by custom field id, null
  // value clears); 422 for an unknown field or one of another type.
  value CustomValues(const value& requested, const std::string& type, value current);
  void RefreshTotals(const std::string& account_id);  // balance, pending_charges_total

  // --- services (services.cpp) ---
  bool Final(const value& service) const;  // DEACTIVATED or REPLACED
  void SetStatus(value& service, const std::string& status);
  // Ends a service (status DEACTIVATED or REPLACED) and every descendant still live.
  void End(value& service, const std::string& status);

  // --- orders (orders.cpp) ---
  // A new DRAFT order of `account_id` from a request body (its order_items validated).
  value NewOrder(const value& body, const std::string& account_id);
  // DRAFT → COMPLETED: services (or one-time charges) made for each item.
  void Confirm(value& order);

  // --- billing (billing.cpp) ---
  GtvBillRunResult BillRunLocked(const std::string& account_id,
                                 const std::vector<std::string>& fail,
                                 const std::vector<std::string>& hold = {});
  Status SettleLocked(const std::string& payment_id, bool completed);
  // A PROCESSING payment completes (its invoice is paid) or fails (a second failed run puts
  // the account in COLLECTION); the notification goes out.
  void Settle(value& pay, value& inv, value& account, bool completed);

  // --- notifications (notifications.cpp) ---
  void Notify(const std::string& type, const std::string& id, const std::string& account_id);
  void SenderLoop();  // the sender's thread; takes out_mu itself
};

// The request pipeline (server.cpp): a fault, the admin endpoints, authentication, the rate
// limit, then the Handler. Takes mu itself.
void ServeRequest(GtvSandbox::Impl& s, IncomingRequest& in);

// The answer of a /__sandbox/ admin endpoint (admin.cpp). REQUIRES: s.mu held.
Reply ServeAdmin(GtvSandbox::Impl& s, const std::string& method,
                 const std::vector<std::string>& seg, const std::string& body);

// Serves one API request (path segments after /billing/2) against the state; one member
// function per resource, each in its resource's file. Runs under the state lock.
class Handler {
 public:
  Handler(GtvSandbox::Impl& s, const std::string& method, const std::vector<std::string>& seg,
          const value& body, const Query& query)
      : s_(s), method_(method), seg_(seg), body_(body), q_(query) {}

  Reply Serve();  // server.cpp: the route table

 private:
  Reply Reference();        // accounts.cpp: bill-cycles, categories, payment terms, custom fields
  Reply BillingAccounts();  // accounts.cpp
  Reply Products();         // catalog.cpp
  Reply ProductPrices();    // catalog.cpp
  Reply Orders();           // orders.cpp
  Reply Services();         // services.cpp
  Reply Invoices();         // billing.cpp
  Reply Payments();         // billing.cpp
  Reply Adjustments();      // charges.cpp
  Reply UsageEvents();      // charges.cpp

  // accounts.cpp
  Reply CreateAccount();
  Reply UpdateAccount(value& account);
  void ApplyAccount(value& account, const value& body, bool create);
  value Party(const value& requested, value current, bool create);
  // catalog.cpp
  Reply CreateProduct();
  Reply UpdateProduct(value& product);
  Reply CreatePrice(value& product);
  // orders.cpp
  Reply ChangeService(const std::string& account_id);
  // services.cpp
  Reply Command(value& service, const std::string& verb);

  Reply Ok(const value& v) { return Reply{200, v, {}, {}, {}}; }
  Reply List(const std::string& kind) { return ListPage(kind, s_.All(kind), q_); }
  Reply NoRoute() const;

  GtvSandbox::Impl& s_;
  const std::string method_;
  const std::vector<std::string> seg_;  // after /billing/2: resource, id, verb
  const value& body_;
  const Query& q_;
};

}  // namespace tandem::sandbox::gtv
