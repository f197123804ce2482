#include "actions/callbacks.h"

#include "actions/billing_records.h"
#include "connector/billing/account_payload.h"
#include "util/log.h"

namespace tandem::actions {
namespace {

constexpr int kMaxAttempts = 5;

}  // namespace

Callbacks::Callbacks(ActionDeps deps, std::string account_map)
    : deps_(deps), account_map_(std::move(account_map)) {}

ReceiveResult Callbacks::Receive(const std::string& payload, const std::string& signature_header) {
  ReceiveResult r;
  const int64_t now = ToEpochMillis(deps_.clock.Now()) / 1000;
  auto event = deps_.billing.VerifyWebhook(payload, signature_header, now);
  if (!event.ok()) {
    r.http_status = event.status().IsUnauthenticated() ? 401 : 400;
    r.message = event.status().message();
    log::Get("actions.callbacks")->warn("webhook refused: {}", r.message);
    return r;
  }
  r.event_id = event->id;
  store::InboxEvent row{event->id,
                        deps_.billing.name(),
                        event->raw_type,
                        payload,
                        ToEpochMillis(deps_.clock.Now()),
                        "pending",
                        0,
                        ""};
  auto inserted = deps_.store.InsertInboxEvent(row);
  if (!inserted.ok()) {
    r.http_status = 503;  // the sender retries: nothing is lost
    r.message = inserted.status().ToString();
    return r;
  }
  r.duplicate = !*inserted;
  r.message = r.duplicate ? "duplicate, already received" : "stored";
  return r;
}

Result<ApplyReport> Callbacks::ApplyPending(int limit) {
  ApplyReport report;
  auto pending = deps_.store.PendingInboxEvents(limit);
  if (!pending.ok()) return pending.status();
  for (const auto& row : *pending) {
    auto event = deps_.billing.ParseEvent(row.payload);
    std::vector<store::CursorUpdate> applied_version;
    Status st = event.ok() ? Apply(*event, &report, &applied_version) : event.status();
    if (st.ok()) {
      // Done, and the object's applied version, in one transaction.
      TANDEM_RETURN_IF_ERROR(deps_.store.MarkInboxEvent(row.event_id, "done", "", applied_version,
                                                        ToEpochMillis(deps_.clock.Now())));
      continue;
    }
    ++report.failed;
    const bool last = row.attempts + 1 >= kMaxAttempts || !st.IsTransient();
    log::Get("actions.callbacks")
        ->warn("event {} ({}): {}{}", row.event_id, row.type, st.ToString(),
               last ? " — giving up" : " — will retry");
    TANDEM_RETURN_IF_ERROR(
        deps_.store.MarkInboxEvent(row.event_id, last ? "failed" : "pending", st.ToString()));
  }
  return report;
}

Status Callbacks::Apply(const connector::billing::BillingEvent& e, ApplyReport* report,
                        std::vector<store::CursorUpdate>* applied_version) {
  using T = connector::billing::BillingEvent::Type;
  const bool invoice = e.type == T::kInvoiceCreated || e.type == T::kInvoiceFinalized ||
                       e.type == T::kInvoicePaid || e.type == T::kInvoicePaymentFailed;
  if (e.type == T::kCatalogChanged) {
    if (on_catalog_changed_) on_catalog_changed_();
    ++report->applied;
    return Status::Ok();
  }
  if (e.type == T::kPollHint) {  // not trusted: it only makes the next poll come sooner
    if (on_poll_hint_) on_poll_hint_();
    ++report->applied;
    return Status::Ok();
  }
  const bool customer = e.type == T::kCustomerChanged || e.type == T::kCustomerDeleted;
  const bool money_back = e.type == T::kRefunded || e.type == T::kCreditNoteIssued;
  if (!invoice && !customer && !money_back && e.type != T::kSubscriptionChanged) {
    ++report->ignored_other;
    return Status::Ok();
  }
  // Order: an event older than what was applied to this object changes nothing.
  const std::string version_key = "event-version:" + e.object_id;
  auto applied = deps_.store.GetCursor(version_key);
  if (!applied.ok()) return applied.status();
  if (applied->has_value() && std::stoll(**applied) > e.created) {
    ++report->skipped_stale;
    return Status::Ok();
  }
  // Tandem's own writes come back as events: the CRM already holds that state. (A deletion
  // is never Tandem's.) Its version still counts, so an older event arriving after it is
  // skipped as stale.
  if ((e.type == T::kCustomerChanged || e.type == T::kSubscriptionChanged) &&
      e.idempotency_key.rfind("tandem:", 0) == 0) {
    ++report->ignored_own;
    applied_version->push_back({version_key, std::to_string(e.created)});
    return Status::Ok();
  }
  Status st = e.type == T::kSubscriptionChanged ? ApplySubscription(e, report)
              : money_back                      ? ApplyMoneyBack(e, report, applied_version)
                                                : ApplyAccount(e, invoice, report);
  if (!st.ok()) return st;
  applied_version->push_back({version_key, std::to_string(e.created)});
  return Status::Ok();
}

Status Callbacks::ApplySubscription(const connector::billing::BillingEvent& e,
                                    ApplyReport* report) {
  // Only the service inventory Tandem linked: a subscription made elsewhere has no record to
  // update (reconcile reports it as billed-not-recorded).
  auto link = deps_.store.FindLinkByBillingId("subscription", e.object_id);
  if (!link.ok()) return link.status();
  if (!link->has_value()) {
    ++report->ignored_other;
    return Status::Ok();
  }
  // Billing's state now (status, start, end, period, the billed quantity and amount: past due,
  // canceled by dunning, ended, changed in billing), read rather than taken from the event: a
  // late delivery must not undo what a work order wrote since. The subscription map writes
  // them beside what was sold (Quantity__c, Recurring_Amount__c stay the CRM's): a difference
  // is for `reconcile --object revenue` to count, not for an event to overwrite.
  auto now = deps_.billing.GetSubscription(e.object_id);
  if (!now.ok()) return now.status();
  const Json fields = SubscriptionStateFields(deps_.mapping.Find("subscription"), *now);
  if (fields.size() > 0)
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update(kSubscriptionObject, (*link)->crm_id, fields));
  ++report->applied;
  return Status::Ok();
}

Status Callbacks::ApplyAccount(const connector::billing::BillingEvent& e, bool invoice,
                               ApplyReport* report) {
  using T = connector::billing::BillingEvent::Type;
  auto link = deps_.store.FindLinkByBillingId(account_map_, e.account_id);
  if (!link.ok()) return link.status();
  if (!link->has_value()) {
    ++report->ignored_other;  // a customer Tandem does not know: nothing in the CRM to update
    return Status::Ok();
  }
  const std::string account_id = (*link)->crm_id;
  Json account_fields = Json::MakeObject();
  if (invoice) {
    const std::string currency = e.invoice.currency;
    // The payment row from the payment as billing has it now, not as the invoice implies: a
    // late or repeated invoice event must not turn a refunded payment back into Succeeded.
    connector::billing::Invoice in = e.invoice;
    if (!in.charge_id.empty() && !in.payment) {
      auto payment = deps_.billing.GetPayment(in.charge_id);
      if (!payment.ok()) return payment.status();
      in.payment = *payment;
    }
    auto saved = RecordInvoice(deps_.crm, in, account_id, e.created);
    if (!saved.ok()) return saved.status();
    if (e.type == T::kInvoicePaid) account_fields.Set("Billing_Status__c", "Active");
    if (e.type == T::kInvoicePaymentFailed) account_fields.Set("Billing_Status__c", "Delinquent");
    TANDEM_RETURN_IF_ERROR(SetBalance(e.account_id, currency, &account_fields));
  } else if (e.type == T::kCustomerDeleted) {
    // The account has no billing customer any more: say so, and drop the link so that the
    // next sync creates a new one instead of writing to a customer that is gone.
    account_fields.Set("Billing_Status__c", "Closed");
    if (const mapping::ObjectMap* map = deps_.mapping.Find(account_map_)) {
      const mapping::LinkFields& l = map->link;
      for (const std::string* f : {&l.billing_id, &l.account_number})
        if (!f->empty()) account_fields.Set(*f, Json());
      if (!l.status.empty()) account_fields.Set(l.status, "Not Synced");
      if (!l.error.empty())
        account_fields.Set(l.error, "billing customer " + e.account_id + " was deleted in billing");
    }
    TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Account", account_id, account_fields));
    TANDEM_RETURN_IF_ERROR(deps_.store.DeleteLinks(account_map_, {account_id}));
    ++report->applied;
    return Status::Ok();
  } else {
    // The fields the mapping says billing decides, as billing has them now (read, not taken
    // from the event, for the reason ApplySubscription gives).
    auto now = deps_.billing.GetAccount(e.account_id);
    if (!now.ok()) return now.status();
    if (const mapping::ObjectMap* map = deps_.mapping.Find(account_map_))
      account_fields =
          mapping::BillingDecidedFields(*map, connector::billing::AccountToPayload(*now));
    account_fields.Set("Billing_Status__c", now->delinquent ? "Delinquent" : "Active");
  }
  TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Account", account_id, account_fields));
  ++report->applied;
  return Status::Ok();
}

Status Callbacks::SetBalance(const std::string& billing_account, const std::string& currency,
                             Json* account_fields) {
  // The balance: what the customer's open invoices still ask for.
  int64_t owed = 0;
  Status listed =
      deps_.billing.ListInvoices(billing_account, [&](const connector::billing::Invoice& i) {
        if (i.status == "open") owed += i.amount_remaining;
        return Status::Ok();
      });
  if (!listed.ok()) return listed;
  account_fields->Set("Billing_Balance__c", MajorAmount(owed, currency));
  if (!currency.empty()) account_fields->Set("Billing_Currency__c", currency);
  return Status::Ok();
}

Status Callbacks::ApplyMoneyBack(const connector::billing::BillingEvent& e, ApplyReport* report,
                                 std::vector<store::CursorUpdate>* applied_version) {
  // The invoice the refund or credit note concerns: a refund names its payment only.
  std::string invoice_id = e.payment.invoice_id, customer = e.account_id;
  if (invoice_id.empty() && !e.payment.payment_id.empty() &&
      e.payment.kind == connector::billing::Payment::Kind::kRefund) {
    auto charge = deps_.billing.GetPayment(e.payment.payment_id);
    if (!charge.ok()) return charge.status();
    invoice_id = charge->invoice_id;
    customer = charge->account_id;
  }
  if (invoice_id.empty()) {
    ++report->ignored_other;  // a payment outside invoicing: there is no invoice to put it under
    return Status::Ok();
  }
  auto link = deps_.store.FindLinkByBillingId(account_map_, customer);
  if (!link.ok()) return link.status();
  if (!link->has_value()) {
    ++report->ignored_other;
    return Status::Ok();
  }
  // Billing's state now, whatever the event carried: the invoice (a credit note changed what it
  // asks for) and everything recorded against it. Rows are keyed by billing id, so a repeated
  // or late event writes the same rows again and an older one cannot undo a newer one.
  auto invoice = deps_.billing.GetInvoice(invoice_id);
  if (!invoice.ok()) return invoice.status();
  std::vector<connector::billing::Payment> payments;
  TANDEM_RETURN_IF_ERROR(
      deps_.billing.ListInvoicePayments(*invoice, [&](const connector::billing::Payment& p) {
        payments.push_back(p);
        return Status::Ok();
      }));
  const std::string account_id = (*link)->crm_id;
  auto saved = RecordInvoice(deps_.crm, *invoice, account_id, e.created, payments);
  if (!saved.ok()) return saved.status();
  Json account_fields = Json::MakeObject();
  TANDEM_RETURN_IF_ERROR(SetBalance(customer, invoice->currency, &account_fields));
  TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Account", account_id, account_fields));
  // The invoice record now holds billing's state as of this event: an older invoice event
  // delivered after it is stale (never moved back: a newer one may have been applied).
  const std::string version_key = "event-version:" + invoice_id;
  auto applied = deps_.store.GetCursor(version_key);
  if (!applied.ok()) return applied.status();
  if (!applied->has_value() || std::stoll(**applied) < e.created)
    applied_version->push_back({version_key, std::to_string(e.created)});
  ++report->applied;
  return Status::Ok();
}

}  // namespace tandem::actions
