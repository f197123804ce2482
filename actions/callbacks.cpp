#include "actions/callbacks.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "actions/billing_records.h"
#include "connector/billing/account_payload.h"
#include "util/log.h"
#include "util/parallel.h"

namespace tandem::actions {
namespace {

using connector::billing::BillingEvent;
using T = BillingEvent::Type;

constexpr int kMaxAttempts = 5;
constexpr size_t kPerCall = 200;  // records per Collections call (counted, not chunked, here)
// Threads a batch may use for billing reads in flight together: as many as billing's
// connection says (PreferredInFlight), up to this.
constexpr int kMaxCallsAtOnce = 16;
// How far Tandem's clock and billing's may differ (the balance listing's version, Balances).
constexpr std::chrono::seconds kClockMargin(60);

bool IsInvoiceEvent(T t) {
  return t == T::kInvoiceCreated || t == T::kInvoiceFinalized || t == T::kInvoicePaid ||
         t == T::kInvoicePaymentFailed || t == T::kInvoiceChanged;
}

std::string VersionKey(const std::string& object_id) { return "event-version:" + object_id; }

store::InvoiceState StateOf(const connector::billing::Invoice& in, const std::string& account,
                            int64_t version) {
  return store::InvoiceState{in.id,       account, in.status == "open", in.amount_remaining,
                             in.currency, version};
}

}  // namespace

// One ApplyPending run: the pending events, what each asks of the CRM, and each one's outcome.
// Events are planned oldest first, so the CRM fields they set merge in time order; the CRM
// writes then go out together.
class Callbacks::Batch {
 public:
  explicit Batch(Callbacks& owner) : owner_(owner), deps_(owner.deps_) {}

  Result<ApplyReport> Run(int limit) {
    auto pending = deps_.store.PendingInboxEvents(limit);
    if (!pending.ok()) return pending.status();
    if (pending->empty()) return report_;
    now_ms_ = ToEpochMillis(deps_.clock.Now());
    for (auto& row : *pending) {
      Item item;
      item.row = std::move(row);
      auto event = deps_.billing.ParseEvent(item.row.payload);
      if (event.ok())
        item.event = std::move(event).value();
      else
        item.status = event.status();
      items_.push_back(std::move(item));
    }
    std::vector<size_t> to_apply;
    TANDEM_RETURN_IF_ERROR(Screen(&to_apply));
    for (size_t i : to_apply) Plan(i);
    ReadPayments();
    TANDEM_RETURN_IF_ERROR(Balances());
    WriteInvoices();
    WriteUpdates("Account", accounts_);
    WriteUpdates(kSubscriptionObject, inventory_);
    TANDEM_RETURN_IF_ERROR(DropDeletedLinks());
    TANDEM_RETURN_IF_ERROR(Mark());
    return report_;
  }

 private:
  struct Item {
    store::InboxEvent row;
    BillingEvent event;
    Status status;                              // the first failure
    std::vector<store::CursorUpdate> versions;  // written with its "done"
    bool settled = false;                       // counted in the report already
  };
  // A CRM record the batch updates, and the events it carries.
  struct Update {
    Json fields = Json::MakeObject();
    std::vector<size_t> items;
  };
  struct InvoiceWrite {
    InvoiceRows rows;
    bool read_now = false;  // billing's state read in this batch, newer than any event's
    std::string crm_id;     // once upserted
    std::vector<size_t> items;
  };
  struct BalanceNeed {
    std::string crm_account;
    std::string currency;  // of the newest invoice seen
    std::vector<size_t> items;
  };

  void Fail(size_t i, const Status& st) {
    if (items_[i].status.ok()) items_[i].status = st;
  }
  void FailAll(const std::vector<size_t>& is, const Status& st) {
    for (size_t i : is) Fail(i, st);
  }
  void Settle(size_t i, int* counter) {
    items_[i].settled = true;
    ++*counter;
  }

  // Settles what needs no CRM write (stale, not ours, hints) and returns the rest, oldest
  // first (ties: in delivery order). Every one of them is planned, in that order: what they
  // write to one record merges, the newest last, so the record ends in the newest state and a
  // side effect of an older event (an invoice.paid's Active) is kept unless a newer one sets
  // it; the writes themselves go out once per record.
  Status Screen(std::vector<size_t>* to_apply) {
    bool catalog = false, poll = false;
    for (size_t i = 0; i < items_.size(); ++i) {
      if (!items_[i].status.ok()) continue;
      const BillingEvent& e = items_[i].event;
      if (e.type == T::kCatalogChanged || e.type == T::kPollHint) {
        (e.type == T::kCatalogChanged ? catalog : poll) = true;
        Settle(i, &report_.applied);
        continue;
      }
      const bool customer = e.type == T::kCustomerChanged || e.type == T::kCustomerDeleted;
      const bool money_back = e.type == T::kRefunded || e.type == T::kCreditNoteIssued;
      if (!IsInvoiceEvent(e.type) && !customer && !money_back &&
          e.type != T::kSubscriptionChanged) {
        Settle(i, &report_.ignored_other);
        continue;
      }
      // An event older than what was applied to its object changes nothing.
      auto applied = deps_.store.GetCursor(VersionKey(e.object_id));
      if (!applied.ok()) return applied.status();
      if (applied->has_value() && std::stoll(**applied) > e.created) {
        Settle(i, &report_.skipped_stale);
        continue;
      }
      to_apply->push_back(i);
    }
    if (catalog && owner_.on_catalog_changed_) owner_.on_catalog_changed_();
    if (poll && owner_.on_poll_hint_) owner_.on_poll_hint_();
    std::stable_sort(to_apply->begin(), to_apply->end(), [&](size_t a, size_t b) {
      return items_[a].event.created < items_[b].event.created ||
             (items_[a].event.created == items_[b].event.created && a < b);
    });
    return Status::Ok();
  }

  void Plan(size_t i) {
    const BillingEvent& e = items_[i].event;
    items_[i].versions.push_back({VersionKey(e.object_id), std::to_string(e.created)});
    // Tandem's own writes come back as events: the CRM already holds that state. (A deletion
    // is never Tandem's.) Its version still counts, so an older event after it is stale.
    if ((e.type == T::kCustomerChanged || e.type == T::kSubscriptionChanged) &&
        e.idempotency_key.rfind("tandem:", 0) == 0) {
      Settle(i, &report_.ignored_own);
      return;
    }
    if (e.type == T::kSubscriptionChanged) return PlanSubscription(i);
    if (e.type == T::kRefunded || e.type == T::kCreditNoteIssued) return PlanMoneyBack(i);
    auto account = CrmAccount(i, e.account_id);
    if (!account) return;
    if (IsInvoiceEvent(e.type)) return PlanInvoice(i, *account);
    if (e.type == T::kCustomerDeleted) return PlanDeletion(i, *account);
    PlanCustomerChange(i, *account);
  }

  // The CRM account linked to a billing account; settles the event (nothing to update) when
  // there is none, or when the customer was deleted by an earlier event of this batch.
  std::optional<std::string> CrmAccount(size_t i, const std::string& billing_account) {
    auto cached = links_.find(billing_account);
    if (cached == links_.end()) {
      auto link = deps_.store.FindLinkByBillingId(owner_.account_map_, billing_account);
      if (!link.ok()) {
        Fail(i, link.status());
        return std::nullopt;
      }
      cached = links_
                   .emplace(billing_account, link->has_value()
                                                 ? std::optional<std::string>((*link)->crm_id)
                                                 : std::nullopt)
                   .first;
    }
    if (!cached->second || deleted_.count(billing_account)) {
      Settle(i, &report_.ignored_other);  // a customer Tandem does not know (any more)
      return std::nullopt;
    }
    return cached->second;
  }

  Update& AccountUpdate(const std::string& crm_account, size_t i) {
    Update& u = accounts_[crm_account];
    u.items.push_back(i);
    return u;
  }

  void NeedBalance(const std::string& billing_account, const std::string& crm_account,
                   const std::string& currency, size_t i) {
    BalanceNeed& need = balances_[billing_account];
    need.crm_account = crm_account;
    if (!currency.empty()) need.currency = currency;
    need.items.push_back(i);
    AccountUpdate(crm_account, i);
  }

  void AddInvoice(const connector::billing::Invoice& in, InvoiceRows rows, bool read_now,
                  size_t i) {
    InvoiceWrite& w = invoices_[in.id];
    if (read_now || !w.read_now) {
      w.rows = std::move(rows);
      w.read_now = read_now;
    }
    w.items.push_back(i);
  }

  void PlanInvoice(size_t i, const std::string& crm_account) {
    const BillingEvent& e = items_[i].event;
    // A paid invoice's payment row from what the invoice says of it (the event names it
    // only): an event older than a refund applied since is stale by the invoice's version,
    // which the refund moved, so it cannot turn a refunded payment back into Succeeded. An
    // attempt on an unpaid invoice is read (ReadPayments): the invoice does not tell its date.
    AddInvoice(e.invoice, InvoiceRecords(e.invoice, crm_account, e.created), false, i);
    // Planned oldest first: the newest event of the invoice decides whether it is read.
    if (!e.invoice.charge_id.empty() && !e.invoice.payment && e.invoice.status != "paid")
      payment_reads_[e.invoice.id] = i;
    else
      payment_reads_.erase(e.invoice.id);
    states_.push_back(StateOf(e.invoice, e.account_id, e.created));
    Update& u = AccountUpdate(crm_account, i);
    if (e.type == T::kInvoicePaid) u.fields.Set("Billing_Status__c", "Active");
    if (e.type == T::kInvoicePaymentFailed) u.fields.Set("Billing_Status__c", "Delinquent");
    NeedBalance(e.account_id, crm_account, e.invoice.currency, i);
  }

  void PlanDeletion(size_t i, const std::string& crm_account) {
    // The account has no billing customer any more: say so, and drop the link so that the
    // next sync creates a new one instead of writing to a customer that is gone.
    const BillingEvent& e = items_[i].event;
    Update& u = AccountUpdate(crm_account, i);
    u.fields.Set("Billing_Status__c", "Closed");
    if (const mapping::ObjectMap* map = deps_.mapping.Find(owner_.account_map_)) {
      const mapping::LinkFields& l = map->link;
      for (const std::string* f : {&l.billing_id, &l.account_number})
        if (!f->empty()) u.fields.Set(*f, Json());
      if (!l.status.empty()) u.fields.Set(l.status, "Not Synced");
      if (!l.error.empty())
        u.fields.Set(l.error, "billing customer " + e.account_id + " was deleted in billing");
    }
    deleted_.insert(e.account_id);
    unlink_.push_back({crm_account, i});
  }

  void PlanCustomerChange(size_t i, const std::string& crm_account) {
    // The fields the mapping says billing decides, as billing has them now (read, not taken
    // from the event: a late delivery must not undo what a work order wrote since).
    const BillingEvent& e = items_[i].event;
    auto read = accounts_read_.find(e.account_id);  // one read per customer and batch
    if (read == accounts_read_.end())
      read = accounts_read_.emplace(e.account_id, deps_.billing.GetAccount(e.account_id)).first;
    const auto& now = read->second;
    if (!now.ok()) return Fail(i, now.status());
    Update& u = AccountUpdate(crm_account, i);
    if (const mapping::ObjectMap* map = deps_.mapping.Find(owner_.account_map_)) {
      const Json decided =
          mapping::BillingDecidedFields(*map, connector::billing::AccountToPayload(*now));
      for (const auto& [field, value] : decided.object()) u.fields.Set(field, value);
    }
    u.fields.Set("Billing_Status__c", now->delinquent ? "Delinquent" : "Active");
  }

  void PlanSubscription(size_t i) {
    const BillingEvent& e = items_[i].event;
    // Only the service inventory Tandem linked: a subscription made elsewhere has no record to
    // update (reconcile reports it as billed-not-recorded).
    auto link = deps_.store.FindLinkByBillingId("subscription", e.object_id);
    if (!link.ok()) return Fail(i, link.status());
    if (!link->has_value()) return Settle(i, &report_.ignored_other);
    // Billing's state now (status, start, end, period, the billed quantity and amount), read
    // rather than taken from the event, as for customers. The subscription map writes them
    // beside what was sold: a difference is for `reconcile --object revenue` to count.
    auto read = subscriptions_read_.find(e.object_id);  // one read per subscription and batch
    if (read == subscriptions_read_.end())
      read = subscriptions_read_.emplace(e.object_id, deps_.billing.GetSubscription(e.object_id))
                 .first;
    const auto& now = read->second;
    if (!now.ok()) return Fail(i, now.status());
    const Json fields = SubscriptionStateFields(deps_.mapping.Find("subscription"), *now);
    if (fields.size() == 0) return;
    Update& u = inventory_[(*link)->crm_id];
    for (const auto& [field, value] : fields.object()) u.fields.Set(field, value);
    u.items.push_back(i);
  }

  void PlanMoneyBack(size_t i) {
    const BillingEvent& e = items_[i].event;
    // The invoice the refund or credit note concerns: a refund names its payment only.
    std::string invoice_id = e.payment.invoice_id, customer = e.account_id;
    if (invoice_id.empty() && !e.payment.payment_id.empty() &&
        e.payment.kind == connector::billing::Payment::Kind::kRefund) {
      auto charge = deps_.billing.GetPayment(e.payment.payment_id);
      if (!charge.ok()) return Fail(i, charge.status());
      invoice_id = charge->invoice_id;
      customer = charge->account_id;
    }
    if (invoice_id.empty())  // a payment outside invoicing: no invoice to put it under
      return Settle(i, &report_.ignored_other);
    auto account = CrmAccount(i, customer);
    if (!account) return;
    // Billing's state now, whatever the event carried: the invoice (a credit note changed what
    // it asks for) and everything recorded against it. Rows are keyed by billing id, so a
    // repeated or late event writes the same rows again and cannot undo a newer one.
    auto invoice = deps_.billing.GetInvoice(invoice_id);
    if (!invoice.ok()) return Fail(i, invoice.status());
    std::vector<connector::billing::Payment> payments;
    Status listed =
        deps_.billing.ListInvoicePayments(*invoice, [&](const connector::billing::Payment& p) {
          payments.push_back(p);
          return Status::Ok();
        });
    if (!listed.ok()) return Fail(i, listed);
    AddInvoice(*invoice, InvoiceRecords(*invoice, *account, e.created, payments), true, i);
    // Billing's state now, versioned by billing's clock (the event's), as events are.
    states_.push_back(StateOf(*invoice, customer, e.created));
    NeedBalance(customer, *account, invoice->currency, i);
    // The invoice record now holds billing's state as of this event: an older invoice event
    // delivered after it is stale (never moved back: a newer one may have been applied).
    auto applied = deps_.store.GetCursor(VersionKey(invoice_id));
    if (!applied.ok()) return Fail(i, applied.status());
    if (!applied->has_value() || std::stoll(**applied) < e.created)
      items_[i].versions.push_back({VersionKey(invoice_id), std::to_string(e.created)});
  }

  // The payment attempts behind unpaid invoices, several reads at once; each invoice's rows
  // again with its payment as billing has it.
  void ReadPayments() {
    std::vector<size_t> reads;
    for (const auto& [invoice, i] : payment_reads_) reads.push_back(i);
    std::mutex mu;
    ParallelForLimited(
        reads.size(), kMaxCallsAtOnce, [&] { return deps_.billing.PreferredInFlight(); },
        [&](size_t k) {
          const size_t i = reads[k];
          connector::billing::Invoice in = items_[i].event.invoice;
          auto payment = deps_.billing.GetPayment(in.charge_id);
          std::lock_guard<std::mutex> lock(mu);
          InvoiceWrite& w = invoices_[in.id];
          if (!payment.ok()) return FailAll(w.items, payment.status());
          in.payment = *payment;
          if (!w.read_now) {
            const std::string crm_account = w.rows.invoice["Account__c"].as_string();
            w.rows = InvoiceRecords(in, crm_account, items_[i].event.created);
          }
        });
  }

  // Billing_Balance__c (what the open invoices still ask for) and Billing_Currency__c of every
  // account an event touched: from the events' data where the account's open invoices are
  // known, else from one listing of them, which then makes them known.
  Status Balances() {
    if (balances_.empty()) return Status::Ok();
    std::vector<std::string> accounts;
    for (const auto& [account, need] : balances_) accounts.push_back(account);
    auto known = deps_.store.KnownBalances(accounts);
    if (!known.ok()) return known.status();
    for (auto& [account, need] : balances_) {
      if (known->count(account)) continue;
      std::vector<store::InvoiceState> open;
      Status listed =
          deps_.billing.ListInvoices(account, [&](const connector::billing::Invoice& in) {
            open.push_back(StateOf(in, account, 0));
            return Status::Ok();
          });
      if (!listed.ok()) {
        FailAll(need.items, listed);
        continue;
      }
      ++listings_;
      // The listing is versioned by Tandem's clock less a margin, since events are versioned by
      // billing's: an event after the listing is never taken for an older one (at worst an
      // event from the last minute is applied over the listing, and a newer one follows).
      TANDEM_RETURN_IF_ERROR(deps_.store.ReplaceOpenInvoices(
          account, open, now_ms_ / 1000 - kClockMargin.count(), now_ms_));
    }
    TANDEM_RETURN_IF_ERROR(deps_.store.ApplyInvoiceStates(states_));
    known = deps_.store.KnownBalances(accounts);
    if (!known.ok()) return known.status();
    for (const auto& [account, need] : balances_) {
      auto it = known->find(account);
      if (it == known->end()) continue;  // its listing failed: the events stay pending
      const std::string currency = need.currency.empty() ? it->second.currency : need.currency;
      Json& fields = accounts_[need.crm_account].fields;
      fields.Set("Billing_Balance__c", MajorAmount(it->second.owed, currency));
      if (!currency.empty()) fields.Set("Billing_Currency__c", currency);
    }
    return Status::Ok();
  }

  // Saves `records` (each carrying its events) in one call: the CRM client sends its Collections
  // of 200 several at once (CrmClient::PreferredInFlight). `done(k, result)` sees each record's
  // result; a refused record, or a Collections call that failed, fails its record's events.
  void Save(const std::vector<Json>& records, const std::vector<const std::vector<size_t>*>& owners,
            const std::function<
                Result<std::vector<connector::crm::SaveResult>>(const std::vector<Json>&)>& call,
            const std::string& what,
            const std::function<void(size_t, const connector::crm::SaveResult&)>& done = nullptr) {
    if (records.empty()) return;
    auto saved = call(records);
    crm_calls_ += static_cast<int>((records.size() + kPerCall - 1) / kPerCall);
    for (size_t k = 0; k < records.size(); ++k) {
      if (!saved.ok()) {
        FailAll(*owners[k], saved.status());
        continue;
      }
      const auto& r = (*saved)[k];
      if (!r.success) FailAll(*owners[k], r.ToStatus(what));
      if (done) done(k, r);
    }
  }

  void WriteInvoices() {
    std::vector<Json> records;
    std::vector<const std::vector<size_t>*> owners;
    std::vector<InvoiceWrite*> writes;
    for (auto& [id, w] : invoices_) {
      Json r = w.rows.invoice;
      r.Set(kInvoiceKey, id);
      records.push_back(std::move(r));
      owners.push_back(&w.items);
      writes.push_back(&w);
    }
    Save(
        records, owners,
        [&](const std::vector<Json>& all) {
          return deps_.crm.UpsertMany(kInvoiceObject, kInvoiceKey, all);
        },
        kInvoiceObject,
        [&](size_t k, const connector::crm::SaveResult& r) {
          if (r.success) writes[k]->crm_id = r.id;
        });
    // Then each invoice's payments, refunds and credit notes, under the invoice's CRM id.
    records.clear();
    owners.clear();
    for (InvoiceWrite* w : writes) {
      if (w->crm_id.empty()) continue;
      for (auto& [payment_id, fields] : w->rows.payments) {
        Json r = fields;
        r.Set(kPaymentKey, payment_id);
        r.Set("Invoice__c", w->crm_id);
        records.push_back(std::move(r));
        owners.push_back(&w->items);
      }
    }
    Save(
        records, owners,
        [&](const std::vector<Json>& all) {
          return deps_.crm.UpsertMany(kPaymentObject, kPaymentKey, all);
        },
        kPaymentObject);
  }

  void WriteUpdates(const char* object, std::map<std::string, Update>& updates) {
    std::vector<Json> records;
    std::vector<const std::vector<size_t>*> owners;
    for (auto& [id, u] : updates) {
      if (u.fields.size() == 0) continue;
      Json r = u.fields;
      r.Set("Id", id);
      records.push_back(std::move(r));
      owners.push_back(&u.items);
    }
    Save(
        records, owners,
        [&](const std::vector<Json>& all) { return deps_.crm.UpdateMany(object, all); }, object);
  }

  // Links of customers deleted in billing whose Account says so now.
  Status DropDeletedLinks() {
    std::vector<std::string> crm_ids;
    std::vector<store::AuditEntry> audit;
    for (const auto& [crm_id, i] : unlink_) {
      if (!items_[i].status.ok()) continue;
      crm_ids.push_back(crm_id);
      // "unlinked": a later sync of the Account creates a new customer, not a replay of the
      // deleted one's create.
      audit.push_back(store::AuditEntry{now_ms_, "billing", owner_.account_map_, crm_id,
                                        "billing-deleted", "unlinked", items_[i].event.account_id});
    }
    if (crm_ids.empty()) return Status::Ok();
    return deps_.store.DeleteLinks(owner_.account_map_, crm_ids, audit);
  }

  // Each event done (with the versions it moved, in one transaction), or pending again, or
  // failed for good after kMaxAttempts or a failure retrying cannot mend.
  Status Mark() {
    std::vector<store::InboxMark> marks;
    auto logger = log::Get("actions.callbacks");
    for (Item& item : items_) {
      if (item.status.ok()) {
        if (!item.settled) ++report_.applied;
        marks.push_back({item.row.event_id, "done", "", std::move(item.versions)});
        continue;
      }
      ++report_.failed;
      const bool last = item.row.attempts + 1 >= kMaxAttempts || !item.status.IsTransient();
      logger->warn("event {} ({}): {}{}", item.row.event_id, item.row.type, item.status.ToString(),
                   last ? " — giving up" : " — will retry");
      marks.push_back({item.row.event_id, last ? "failed" : "pending", item.status.ToString(), {}});
    }
    KeepNewestVersions(&marks);
    logger->debug("applied {} events: {} CRM calls, {} invoice listings", items_.size(), crm_calls_,
                  listings_);
    return deps_.store.MarkInboxEvents(marks, now_ms_);
  }

  // Two events of the batch may move one version (an invoice's, by its own event and by a
  // refund's): only the newest is written, whatever the order the marks are written in.
  static void KeepNewestVersions(std::vector<store::InboxMark>* marks) {
    std::map<std::string, long long> newest;
    for (const auto& m : *marks)
      for (const auto& c : m.cursors) {
        auto [it, first] = newest.emplace(c.name, std::stoll(c.value));
        if (!first) it->second = std::max(it->second, std::stoll(c.value));
      }
    for (auto& m : *marks) {
      auto& cs = m.cursors;
      cs.erase(std::remove_if(cs.begin(), cs.end(),
                              [&](const store::CursorUpdate& c) {
                                auto it = newest.find(c.name);
                                if (it == newest.end() || std::stoll(c.value) != it->second)
                                  return true;
                                newest.erase(it);  // written once
                                return false;
                              }),
               cs.end());
    }
  }

  Callbacks& owner_;
  ActionDeps& deps_;
  int64_t now_ms_ = 0;
  ApplyReport report_;
  std::vector<Item> items_;
  std::map<std::string, std::optional<std::string>> links_;  // billing account → CRM account
  std::set<std::string> deleted_;                            // billing accounts
  std::map<std::string, InvoiceWrite> invoices_;             // by billing invoice id
  std::vector<store::InvoiceState> states_;
  std::map<std::string, BalanceNeed> balances_;  // by billing account
  std::map<std::string, Update> accounts_;       // by CRM account id
  std::map<std::string, Update> inventory_;      // by CRM service inventory id
  std::vector<std::pair<std::string, size_t>> unlink_;
  std::map<std::string, size_t> payment_reads_;  // invoice id → its event whose attempt is read
  std::map<std::string, Result<connector::billing::BillingAccount>> accounts_read_;
  std::map<std::string, Result<connector::billing::Subscription>> subscriptions_read_;
  int crm_calls_ = 0, listings_ = 0;
};

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

Result<ApplyReport> Callbacks::ApplyPending(int limit) { return Batch(*this).Run(limit); }

}  // namespace tandem::actions
