// GtvBilling's invoices, payments, notifications and polling: GTV calls no webhooks, so what
// changes is asked for (PollEvents) and a notification is only a hint.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "connector/billing/gtv/gtv_billing.h"
#include "connector/billing/gtv/gtv_internal.h"
#include "connector/billing/gtv/gtv_paths.h"
#include "connector/billing/gtv/gtv_wire.h"
#include "connector/http/form.h"
#include "util/ascii.h"
#include "util/log.h"
#include "util/money_units.h"

#include <openssl/crypto.h>

namespace tandem::connector::billing::gtv {

using P = GtvPaths;

namespace {

// Processing payments read again by one poll; the rest wait for the next.
constexpr size_t kWatchedPerPoll = 50;

// At most this many processing payments are followed; beyond, the oldest are left to
// reconciliation (a log line says which).
constexpr size_t kMaxWatched = 1000;

// GTV's ids are digit strings; anything else is -1 (never a throw on a remote's data).
int64_t IdNumber(const std::string& id) {
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(id);
}

// Keeps in `kept` the payment of the highest id: an invoice's latest attempt.
void KeepLatest(Json& kept, const Json& payment) {
  if (kept.is_null() || IdNumber(payment["id"].as_string()) > IdNumber(kept["id"].as_string()))
    kept = payment;
}

// The invoice and payment kinds' cursor: the last id seen, then, for payments, ";" and the
// ids of those still processing.
struct IdCursor {
  std::string last;
  std::vector<std::string> watched;
};

Result<IdCursor> ParseIdCursor(const std::string& text) {
  IdCursor c;
  const auto semi = text.find(';');
  c.last = text.substr(0, semi);
  if (!c.last.empty() && IdNumber(c.last) < 0)
    return Status::InvalidArgument("gotransverse poll cursor '" + text + "': not an id");
  if (semi == std::string::npos) return c;
  if (c.last.empty())
    return Status::InvalidArgument("gotransverse poll cursor '" + text + "': no last id");
  std::stringstream list(text.substr(semi + 1));
  for (std::string id; std::getline(list, id, ',');) {
    if (IdNumber(id) < 0)
      return Status::InvalidArgument("gotransverse poll cursor '" + text + "': not an id");
    c.watched.push_back(id);
  }
  return c;
}

std::string FormatIdCursor(const IdCursor& c) {
  std::string out = c.last.empty() ? "0" : c.last;  // "0": nothing yet, every later one is new
  for (size_t i = 0; i < c.watched.size(); ++i) out += (i ? "," : ";") + c.watched[i];
  return out;
}

// The invoice with `payment` (its latest) attached, as Stripe's invoice names its charge.
void Attach(Invoice& in, const Json& payment) {
  if (payment.is_null()) return;
  in.payment = PaymentFromJson(payment);
  in.charge_id = in.payment->id;
}

}  // namespace

// ---------------------------------------------------------------- invoices and payments

Status GtvBilling::ListInvoices(const std::string& account_id,
                                const std::function<Status(const Invoice&)>& on_invoice) {
  if (!account_id.empty())  // an account's balance: amounts only
    return ListAll(std::string(P::kInvoices) + "?" + Query({{"billing_account_id", account_id}}),
                   [&](const Json& i) { return on_invoice(InvoiceFromJson(i)); });
  // Every invoice (reconciliation): with its latest payment, as Stripe's invoice names its
  // charge. GTV's invoice does not, so the payments are read first, in one scan.
  std::map<std::string, Json> latest;  // invoice id → its latest payment
  TANDEM_RETURN_IF_ERROR(ListAll(P::kPayments, [&](const Json& p) {
    KeepLatest(latest[p["invoice"]["id"].as_string()], p);
    return Status::Ok();
  }));
  return ListAll(P::kInvoices, [&](const Json& i) {
    Invoice in = InvoiceFromJson(i);
    if (auto p = latest.find(in.id); p != latest.end()) Attach(in, p->second);
    return on_invoice(in);
  });
}

Result<Invoice> GtvBilling::GetInvoice(const std::string& id) {
  auto i = Get(P::Invoice(id));
  if (!i.ok()) return i.status();
  Invoice in = InvoiceFromJson(*i);
  Json latest;
  TANDEM_RETURN_IF_ERROR(
      ListAll(std::string(P::kPayments) + "?" + Query({{"invoice_id", id}}), [&](const Json& p) {
        KeepLatest(latest, p);
        return Status::Ok();
      }));
  Attach(in, latest);
  return in;
}

Result<Payment> GtvBilling::GetPayment(const std::string& id) {
  auto p = Get(P::Payment(id));
  if (!p.ok()) return p.status();
  return PaymentFromJson(*p);
}

Status GtvBilling::ListPayments(const std::string& account_id,
                                const std::function<Status(const Payment&)>& on_payment) {
  return ListAll(std::string(P::kPayments) + "?" + Query({{"billing_account_id", account_id}}),
                 [&](const Json& p) { return on_payment(PaymentFromJson(p)); });
}

Status GtvBilling::ListInvoicePayments(const Invoice& invoice,
                                       const std::function<Status(const Payment&)>& on_payment) {
  return ListAll(std::string(P::kPayments) + "?" + Query({{"invoice_id", invoice.id}}),
                 [&](const Json& p) { return on_payment(PaymentFromJson(p)); });
}

// ---------------------------------------------------------------- notifications

Result<BillingEvent> GtvBilling::VerifyWebhook(const std::string& payload, const std::string& token,
                                               int64_t now_epoch_s) const {
  (void)now_epoch_s;  // GTV's notifications carry no timestamp: the event id deduplicates
  const std::string& want = options_.notification_token;
  if (want.empty() || token.size() != want.size() ||
      CRYPTO_memcmp(token.data(), want.data(), want.size()) != 0)
    return Status::Unauthenticated("gotransverse notification: bad or missing X-Tandem-Token");
  return ParseEvent(payload);
}

Result<BillingEvent> GtvBilling::ParseEvent(const std::string& payload) const {
  auto j = Json::Parse(payload);
  if (!j.ok()) return Status::InvalidArgument("gotransverse notification: " + j.status().message());
  BillingEvent e;
  e.raw_type = (*j)["type"].as_string();
  e.object_id = (*j)["id"].ToText();
  e.account_id = (*j)["billing_account_id"].ToText();
  if (e.raw_type.empty() || e.object_id.empty())
    return Status::InvalidArgument("gotransverse notification: needs \"type\" and \"id\"");
  e.object = *j;
  const Json* object = j->Find("object");
  if (!object || !object->is_object()) {
    // GTV's HTTP notification: its payload is the operator's template, not GTV's data. It says
    // only that something changed; the next poll reads what.
    e.type = BillingEvent::Type::kPollHint;
    e.id = "gtv-hint:" + e.raw_type + ":" + e.object_id + ":" +
           std::to_string(ToEpochMillis(clock_.Now()));  // each arrival hints anew
    if (e.raw_type == "payment.refunded") {
      // A refund changes a payment already polled, which no listing shows again: the hint
      // names the payment, and applying it reads the payment and its invoice from GTV (the
      // notification's data is still not trusted).
      e.type = BillingEvent::Type::kRefunded;
      e.payment.kind = Payment::Kind::kRefund;
      e.payment.payment_id = e.object_id;
      e.created = ToEpochMillis(clock_.Now()) / 1000;
    }
    return e;
  }
  e.id = (*j)["event_id"].as_string();
  using T = BillingEvent::Type;
  if (e.raw_type.rfind("invoice.", 0) == 0) {
    e.invoice = InvoiceFromJson(*object);
    e.type = e.invoice.status == "paid" ? T::kInvoicePaid : T::kInvoiceFinalized;
    e.created = e.invoice.created;
  } else if (e.raw_type.rfind("payment.", 0) == 0) {
    // A payment concerns its invoice: the invoice event, with the payment as GTV has it.
    e.invoice = InvoiceFromJson((*object)["invoice"]);
    e.invoice.payment = PaymentFromJson((*object)["payment"]);
    e.invoice.charge_id = e.invoice.payment->id;
    e.invoice.attempt_count = std::max(e.invoice.attempt_count, 1);  // this payment tried it
    e.object_id = e.invoice.id;
    const std::string& paid = e.invoice.payment->status;
    e.type = paid == "failed"      ? T::kInvoicePaymentFailed
             : paid == "succeeded" ? T::kInvoicePaid
                                   : T::kInvoiceFinalized;  // still processing: recorded only
    e.created = std::max(e.invoice.payment->created, (*object)["observed_at"].as_int());
  } else if (e.raw_type.rfind("service.", 0) == 0) {
    e.type = T::kSubscriptionChanged;  // object_id: the subscription (the order that made it)
    e.created = ParseTime((*object)["updated_on"].as_string());
  } else {
    e.type = T::kOther;
  }
  if (e.id.empty()) e.id = "gtv:" + e.raw_type + ":" + e.object_id;
  return e;
}

Result<std::map<std::string, Json>> GtvBilling::InvoicesOf(const std::vector<Json>& payments,
                                                           int64_t* reads) {
  std::map<std::string, Json> out;
  int64_t low = 0, high = 0;
  for (const Json& p : payments) {
    const std::string id = p["invoice"]["id"].as_string();
    if (IdNumber(id) < 0 || out.count(id)) continue;
    out[id] = Json();
    const int64_t n = IdNumber(id);
    low = low == 0 ? n : std::min(low, n);
    high = std::max(high, n);
  }
  // A bill run's payments name a run of consecutive invoices: one ranged listing reads them
  // (pages of 50). When they are scattered the range would read too much: one read each.
  if (!out.empty() && high - low < 10 * static_cast<int64_t>(out.size())) {
    const std::string range =
        "id GTE '" + std::to_string(low) + "' AND id LTE '" + std::to_string(high) + "'";
    TANDEM_RETURN_IF_ERROR(ListAll(
        std::string(P::kInvoices) + "?" + http::FormEncode({{"filter", range}}),
        [&](const Json& i) {
          if (auto it = out.find(i["id"].as_string()); it != out.end()) it->second = i;
          return Status::Ok();
        },
        reads));
  }
  for (auto& [id, invoice] : out) {
    if (!invoice.is_null()) continue;
    auto read = Get(P::Invoice(id));
    if (!read.ok()) return read.status();
    ++*reads;
    invoice = *read;
  }
  return out;
}

Result<PolledEvents> GtvBilling::PollEvents(const std::string& kind, const std::string& cursor) {
  PolledEvents out;
  out.cursor = cursor;
  auto event = [&](const std::string& type, const std::string& id, const std::string& account,
                   const std::string& event_id, Json object) -> Status {
    Json payload = Json::MakeObject();
    payload.Set("type", type);
    payload.Set("id", id);
    payload.Set("billing_account_id", account);
    payload.Set("event_id", event_id);
    payload.Set("object", std::move(object));
    auto parsed = ParseEvent(payload.Dump());
    if (!parsed.ok()) return parsed.status();
    parsed->object = payload;
    out.events.push_back(*parsed);
    return Status::Ok();
  };
  if (kind == "invoice" || kind == "payment") {
    const bool invoices = kind == "invoice";
    // GTV lists no change of a payment, and a PROCESSING one settles later: it is read again
    // each poll until it does (its settling is a new event, by its status).
    auto parsed_cursor = ParseIdCursor(cursor);
    if (!parsed_cursor.ok()) return parsed_cursor.status();
    const std::string last = parsed_cursor->last;
    const std::vector<std::string>& watched = parsed_cursor->watched;
    std::string newest = last;
    const std::string base = invoices ? P::kInvoices : P::kPayments;
    const std::string path =
        last.empty() ? base : base + "?" + http::FormEncode({{"filter", "id GT '" + last + "'"}});
    std::vector<Json> payments;
    Status listed = ListAll(
        path,
        [&](const Json& j) -> Status {
          const std::string id = j["id"].as_string();
          if (IdNumber(id) > (newest.empty() ? 0 : IdNumber(newest))) newest = id;
          if (last.empty()) return Status::Ok();  // the first poll starts from now
          if (!invoices) {
            payments.push_back(j);
            return Status::Ok();
          }
          return event("invoice." + Lower(j["status"].as_string()), id,
                       j["billing_account"]["id"].as_string(), "gtv:invoice:" + id, j);
        },
        &out.reads);
    if (!listed.ok()) return listed;
    // The watched, a bounded number a poll (the rest wait for the next). One that cannot be
    // read now is kept and read next time: it must not stop the poll of everything else.
    IdCursor next{newest, {}};
    std::set<std::string> reread;
    for (size_t i = 0; i < watched.size(); ++i) {
      if (i >= kWatchedPerPoll) {
        next.watched.push_back(watched[i]);
        continue;
      }
      auto again = Get(P::Payment(watched[i]));
      ++out.reads;
      if (again.status().IsNotFound()) continue;  // gone: nothing more will come of it
      if (!again.ok()) {
        log::Get("billing")->warn("gotransverse: payment {} not read again ({}); next poll",
                                  watched[i], again.status().ToString());
        next.watched.push_back(watched[i]);
        continue;
      }
      reread.insert(watched[i]);
      payments.push_back(*again);
    }
    // A payment's event carries its invoice: read them together, not one call a payment.
    auto paid = InvoicesOf(payments, &out.reads);
    if (!paid.ok()) return paid.status();
    const int64_t now_s = ToEpochMillis(clock_.Now()) / 1000;
    for (const Json& j : payments) {
      Json both = Json::MakeObject();
      both.Set("payment", j);
      both.Set("invoice", (*paid)[j["invoice"]["id"].as_string()]);
      const std::string id = j["id"].as_string();
      // Settled since it was first seen: as new as now, not as its own date (an invoice event
      // applied in between must not make it stale).
      if (reread.count(id)) both.Set("observed_at", now_s);
      const std::string raw = j["status"].as_string();
      if (raw == "PROCESSING") next.watched.push_back(id);
      TANDEM_RETURN_IF_ERROR(event("payment." + Lower(raw), id,
                                   j["billing_account"]["id"].as_string(),
                                   "gtv:payment:" + id + ":" + Lower(raw), both));
    }
    if (next.watched.size() > kMaxWatched) {
      log::Get("billing")->warn(
          "gotransverse: {} payments still processing; the oldest {} are left to reconcile",
          next.watched.size(), next.watched.size() - kMaxWatched);
      next.watched.erase(next.watched.begin(), next.watched.end() - static_cast<long>(kMaxWatched));
    }
    out.cursor = FormatIdCursor(next);
    return out;
  }
  if (kind == "service") {
    // updated_on of the last change seen; a minute back, for changes committed late.
    if (cursor.empty()) {
      // The first poll starts from now, reading nothing: changes made before are history (a
      // listing from now would replay those stamped in the same second).
      out.cursor = std::to_string(ToEpochMillis(clock_.Now()) / 1000);
      return out;
    }
    const int64_t since = std::max<int64_t>(0, std::atoll(cursor.c_str()) - 60);
    int64_t latest = std::atoll(cursor.c_str());
    Status listed = ListAll(
        std::string(P::kServices) + "?" +
            http::FormEncode(
                {{"filter", "updated_on GTE '" +
                                FormatRfc3339(FromEpochMillis(since * 1000)).substr(0, 19) +
                                "Z'"}}),
        [&](const Json& svc) -> Status {
          const std::string updated = svc["updated_on"].as_string();
          latest = std::max(latest, ParseTime(updated));
          // The subscription is the order that made the base service.
          std::string order = svc["order"]["id"].as_string();
          if (const std::string parent = svc["parent_service"]["id"].as_string(); !parent.empty()) {
            auto base = Get(P::Service(parent));
            if (!base.ok()) return base.status();
            order = (*base)["order"]["id"].as_string();
          }
          return event(
              "service.changed", order, svc["billing_account"]["id"].as_string(),
              // Its state, not only its time (GTV's stamps are to the second):
              // polled again unchanged it is the same event.
              "gtv:service:" + svc["id"].as_string() + ":" + StableHash(svc.Dump()).substr(0, 12),
              svc);
        },
        &out.reads);
    if (!listed.ok()) return listed;
    out.cursor = std::to_string(latest);
    return out;
  }
  return Status::InvalidArgument("gotransverse polls invoice, payment and service, not " + kind);
}

}  // namespace tandem::connector::billing::gtv
