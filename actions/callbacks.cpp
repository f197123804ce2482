#include "actions/callbacks.h"

#include "actions/billing_records.h"
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
  if (!invoice && e.type != T::kCustomerChanged) {
    ++report->ignored_other;
    return Status::Ok();
  }
  // Tandem's own customer writes come back as events: the CRM already holds that state.
  if (e.type == T::kCustomerChanged && e.idempotency_key.rfind("tandem:", 0) == 0) {
    ++report->ignored_own;
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
    auto saved = RecordInvoice(deps_.crm, e.invoice, account_id, e.created);
    if (!saved.ok()) return saved.status();
    if (e.type == T::kInvoicePaid) account_fields.Set("Billing_Status__c", "Active");
    if (e.type == T::kInvoicePaymentFailed) account_fields.Set("Billing_Status__c", "Delinquent");
    // The balance: what the customer's open invoices still ask for.
    int64_t owed = 0;
    Status listed =
        deps_.billing.ListInvoices(e.account_id, [&](const connector::billing::Invoice& i) {
          if (i.status == "open") owed += i.amount_remaining;
          return Status::Ok();
        });
    if (!listed.ok()) return listed;
    account_fields.Set("Billing_Balance__c", MajorAmount(owed, currency));
    if (!currency.empty()) account_fields.Set("Billing_Currency__c", currency);
  } else {
    account_fields.Set("Billing_Status__c",
                       e.object["delinquent"].as_bool() ? "Delinquent" : "Active");
  }
  TANDEM_RETURN_IF_ERROR(deps_.crm.Update("Account", account_id, account_fields));
  applied_version->push_back({version_key, std::to_string(e.created)});
  ++report->applied;
  return Status::Ok();
}

}  // namespace tandem::actions
