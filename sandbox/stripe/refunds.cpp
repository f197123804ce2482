// Money given back: refunds of a charge (charge.refunded, refund.created) and credit notes of
// a finalized invoice (credit_note.created, invoice.updated). A credit note on an open invoice
// (pre_payment) lowers what it asks for, and one that leaves nothing to pay marks it paid; on
// a paid invoice (post_payment) it gives back by refund, to the customer's balance (used by
// the next invoice) or outside Stripe, and those three must add up to its amount. Voiding one
// (credit_note.voided) undoes what it did, except what the sandbox cannot undo (a refund made,
// an invoice the credit paid): it refuses those.
#include <algorithm>

#include "sandbox/stripe/internal.h"

namespace tandem::sandbox::stripe {
namespace {

using Impl = StripeSandbox::Impl;

int64_t Num(const value& v, const std::string& key) {
  return v.has_field(key) && v.at(key).is_number() ? v.at(key).as_number().to_int64() : 0;
}

// "$12.34" as Stripe's messages show amounts.
std::string Money(int64_t minor) {
  const std::string cents = std::to_string(minor % 100);
  return "$" + std::to_string(minor / 100) + "." + (cents.size() < 2 ? "0" : "") + cents;
}

void CheckReason(const value& p, std::initializer_list<const char*> allowed) {
  if (!Has(p, "reason")) return;
  const std::string reason = Str(p, "reason");
  for (const char* a : allowed)
    if (reason == a) return;
  ThrowInvalid("reason",
               "Invalid reason: must be one of the documented values (got '" + reason + "')");
}

// A line of the credit note being made, from lines[i] (its amount and the object Stripe shows).
value CreditNoteLine(Impl& s, const value& spec, const value& invoice, size_t i) {
  const std::string where = "lines[" + std::to_string(i) + "]";
  const std::string type = Str(spec, "type");
  if (type.empty()) ThrowMissingParam(where + "[type]");
  int64_t quantity = Int(spec, "quantity", 1);
  int64_t unit = 0;
  value line = value::object();
  line["id"] = value::string(s.NewId("cnli"));
  line["object"] = value::string("credit_note_line_item");
  if (type == "invoice_line_item") {
    const std::string of = Str(spec, "invoice_line_item");
    if (of.empty()) ThrowMissingParam(where + "[invoice_line_item]");
    const value* billed = nullptr;
    for (const auto& l : invoice.at("lines").at("data").as_array())
      if (l.at("id").as_string() == of) billed = &l;
    if (!billed)
      ThrowInvalid(where + "[invoice_line_item]", "No such invoice line item: '" + of + "'");
    const int64_t billed_qty = std::max<int64_t>(1, Num(*billed, "quantity"));
    unit = Num(*billed, "amount") / billed_qty;
    if (!Has(spec, "quantity") && !Has(spec, "amount")) quantity = billed_qty;
    line["invoice_line_item"] = value::string(of);
    line["description"] = billed->at("description");
  } else if (type == "custom_line_item") {
    if (!Has(spec, "unit_amount")) ThrowMissingParam(where + "[unit_amount]");
    unit = Int(spec, "unit_amount");
    line["description"] =
        Has(spec, "description") ? value::string(Str(spec, "description")) : value::null();
  } else {
    ThrowInvalid(where + "[type]", "Invalid type: must be invoice_line_item or custom_line_item");
  }
  const int64_t amount = Has(spec, "amount") ? Int(spec, "amount") : unit * quantity;
  if (amount <= 0 || quantity <= 0)
    ThrowInvalid(where, "A credit note line must credit a positive amount");
  line["amount"] = value::number(amount);
  line["amount_excluding_tax"] = value::number(amount);
  line["discount_amount"] = value::number(0);
  line["discount_amounts"] = value::array();
  line["livemode"] = value::boolean(false);
  line["quantity"] = value::number(quantity);
  line["tax_amounts"] = value::array();
  line["tax_rates"] = value::array();
  line["type"] = value::string(type);
  line["unit_amount"] = value::number(unit);
  line["unit_amount_decimal"] = value::string(std::to_string(unit));
  line["unit_amount_excluding_tax"] = value::string(std::to_string(unit));
  return line;
}

}  // namespace

value StripeSandbox::Impl::Refund(value& charge, int64_t amount, const value& reason,
                                  const value& metadata) {
  value r = value::object();
  r["id"] = value::string(NewId("re"));
  r["object"] = value::string("refund");
  r["amount"] = value::number(amount);
  r["balance_transaction"] = value::string(NewId("txn"));
  r["charge"] = charge.at("id");
  r["created"] = value::number(Now());
  r["currency"] = charge.at("currency");
  r["metadata"] = metadata;
  r["payment_intent"] =
      charge.has_field("payment_intent") ? charge.at("payment_intent") : value::null();
  r["reason"] = reason;
  r["receipt_number"] = value::null();
  r["source_transfer_reversal"] = value::null();
  r["status"] = value::string("succeeded");  // card refunds succeed at once
  r["transfer_reversal"] = value::null();
  const int64_t refunded = Num(charge, "amount_refunded") + amount;
  charge["amount_refunded"] = value::number(refunded);
  charge["refunded"] = value::boolean(refunded >= Num(charge, "amount"));
  Emit("charge.refunded", charge);
  Emit("refund.created", Store("refund", r));
  return r;
}

Reply Handler::Refunds() {
  if (seg_.size() == 2 && method_ == "POST") return CreateRefund();
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string charge = Str(p_, "charge"), intent = Str(p_, "payment_intent");
    return s_.ListOf("refund", p_, "/v1/refunds", [&](const value& o) {
      return (charge.empty() || o.at("charge").as_string() == charge) &&
             (intent.empty() ||
              (o.at("payment_intent").is_string() && o.at("payment_intent").as_string() == intent));
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("refund", seg_[2]);
  return Missing("resource", url_);
}

Reply Handler::CreateRefund() {
  CheckKnown(
      p_, {"amount", "charge", "currency", "customer", "expand", "instructions_email", "metadata",
           "origin", "payment_intent", "reason", "refund_application_fee", "reverse_transfer"});
  CheckReason(p_, {"duplicate", "fraudulent", "requested_by_customer"});
  std::string charge_id = Str(p_, "charge");
  const std::string intent = Str(p_, "payment_intent");
  if (charge_id.empty() && intent.empty())
    return StripeError(400, "invalid_request_error", "parameter_missing",
                       "One of the following params should be provided for this request: "
                       "payment_intent or charge.");
  if (charge_id.empty()) {
    for (const auto& id : s_.order["charge"]) {
      const value* c = s_.Find("charge", id);
      if (c && c->has_field("payment_intent") && c->at("payment_intent").is_string() &&
          c->at("payment_intent").as_string() == intent)
        charge_id = id;
    }
    if (charge_id.empty()) return Missing("payment_intent", intent);
  }
  value* charge = s_.Find("charge", charge_id);
  if (!charge) return Missing("charge", charge_id);
  if (charge->at("status").as_string() != "succeeded")
    return StripeError(400, "invalid_request_error", "charge_not_refundable",
                       "Charge " + charge_id + " has not succeeded: there is nothing to refund.",
                       "charge");
  const int64_t left = Num(*charge, "amount") - Num(*charge, "amount_refunded");
  if (left <= 0)
    return StripeError(400, "invalid_request_error", "charge_already_refunded",
                       "Charge " + charge_id + " has already been refunded.", "charge");
  const int64_t amount = Has(p_, "amount") ? Int(p_, "amount") : left;  // none: the rest
  if (amount <= 0) ThrowInvalid("amount", "Invalid positive integer");
  if (amount > left)
    ThrowInvalid("amount", "Refund amount (" + Money(amount) +
                               ") is greater than unrefunded amount on charge (" + Money(left) +
                               ")");
  const value reason = Has(p_, "reason") ? value::string(Str(p_, "reason")) : value::null();
  return Ok(s_.Refund(*charge, amount, reason, Metadata(p_)));
}

Reply Handler::CreditNotes() {
  if (seg_.size() == 2 && method_ == "POST") return CreateCreditNote();
  if (seg_.size() == 2 && method_ == "GET") {
    const std::string customer = Str(p_, "customer"), invoice = Str(p_, "invoice");
    return s_.ListOf("credit_note", p_, "/v1/credit_notes", [&](const value& o) {
      return (customer.empty() || o.at("customer").as_string() == customer) &&
             (invoice.empty() || o.at("invoice").as_string() == invoice);
    });
  }
  if (seg_.size() == 3 && method_ == "GET") return Get("credit_note", seg_[2]);
  if (seg_.size() == 4 && seg_[3] == "void" && method_ == "POST") return VoidCreditNote();
  return Missing("resource", url_);
}

Reply Handler::VoidCreditNote() {
  CheckKnown(p_, {"expand"});
  value* cn = s_.Find("credit_note", seg_[2]);
  if (!cn) return Missing("credit_note", seg_[2]);
  if (cn->at("status").as_string() == "void")
    return StripeError(400, "invalid_request_error", "", "The credit note is already void.");
  value* invoice = s_.Find("invoice", cn->at("invoice").as_string());
  const bool pre_payment = cn->at("type").as_string() == "pre_payment";
  // What the sandbox cannot undo, it refuses: money refunded, or an invoice the credit paid.
  if (!cn->at("refund").is_null() || !invoice ||
      (pre_payment && invoice->at("status").as_string() != "open"))
    return StripeError(400, "invalid_request_error", "",
                       "This credit note can no longer be voided: it refunded money or its "
                       "invoice is no longer open.");
  const int64_t amount = Num(*cn, "amount");
  value prev = value::object();
  prev["amount_remaining"] = invoice->at("amount_remaining");
  if (pre_payment) {
    (*invoice)["pre_payment_credit_notes_amount"] =
        value::number(Num(*invoice, "pre_payment_credit_notes_amount") - amount);
    (*invoice)["amount_due"] = value::number(Num(*invoice, "amount_due") + amount);
    (*invoice)["amount_remaining"] = value::number(Num(*invoice, "amount_remaining") + amount);
  } else {
    (*invoice)["post_payment_credit_notes_amount"] =
        value::number(Num(*invoice, "post_payment_credit_notes_amount") - amount);
    // The balance credit it gave is taken back (the rest was outside Stripe).
    const int64_t credit = cn->at("customer_balance_transaction").is_null()
                               ? 0
                               : amount - Num(*cn, "out_of_band_amount");
    value* customer = s_.Find("customer", cn->at("customer").as_string());
    if (customer && credit > 0) {
      value was = value::object();
      was["balance"] = customer->at("balance");
      (*customer)["balance"] = value::number(Num(*customer, "balance") + credit);
      s_.Emit("customer.updated", *customer, was);
    }
  }
  (*cn)["status"] = value::string("void");
  (*cn)["voided_at"] = value::number(s_.Now());
  s_.Emit("credit_note.voided", *cn);
  s_.Emit("invoice.updated", *invoice, prev);
  return Ok(*cn);
}

Reply Handler::CreateCreditNote() {
  CheckKnown(
      p_, {"invoice", "amount", "credit_amount", "effective_at", "expand", "lines", "memo",
           "metadata", "out_of_band_amount", "reason", "refund", "refund_amount", "shipping_cost"});
  CheckReason(p_, {"duplicate", "fraudulent", "order_change", "product_unsatisfactory"});
  const std::string invoice_id = Str(p_, "invoice");
  if (invoice_id.empty()) ThrowMissingParam("invoice");
  value* invoice = s_.Find("invoice", invoice_id);
  if (!invoice) return Missing("invoice", invoice_id);
  const std::string status = invoice->at("status").as_string();
  if (status != "open" && status != "paid")
    return StripeError(400, "invalid_request_error", "invoice_not_editable",
                       "A credit note can only be issued for an open or paid invoice; " +
                           invoice_id + " is " + status + ".",
                       "invoice");
  // What it credits: its lines, or `amount` (both: they must agree).
  std::vector<value> lines;
  int64_t amount = 0;
  if (Has(p_, "lines")) {
    if (!p_.at("lines").is_array()) ThrowInvalid("lines", "Invalid array");
    const auto& specs = p_.at("lines").as_array();
    for (size_t i = 0; i < specs.size(); ++i) {
      lines.push_back(CreditNoteLine(s_, specs.at(i), *invoice, i));
      amount += Num(lines.back(), "amount");
    }
    if (Has(p_, "amount") && Int(p_, "amount") != amount)
      ThrowInvalid("amount", "The amount (" + Money(Int(p_, "amount")) +
                                 ") must equal the sum of the lines (" + Money(amount) + ")");
  } else if (Has(p_, "amount")) {
    amount = Int(p_, "amount");
  } else {
    return StripeError(400, "invalid_request_error", "parameter_missing",
                       "One of the following params should be provided for this request: "
                       "amount or lines.");
  }
  if (amount <= 0) ThrowInvalid("amount", "Invalid positive integer");
  const int64_t total = Num(*invoice, "total");
  const int64_t credited = Num(*invoice, "pre_payment_credit_notes_amount") +
                           Num(*invoice, "post_payment_credit_notes_amount");
  if (credited + amount > total)
    ThrowInvalid("amount", "The sum of credit notes (" + Money(credited + amount) +
                               ") cannot exceed the invoice total (" + Money(total) + ")");
  const bool pre_payment = status == "open";
  const int64_t refund_amount = Int(p_, "refund_amount"), credit_amount = Int(p_, "credit_amount"),
                out_of_band = Int(p_, "out_of_band_amount");
  value* refund = nullptr;
  value* charge = nullptr;
  if (pre_payment) {
    if (amount > Num(*invoice, "amount_remaining"))
      ThrowInvalid("amount", "The credit note amount (" + Money(amount) +
                                 ") cannot exceed the amount remaining on the invoice (" +
                                 Money(Num(*invoice, "amount_remaining")) + ")");
    for (const char* paid_only : {"refund_amount", "credit_amount", "refund", "out_of_band_amount"})
      if (Has(p_, paid_only))
        ThrowInvalid(paid_only, std::string(paid_only) + " can only be set for a paid invoice");
  } else {
    // Post-payment: how it gives back must be said in full (API 2019-12-03 and later).
    if (invoice->at("charge").is_string())
      charge = s_.Find("charge", invoice->at("charge").as_string());
    int64_t linked = 0;
    if (Has(p_, "refund")) {
      refund = s_.Find("refund", Str(p_, "refund"));
      if (!refund) return Missing("refund", Str(p_, "refund"));
      if (!charge || refund->at("charge").as_string() != charge->at("id").as_string())
        ThrowInvalid("refund", "The refund must be of the invoice's charge");
      linked = Num(*refund, "amount");
    }
    if (refund_amount + linked + credit_amount + out_of_band != amount)
      ThrowInvalid("amount",
                   "The sum of refund_amount, refund, credit_amount and "
                   "out_of_band_amount (" +
                       Money(refund_amount + linked + credit_amount + out_of_band) +
                       ") must equal the credit note amount (" + Money(amount) + ")");
    if (refund_amount > 0) {
      if (!charge || refund_amount > Num(*charge, "amount") - Num(*charge, "amount_refunded"))
        ThrowInvalid("refund_amount", "The invoice's payment has less than " +
                                          Money(refund_amount) + " left to refund");
    }
  }
  const std::string id = s_.NewId("cn");
  int64_t sequence = 1;
  for (const auto& other : s_.order["credit_note"])
    if (const value* o = s_.Find("credit_note", other))
      if (o->at("invoice").as_string() == invoice_id) ++sequence;
  value cn = value::object();
  cn["id"] = value::string(id);
  cn["object"] = value::string("credit_note");
  cn["amount"] = value::number(amount);
  cn["amount_shipping"] = value::number(0);
  cn["created"] = value::number(s_.Now());
  cn["currency"] = invoice->at("currency");
  cn["customer"] = invoice->at("customer");
  cn["customer_balance_transaction"] = value::null();
  cn["discount_amount"] = value::number(0);
  cn["discount_amounts"] = value::array();
  cn["effective_at"] = value::number(Has(p_, "effective_at") ? Int(p_, "effective_at") : s_.Now());
  cn["invoice"] = value::string(invoice_id);
  cn["lines"] = List(lines, "/v1/credit_notes/" + id + "/lines", false);
  cn["lines"]["total_count"] = value::number(static_cast<int64_t>(lines.size()));
  cn["livemode"] = value::boolean(false);
  cn["memo"] = Has(p_, "memo") ? value::string(Str(p_, "memo")) : value::null();
  cn["metadata"] = Metadata(p_);
  const std::string seq = std::to_string(sequence);
  cn["number"] = value::string(
      (invoice->at("number").is_string() ? invoice->at("number").as_string() : invoice_id) +
      "-CN-" + (seq.size() < 2 ? "0" : "") + seq);
  cn["out_of_band_amount"] =
      Has(p_, "out_of_band_amount") ? value::number(out_of_band) : value::null();
  cn["pdf"] = value::string("https://pay.stripe.com/credit_notes/" + id + "/pdf");
  cn["reason"] = Has(p_, "reason") ? value::string(Str(p_, "reason")) : value::null();
  cn["refund"] = refund ? refund->at("id") : value::null();
  cn["shipping_cost"] = value::null();
  cn["status"] = value::string("issued");
  cn["subtotal"] = value::number(amount);
  cn["subtotal_excluding_tax"] = value::number(amount);
  cn["tax_amounts"] = value::array();
  cn["total"] = value::number(amount);
  cn["total_excluding_tax"] = value::number(amount);
  cn["type"] = value::string(pre_payment ? "pre_payment" : "post_payment");
  cn["voided_at"] = value::null();
  // What it does to the invoice, the charge and the customer.
  if (pre_payment) {
    (*invoice)["pre_payment_credit_notes_amount"] =
        value::number(Num(*invoice, "pre_payment_credit_notes_amount") + amount);
    (*invoice)["amount_due"] = value::number(Num(*invoice, "amount_due") - amount);
    (*invoice)["amount_remaining"] = value::number(Num(*invoice, "amount_remaining") - amount);
  } else {
    (*invoice)["post_payment_credit_notes_amount"] =
        value::number(Num(*invoice, "post_payment_credit_notes_amount") + amount);
    if (refund_amount > 0)
      cn["refund"] = s_.Refund(*charge, refund_amount, value::null(), value::object()).at("id");
    if (credit_amount > 0) {
      value* customer = s_.Find("customer", invoice->at("customer").as_string());
      if (customer) {
        value prev = value::object();
        prev["balance"] = customer->at("balance");
        (*customer)["balance"] = value::number(Num(*customer, "balance") - credit_amount);
        cn["customer_balance_transaction"] = value::string(s_.NewId("cbtxn"));
        s_.Emit("customer.updated", *customer, prev);
      }
    }
  }
  s_.Emit("credit_note.created", s_.Store("credit_note", cn));
  value prev = value::object();
  prev["amount_remaining"] =
      value::number(Num(*invoice, "amount_remaining") + (pre_payment ? amount : 0));
  s_.Emit("invoice.updated", *invoice, prev);
  // Nothing left to pay: the open invoice is paid by the credit.
  if (pre_payment && Num(*invoice, "amount_remaining") == 0) {
    (*invoice)["status"] = value::string("paid");
    (*invoice)["paid"] = value::boolean(true);
    (*invoice)["status_transitions"]["paid_at"] = value::number(s_.Now());
    s_.Emit("invoice.paid", *invoice);
  }
  return Ok(cn);
}

}  // namespace tandem::sandbox::stripe
