// Bill runs, invoices and payments. Invoices and payments exist only through a bill run, as
// in GTV: one invoice per account and run for its active services' current periods (each
// then advances by its recurrence), pending one-time charges and adjustments; then an
// auto-payment that succeeds (invoice CLOSED) or fails (invoice stays OPEN; a second failed
// run puts the account in COLLECTION).
#include <algorithm>

#include "sandbox/gtv/internal.h"

namespace tandem::sandbox::gtv {
namespace {

using Impl = GtvSandbox::Impl;

value ProductRef(const value& product) {
  value p = Ref(Str(product, "id"));
  p["name"] = product.at("name");
  return p;
}

struct Lines {
  std::vector<value> items;
  int64_t total = 0;
};

void AddLine(Impl& s, Lines* out, value item, int64_t quantity, int64_t unit,
             const std::string& currency, const std::string& from, const std::string& to) {
  item["id"] = value::string(s.NewId("invoice-item"));
  item["quantity"] = value::number(quantity);
  item["unit_amount"] = Money(unit, currency);
  item["total_amount"] = Money(unit * quantity, currency);
  item["charge_start_date"] = value::string(from);
  item["charge_end_date"] = value::string(to);
  out->total += unit * quantity;
  out->items.push_back(std::move(item));
}

// The account's lines of this run; services' periods advance and charges become invoiced.
Lines Collect(Impl& s, const std::string& account_id, const std::string& currency,
              const std::string& invoice_id) {
  Lines lines;
  const std::string today = s.Today();
  for (auto& [n, service] : s.objects["service"]) {
    if (RefId(service, "billing_account") != account_id ||
        Str(service, "status") != "SERVICE_ACTIVE")
      continue;
    value& period = service["service_periods"][0];
    const std::string from = Str(period, "start_date"), to = Str(period, "end_date");
    value item = value::object();
    value sref = Ref(Str(service, "id"));
    sref["product"] = ProductRef(service.at("product"));
    item["service"] = sref;
    item["description"] = service.at("product").at("name");
    AddLine(s, &lines, item, service.at("quantity").as_number().to_int64(),
            MinorOf(service.at("amount")), currency, from, to);
    const std::string next = AddDays(to, 1);
    period["start_date"] = value::string(next);
    period["end_date"] = value::string(
        AddDays(AddMonths(next, PeriodMonths(Str(service, "recurrence_period"))), -1));
  }
  for (auto& [n, charge] : s.objects["one-time-charge"]) {
    if (RefId(charge, "billing_account") != account_id || charge.at("invoiced").as_bool()) continue;
    value item = value::object();
    item["service"] = value::null();
    item["product"] = charge.at("product");
    item["description"] = charge.at("product").at("name");
    AddLine(s, &lines, item, charge.at("quantity").as_number().to_int64(),
            MinorOf(charge.at("unit_amount")), currency, today, today);
    charge["invoiced"] = value::boolean(true);
    charge["invoice"] = Ref(invoice_id);
  }
  for (auto& [n, adj] : s.objects["adjustment"]) {
    if (RefId(adj, "billing_account") != account_id || adj.at("invoiced").as_bool()) continue;
    value item = value::object();
    item["service"] = Field(adj, "service") ? adj.at("service") : value::null();
    item["adjustment"] = Ref(Str(adj, "id"));
    item["description"] = adj.at("description");
    const int64_t sign = adj.at("credit").as_bool() ? -1 : 1;
    const std::string on = Str(adj, "occurred_on").substr(0, 10);
    AddLine(s, &lines, item, 1, sign * MinorOf(adj.at("amount")), currency, on, on);
    adj["invoiced"] = value::boolean(true);
    adj["invoice"] = Ref(invoice_id);
  }
  return lines;
}

}  // namespace

GtvBillRunResult Impl::BillRunLocked(const std::string& account_id,
                                     const std::vector<std::string>& fail,
                                     const std::vector<std::string>& hold) {
  Tick();
  GtvBillRunResult result;
  std::vector<std::string> accounts;
  for (const value* a : All("billing-account")) {
    const std::string status = Str(*a, "status");
    if ((account_id.empty() || Str(*a, "id") == account_id) &&
        (status == "ACTIVE" || status == "COLLECTION"))
      accounts.push_back(Str(*a, "id"));
  }
  for (const std::string& id : accounts) {
    value& account = Get("billing-account", id);
    const std::string currency = Str(account, "currency_code");
    const std::string invoice_id = NewId("invoice");
    Lines lines = Collect(*this, id, currency, invoice_id);
    if (lines.items.empty()) continue;
    value inv = value::object();
    inv["id"] = value::string(invoice_id);
    inv["invoice_num"] = value::string(std::to_string(2000000 + ++invoice_nums));
    inv["amount"] = Money(lines.total, currency);
    inv["occurred_on"] = value::string(NowStamp());
    const int64_t days = account.at("payment_term").at("days").as_number().to_int64();
    inv["due_date"] = value::string(AddDays(Today(), static_cast<int>(days)));
    inv["paid_date"] = value::null();
    inv["currency_code"] = value::string(currency);
    inv["billing_account"] = Ref(id);
    inv["invoice_items"] = Arr(lines.items);
    inv["pdf_url"] =
        value::string(front.base_url(options.host) + "/billing/2/invoices/" + invoice_id + "/pdf");
    ++result.invoices;
    const bool fails = std::find(fail.begin(), fail.end(), id) != fail.end();
    const bool held = std::find(hold.begin(), hold.end(), id) != hold.end();
    if (lines.total <= 0) {  // nothing to collect (credits cover it)
      inv["status"] = value::string("CLOSED");
      inv["amount_to_pay"] = Money(0, currency);
      inv["paid_date"] = value::string(Today());
      Store("invoice", inv);
      Notify("invoice.distributed", invoice_id, id);
      RefreshTotals(id);
      continue;
    }
    value pay = value::object();
    pay["id"] = value::string(NewId("payment"));
    pay["amount"] = Money(lines.total, currency);
    pay["occurred_on"] = value::string(NowStamp());
    pay["currency_code"] = value::string(currency);
    pay["billing_account"] = Ref(id);
    pay["invoice"] = Ref(invoice_id);
    pay["refunded_amount"] = Money(0, currency);
    pay["status"] = value::string("PROCESSING");
    pay["failure_reason"] = value::null();
    inv["status"] = value::string("OPEN");
    inv["amount_to_pay"] = Money(lines.total, currency);
    value& stored_inv = Store("invoice", inv);
    value& stored_pay = Store("payment", pay);
    Notify("invoice.distributed", invoice_id, id);
    if (!held) {
      Settle(stored_pay, stored_inv, account, !fails);
      ++(fails ? result.failed : result.paid);
    }
    account["updated_on"] = value::string(NowStamp());
    RefreshTotals(id);
  }
  return result;
}

void Impl::Settle(value& pay, value& inv, value& account, bool completed) {
  const std::string account_id = Str(account, "id");
  if (completed) {
    pay["status"] = value::string("COMPLETED");
    inv["status"] = value::string("CLOSED");
    inv["amount_to_pay"] = Money(0, Str(inv, "currency_code"));
    inv["paid_date"] = value::string(Today());
  } else {
    pay["status"] = value::string("PROCESSING_ERROR");
    pay["failure_reason"] = value::string("Payment declined by the gateway (sandbox)");
    if (++failed_runs[account_id] >= 2) account["status"] = value::string("COLLECTION");
  }
  account["updated_on"] = value::string(NowStamp());
  Notify(completed ? "payment.completed" : "payment.failed", Str(pay, "id"), account_id);
}

Reply Handler::Invoices() {
  if (seg_.size() == 1 && method_ == "GET") return List("invoice");
  if (seg_.size() < 2 || method_ != "GET") return NoRoute();
  const value& inv = s_.Get("invoice", seg_[1]);
  if (seg_.size() == 2) return Ok(inv);
  if (seg_.size() == 3 && seg_[2] == "pdf") {
    Reply r;
    r.content_type = "application/pdf";
    r.raw = "%PDF-1.4\n% GTV sandbox invoice " + Str(inv, "invoice_num") + " amount " +
            MoneyText(inv.at("amount")) + " " + Str(inv, "currency_code") + "\n%%EOF\n";
    return r;
  }
  return NoRoute();
}

Reply Handler::Payments() {
  if (seg_.size() == 1 && method_ == "GET") return List("payment");
  if (seg_.size() == 2 && method_ == "GET") return Ok(s_.Get("payment", seg_[1]));
  return NoRoute();
}

Status Impl::SettleLocked(const std::string& payment_id, bool completed) {
  Tick();
  value* pay = Find("payment", payment_id);
  if (!pay) return Status::NotFound("no payment " + payment_id);
  if (Str(*pay, "status") != "PROCESSING")
    return Status::Conflict("payment " + payment_id + " is not PROCESSING");
  const std::string account_id = RefId(*pay, "billing_account");
  Settle(*pay, Get("invoice", RefId(*pay, "invoice")), Get("billing-account", account_id),
         completed);
  RefreshTotals(account_id);
  return Status::Ok();
}

}  // namespace tandem::sandbox::gtv
