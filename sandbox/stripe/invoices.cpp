// Invoicing: invoice items, invoices (a bill run creates, finalizes and pays or fails them),
// charges, and the bill run itself.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

// The fields an invoice carries empty.
constexpr const char* kEmptyOnCreate[] = {"account_country",
                                          "account_name",
                                          "account_tax_ids",
                                          "application",
                                          "application_fee_amount",
                                          "charge",
                                          "custom_fields",
                                          "customer_address",
                                          "customer_phone",
                                          "customer_shipping",
                                          "default_payment_method",
                                          "default_source",
                                          "description",
                                          "discount",
                                          "due_date",
                                          "footer",
                                          "from_invoice",
                                          "last_finalization_error",
                                          "latest_revision",
                                          "next_payment_attempt",
                                          "on_behalf_of",
                                          "payment_intent",
                                          "quote",
                                          "receipt_number",
                                          "rendering_options",
                                          "shipping_cost",
                                          "shipping_details",
                                          "statement_descriptor",
                                          "tax",
                                          "test_clock",
                                          "transfer_data"};

// The fields of a draft invoice that do not depend on what it bills.
void SetDraftDefaults(value& in) {
  for (const char* k : kEmptyOnCreate) in[k] = value::null();
  in["amount_paid"] = value::number(0);
  in["amount_shipping"] = value::number(0);
  in["attempt_count"] = value::number(0);
  in["attempted"] = value::boolean(false);
  in["auto_advance"] = value::boolean(true);
  value tax = value::object();
  tax["enabled"] = value::boolean(false);
  tax["status"] = value::null();
  in["automatic_tax"] = tax;
  in["collection_method"] = value::string("charge_automatically");
  in["customer_tax_exempt"] = value::string("none");
  in["customer_tax_ids"] = value::array();
  in["default_tax_rates"] = value::array();
  in["discounts"] = value::array();
  in["effective_at"] = value::null();
  in["ending_balance"] = value::null();
  in["hosted_invoice_url"] = value::null();
  in["invoice_pdf"] = value::null();
  in["livemode"] = value::boolean(false);
  in["metadata"] = value::object();
  in["number"] = value::null();
  in["paid"] = value::boolean(false);
  in["paid_out_of_band"] = value::boolean(false);
  value ps = value::object();
  ps["default_mandate"] = value::null();
  ps["payment_method_options"] = value::null();
  ps["payment_method_types"] = value::null();
  in["payment_settings"] = ps;
  in["post_payment_credit_notes_amount"] = value::number(0);
  in["pre_payment_credit_notes_amount"] = value::number(0);
  in["starting_balance"] = value::number(0);
  value st = value::object();
  st["finalized_at"] = value::null();
  st["marked_uncollectible_at"] = value::null();
  st["paid_at"] = value::null();
  st["voided_at"] = value::null();
  in["status_transitions"] = st;
  in["status"] = value::string("draft");
  in["total_discount_amounts"] = value::array();
  in["total_tax_amounts"] = value::array();
  in["webhooks_delivered_at"] = value::null();
}

}  // namespace

value StripeSandbox::Impl::Charge(const value& invoice, bool succeed) {
  value ch = value::object();
  ch["id"] = value::string(NewId("ch"));
  ch["object"] = value::string("charge");
  ch["amount"] = invoice.at("amount_due");
  ch["amount_captured"] = succeed ? invoice.at("amount_due") : value::number(0);
  ch["amount_refunded"] = value::number(0);
  value bd = value::object();
  bd["address"] = value::null();
  bd["email"] = value::null();
  bd["name"] = value::null();
  bd["phone"] = value::null();
  ch["billing_details"] = bd;
  ch["captured"] = value::boolean(succeed);
  ch["created"] = value::number(Now());
  ch["currency"] = invoice.at("currency");
  ch["customer"] = invoice.at("customer");
  ch["description"] = value::null();
  ch["disputed"] = value::boolean(false);
  ch["failure_code"] = succeed ? value::null() : value::string("card_declined");
  ch["failure_message"] = succeed ? value::null() : value::string("Your card was declined.");
  ch["invoice"] = invoice.at("id");
  ch["livemode"] = value::boolean(false);
  ch["metadata"] = value::object();
  ch["paid"] = value::boolean(succeed);
  ch["refunded"] = value::boolean(false);
  ch["status"] = value::string(succeed ? "succeeded" : "failed");
  return ch;
}

bool StripeSandbox::Impl::Invoice(const std::string& customer, value* sub, bool succeed,
                                  const std::string& reason) {
  InvoiceLines bill;
  int64_t period_start = Now(), period_end = Now();
  const std::string invoice_id = NewId("in");
  if (sub) {
    period_start = sub->at("current_period_start").as_number().to_int64();
    period_end = sub->at("current_period_end").as_number().to_int64();
    AddSubscriptionLines(sub, period_start, period_end, &bill);
  }
  AddPendingItemLines(customer, sub, invoice_id, &bill);
  if (bill.lines.empty()) return false;
  value& stored =
      CreateDraftInvoice(invoice_id, customer, sub, bill, reason, period_start, period_end);
  FinalizeInvoice(stored, invoice_id);
  PayInvoice(stored, customer, sub, succeed, stored.at("amount_due").as_number().to_int64());
  if (sub) (*sub)["latest_invoice"] = value::string(invoice_id);
  return true;
}

void StripeSandbox::Impl::AddSubscriptionLines(const value* sub, int64_t period_start,
                                               int64_t period_end, InvoiceLines* out) {
  std::vector<value>& lines = out->lines;
  int64_t& total = out->total;
  std::string& currency = out->currency;
  for (const auto& item : sub->at("items").at("data").as_array()) {
    const value& price = item.at("price");
    const int64_t amount =
        price.at("unit_amount").as_number().to_int64() * item.at("quantity").as_number().to_int64();
    currency = price.at("currency").as_string();
    value line = value::object();
    line["id"] = value::string(NewId("il"));
    line["object"] = value::string("line_item");
    line["amount"] = value::number(amount);
    line["currency"] = value::string(currency);
    line["description"] =
        value::string(item.at("quantity").serialize() + " x " + price.at("product").as_string());
    line["discountable"] = value::boolean(true);
    line["livemode"] = value::boolean(false);
    line["metadata"] = value::object();
    value period = value::object();
    period["start"] = value::number(period_start);
    period["end"] = value::number(period_end);
    line["period"] = period;
    line["price"] = price;
    line["proration"] = value::boolean(false);
    line["quantity"] = item.at("quantity");
    line["subscription"] = sub->at("id");
    line["subscription_item"] = item.at("id");
    line["type"] = value::string("subscription");
    lines.push_back(line);
    total += amount;
  }
}

// Bills the customer's invoice items no invoice has taken yet (those of another subscription
// wait for its own invoice).
void StripeSandbox::Impl::AddPendingItemLines(const std::string& customer, const value* sub,
                                              const std::string& invoice_id, InvoiceLines* out) {
  std::vector<value>& lines = out->lines;
  int64_t& total = out->total;
  std::string& currency = out->currency;
  for (const auto& id : order["invoiceitem"]) {
    value* ii = Find("invoiceitem", id);
    if (!ii || !ii->at("invoice").is_null() || ii->at("customer").as_string() != customer) continue;
    if (sub && ii->at("subscription").is_string() &&
        ii->at("subscription").as_string() != sub->at("id").as_string())
      continue;
    (*ii)["invoice"] = value::string(invoice_id);
    const int64_t amount = ii->at("amount").as_number().to_int64();
    currency = ii->at("currency").as_string();
    value line = value::object();
    line["id"] = value::string(NewId("il"));
    line["object"] = value::string("line_item");
    line["amount"] = value::number(amount);
    line["currency"] = ii->at("currency");
    line["description"] = ii->at("description");
    line["discountable"] = value::boolean(true);
    line["invoice_item"] = ii->at("id");
    line["livemode"] = value::boolean(false);
    line["metadata"] = ii->at("metadata");
    line["period"] = ii->at("period");
    line["proration"] = value::boolean(false);
    line["quantity"] = value::number(1);
    line["type"] = value::string("invoiceitem");
    lines.push_back(line);
    total += amount;
  }
}

// Stores the invoice as a draft (invoice.created); returns the stored one.
value& StripeSandbox::Impl::CreateDraftInvoice(const std::string& invoice_id,
                                               const std::string& customer, const value* sub,
                                               const InvoiceLines& bill, const std::string& reason,
                                               int64_t period_start, int64_t period_end) {
  const std::vector<value>& lines = bill.lines;
  const int64_t total = bill.total;
  const std::string& currency = bill.currency;
  value* cust = Find("customer", customer);
  value in = value::object();
  in["id"] = value::string(invoice_id);
  in["object"] = value::string("invoice");
  SetDraftDefaults(in);
  // The customer's balance (negative: credit, e.g. from a credit note) goes to this invoice,
  // as Stripe applies it: amount_due = total + starting_balance, never below zero.
  const int64_t balance =
      cust && cust->at("balance").is_number() ? cust->at("balance").as_number().to_int64() : 0;
  const int64_t due = std::max<int64_t>(0, total + balance);
  in["amount_due"] = value::number(due);
  in["amount_remaining"] = value::number(due);
  in["billing_reason"] = value::string(reason);
  in["created"] = value::number(Now());
  in["currency"] = value::string(currency);
  in["customer"] = value::string(customer);
  // As Stripe does: the first invoice fixes the currency the customer is billed in.
  if (cust && cust->at("currency").is_null()) (*cust)["currency"] = value::string(currency);
  in["customer_email"] = cust ? cust->at("email") : value::null();
  in["customer_name"] = cust ? cust->at("name") : value::null();
  in["lines"] = List(lines, "/v1/invoices/" + invoice_id + "/lines", false);
  in["lines"]["total_count"] = value::number(static_cast<int64_t>(lines.size()));
  in["period_end"] = value::number(period_end);
  in["period_start"] = value::number(period_start);
  in["subscription"] = sub ? sub->at("id") : value::null();
  in["subtotal"] = value::number(total);
  in["subtotal_excluding_tax"] = value::number(total);
  in["total"] = value::number(total);
  in["total_excluding_tax"] = value::number(total);
  in["starting_balance"] = value::number(balance);
  Emit("invoice.created", Store("invoice", in));
  return *Find("invoice", invoice_id);
}

void StripeSandbox::Impl::FinalizeInvoice(value& stored, const std::string& invoice_id) {
  stored["status"] = value::string("open");
  stored["number"] = value::string("SBX-" + std::to_string(seq));
  stored["effective_at"] = value::number(Now());
  stored["status_transitions"]["finalized_at"] = value::number(Now());
  stored["hosted_invoice_url"] = value::string("https://invoice.stripe.com/i/" + invoice_id);
  stored["invoice_pdf"] = value::string("https://pay.stripe.com/invoice/" + invoice_id + "/pdf");
  // The balance it used is spent: what is left of it stays on the customer.
  const int64_t starting = stored.at("starting_balance").as_number().to_int64();
  const int64_t ending = starting + stored.at("total").as_number().to_int64() -
                         stored.at("amount_due").as_number().to_int64();
  stored["ending_balance"] = value::number(ending);
  if (value* c = Find("customer", stored.at("customer").as_string()); c && starting != ending) {
    value prev = value::object();
    prev["balance"] = c->at("balance");
    (*c)["balance"] = value::number(ending);
    Emit("customer.updated", *c, prev);
  }
  Emit("invoice.finalized", stored);
}

// Charges the invoice; a failed payment makes the customer delinquent and the subscription
// past due.
void StripeSandbox::Impl::PayInvoice(value& stored, const std::string& customer, value* sub,
                                     bool succeed, int64_t total) {
  stored["attempt_count"] = value::number(1);
  stored["attempted"] = value::boolean(true);
  value charge = Store("charge", Charge(stored, succeed || total == 0));
  stored["charge"] = charge.at("id");
  if (succeed || total == 0) {
    stored["status"] = value::string("paid");
    stored["paid"] = value::boolean(true);
    stored["amount_paid"] = value::number(total);
    stored["amount_remaining"] = value::number(0);
    stored["status_transitions"]["paid_at"] = value::number(Now());
    Emit("charge.succeeded", charge);
    Emit("invoice.paid", stored);
    Emit("invoice.payment_succeeded", stored);
  } else {
    Emit("charge.failed", charge);
    Emit("invoice.payment_failed", stored);
    if (value* c = Find("customer", customer); c && !c->at("delinquent").as_bool()) {
      (*c)["delinquent"] = value::boolean(true);
      value prev = value::object();
      prev["delinquent"] = value::boolean(false);
      Emit("customer.updated", *c, prev);
    }
    if (sub && sub->at("status").as_string() == "past_due") {
      // Dunning gives up on the next failure (Stripe's "cancel the subscription" setting
      // after the retries): the subscription ends now.
      value prev = value::object();
      prev["status"] = sub->at("status");
      (*sub)["status"] = value::string("canceled");
      (*sub)["canceled_at"] = value::number(Now());
      (*sub)["ended_at"] = value::number(Now());
      value details = value::object();
      details["reason"] = value::string("payment_failed");
      (*sub)["cancellation_details"] = details;
      Emit("customer.subscription.deleted", *sub, prev);
    } else if (sub) {
      (*sub)["status"] = value::string("past_due");
      value prev = value::object();
      prev["status"] = value::string("active");
      Emit("customer.subscription.updated", *sub, prev);
    }
  }
}

bool StripeSandbox::Impl::EndTrial(value* sub) {
  const value& end = sub->at("trial_end");
  if (!end.is_number() || end.as_number().to_int64() > Now()) return false;
  const int64_t start = end.as_number().to_int64();
  value prev = value::object();
  prev["status"] = sub->at("status");
  const value& price = sub->at("items").at("data").as_array().at(0).at("price");
  (*sub)["status"] = value::string("active");
  (*sub)["current_period_start"] = value::number(start);
  (*sub)["current_period_end"] = value::number(start + PeriodSeconds(price));
  Emit("customer.subscription.updated", *sub, prev);
  return true;
}

BillRunResult StripeSandbox::Impl::BillRunLocked(const std::string& customer,
                                                 const std::vector<std::string>& fail) {
  BillRunResult result;
  current_request_id.clear();
  current_idem_key.clear();
  std::set<std::string> billed;
  for (const auto& id : std::vector<std::string>(order["subscription"])) {
    value* sub = Find("subscription", id);
    if (!sub) continue;
    const std::string st = sub->at("status").as_string();
    const std::string cust = sub->at("customer").as_string();
    if (!customer.empty() && cust != customer) continue;
    const bool ok = std::find(fail.begin(), fail.end(), cust) == fail.end();
    if (st == "trialing") {
      // As Stripe does when the clock passes trial_end: active from then, its first period
      // invoiced.
      if (!EndTrial(sub)) continue;
      if (Invoice(cust, sub, ok, "subscription_cycle")) {
        ++result.invoices;
        ok ? ++result.paid : ++result.failed;
      }
      billed.insert(cust);
      continue;
    }
    if (st != "active" && st != "past_due") continue;
    // The next period: advance, then invoice it.
    const int64_t end = sub->at("current_period_end").as_number().to_int64();
    const value& price = sub->at("items").at("data").as_array().at(0).at("price");
    (*sub)["current_period_start"] = value::number(end);
    (*sub)["current_period_end"] = value::number(end + PeriodSeconds(price));
    if (Invoice(cust, sub, ok, "subscription_cycle")) {
      ++result.invoices;
      ok ? ++result.paid : ++result.failed;
    }
    billed.insert(cust);
  }
  // Pending one-time charges of customers without an active subscription.
  for (const auto& id : std::vector<std::string>(order["customer"])) {
    if (billed.count(id) || (!customer.empty() && id != customer)) continue;
    const bool ok = std::find(fail.begin(), fail.end(), id) == fail.end();
    if (Invoice(id, nullptr, ok, "manual")) {
      ++result.invoices;
      ok ? ++result.paid : ++result.failed;
    }
  }
  return result;
}

Reply Handler::InvoiceItems() {
  if (seg_.size() == 2 && method_ == "POST") return CreateInvoiceItem();
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer");
    return s_.ListOf("invoiceitem", p_, "/v1/invoiceitems", [&](const value& o) {
      return customer.empty() || o.at("customer").as_string() == customer;
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("invoiceitem", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::CreateInvoiceItem() {
  CheckKnown(p_, {"customer", "amount", "currency", "description", "subscription", "metadata",
                  "price", "quantity", "expand"});
  const std::string customer = Str(p_, "customer");
  if (customer.empty()) ThrowMissingParam("customer");
  if (!s_.Find("customer", customer)) return Missing("customer", customer);
  if (!Has(p_, "amount")) ThrowMissingParam("amount");
  if (Str(p_, "currency").empty()) ThrowMissingParam("currency");
  const std::string sub = Str(p_, "subscription");
  if (!sub.empty() && !s_.Find("subscription", sub)) return Missing("subscription", sub);
  value ii = s_.NewInvoiceItem(customer, sub, Int(p_, "amount"), Str(p_, "currency"),
                               Str(p_, "description"), false);
  ii["metadata"] = Metadata(p_);
  s_.Emit("invoiceitem.created", s_.Store("invoiceitem", ii));
  return Ok(ii);
}

value StripeSandbox::Impl::NewInvoiceItem(const std::string& customer, const std::string& sub,
                                          int64_t amount, std::string currency,
                                          const std::string& description, bool proration) {
  value ii = value::object();
  ii["id"] = value::string(NewId("ii"));
  ii["object"] = value::string("invoiceitem");
  ii["amount"] = value::number(amount);
  // Stripe keeps currencies in lower case, whatever case they were sent in.
  std::transform(currency.begin(), currency.end(), currency.begin(), ::tolower);
  ii["currency"] = value::string(currency);
  ii["customer"] = value::string(customer);
  ii["date"] = value::number(Now());
  ii["description"] = description.empty() ? value::null() : value::string(description);
  ii["discountable"] = value::boolean(!proration);
  ii["discounts"] = value::array();
  ii["invoice"] = value::null();
  ii["livemode"] = value::boolean(false);
  ii["metadata"] = value::object();
  value period = value::object();
  period["start"] = value::number(Now());
  period["end"] = value::number(Now());
  ii["period"] = period;
  ii["price"] = value::null();
  ii["proration"] = value::boolean(proration);
  ii["quantity"] = value::number(1);
  ii["subscription"] = sub.empty() ? value::null() : value::string(sub);
  ii["tax_rates"] = value::array();
  ii["test_clock"] = value::null();
  ii["unit_amount"] = value::number(amount);
  ii["unit_amount_decimal"] = value::string(std::to_string(amount));
  return ii;
}

void StripeSandbox::Impl::Prorate(const value& sub, const value& items_before,
                                  const std::string& behavior) {
  if (behavior == "none") return;  // create_prorations is Stripe's default
  const std::string status = sub.at("status").as_string();
  if (status != "active" && status != "past_due") return;
  const int64_t start = sub.at("current_period_start").as_number().to_int64();
  const int64_t end = sub.at("current_period_end").as_number().to_int64();
  const int64_t now = Now();
  if (end <= now || end <= start) return;
  // An item is unchanged when its id, price and quantity are: anything else is credited for
  // the unused rest of the period as it was, and charged for the rest as it is now.
  auto key = [](const value& item) {
    return item.at("id").as_string() + "|" + item.at("price").at("id").as_string() + "|" +
           std::to_string(item.at("quantity").as_number().to_int64());
  };
  auto keys = [&](const value& items) {
    std::set<std::string> out;
    for (const auto& item : items.at("data").as_array()) out.insert(key(item));
    return out;
  };
  const std::set<std::string> before = keys(items_before), after = keys(sub.at("items"));
  const std::string customer = sub.at("customer").as_string();
  const std::string sub_id = sub.at("id").as_string();
  auto prorate = [&](const value& item, int sign, const char* what) {
    const value& price = item.at("price");
    const int64_t qty = item.at("quantity").as_number().to_int64();
    const double share = static_cast<double>(end - now) / static_cast<double>(end - start);
    const int64_t amount =
        sign *
        std::llround(static_cast<double>(price.at("unit_amount").as_number().to_int64() * qty) *
                     share);
    value ii = NewInvoiceItem(customer, sub_id, amount, price.at("currency").as_string(),
                              std::string(what) + " time on " + std::to_string(qty) + " x " +
                                  price.at("product").as_string(),
                              true);
    ii["price"] = price;
    ii["quantity"] = value::number(qty);
    value period = value::object();
    period["start"] = value::number(now);
    period["end"] = value::number(end);
    ii["period"] = period;
    Emit("invoiceitem.created", Store("invoiceitem", ii));
  };
  for (const auto& item : items_before.at("data").as_array())
    if (!after.count(key(item))) prorate(item, -1, "Unused");
  for (const auto& item : sub.at("items").at("data").as_array())
    if (!before.count(key(item))) prorate(item, 1, "Remaining");
}

Reply Handler::Invoices() {
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer"), sub = Str(p_, "subscription"),
                      status = Str(p_, "status");
    return s_.ListOf("invoice", p_, "/v1/invoices", [&](const value& o) {
      return (customer.empty() || o.at("customer").as_string() == customer) &&
             (sub.empty() ||
              (o.at("subscription").is_string() && o.at("subscription").as_string() == sub)) &&
             (status.empty() || o.at("status").as_string() == status);
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("invoice", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::Charges() {
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer");
    return s_.ListOf("charge", p_, "/v1/charges", [&](const value& o) {
      return customer.empty() || o.at("customer").as_string() == customer;
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("charge", seg_[2]);
  return Missing("resource", url_);
}

}  // namespace tandem::sandbox::stripe
