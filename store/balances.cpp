#include "store/balances.h"

#include "store/db.h"

namespace tandem::store {
namespace {

bool Owes(const InvoiceState& s) { return s.open && s.amount_remaining > 0; }

// REQUIRES: inside a transaction. A state older than the stored one changes nothing; an
// invoice that no longer owes keeps its row at 0 (so an older "open" cannot bring it back).
void ApplyState(soci::session& sql, const InvoiceState& s) {
  Exec(sql,
       "INSERT INTO open_invoices (invoice_id, billing_account, amount_remaining, currency, "
       "version) VALUES (:i, :a, :r, :c, :v) ON CONFLICT (invoice_id) DO UPDATE SET "
       "billing_account = excluded.billing_account, amount_remaining = "
       "excluded.amount_remaining, currency = excluded.currency, version = excluded.version "
       "WHERE open_invoices.version <= excluded.version",
       {Text(s.invoice_id), Text(s.billing_account), Int(Owes(s) ? s.amount_remaining : 0),
        Text(s.currency), Int(s.version)});
}

void MarkComplete(soci::session& sql, const std::string& account, int64_t now_ms) {
  Exec(sql,
       "INSERT INTO balance_accounts (billing_account, complete_ms) VALUES (:a, :n) "
       "ON CONFLICT (billing_account) DO NOTHING",
       {Text(account), Int(now_ms)});
}

}  // namespace

Result<std::map<std::string, Balance>> BalanceStore::KnownBalances(
    const std::vector<std::string>& accounts) {
  return pool_.With("known balances",
                    [&](soci::session& sql) -> Result<std::map<std::string, Balance>> {
                      std::map<std::string, Balance> out;
                      for (const Row& r : QueryInChunks(sql, accounts, {}, [](size_t n) {
                             return "SELECT billing_account FROM balance_accounts WHERE "
                                    "billing_account IN (" +
                                    InList(n) + ")";
                           }))
                        out[AsText(r[0])];
                      for (const Row& r : QueryInChunks(sql, accounts, {}, [](size_t n) {
                             return "SELECT billing_account, amount_remaining, currency FROM "
                                    "open_invoices WHERE amount_remaining > 0 AND "
                                    "billing_account IN (" +
                                    InList(n) + ") ORDER BY version, invoice_id";
                           })) {
                        auto it = out.find(AsText(r[0]));
                        if (it == out.end()) continue;  // not complete: listed first
                        it->second.owed += AsInt(r[1]);
                        it->second.currency = AsText(r[2]);
                      }
                      return out;
                    });
}

Status BalanceStore::ApplyInvoiceStates(const std::vector<InvoiceState>& states) {
  if (states.empty()) return Status::Ok();
  return pool_.With("apply invoice states", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    for (const auto& s : states) ApplyState(sql, s);
    tr.Commit();
    return Status::Ok();
  });
}

Status BalanceStore::ReplaceOpenInvoices(const std::string& account,
                                         const std::vector<InvoiceState>& open, int64_t version,
                                         int64_t now_ms) {
  return pool_.With("replace open invoices", [&](soci::session& sql) -> Status {
    Tx tr(sql, pool_.pg());
    Exec(sql, "DELETE FROM open_invoices WHERE billing_account = :a AND version <= :v",
         {Text(account), Int(version)});
    for (InvoiceState s : open) {
      s.billing_account = account;
      s.version = std::max(s.version, version);
      ApplyState(sql, s);
    }
    MarkComplete(sql, account, now_ms);
    tr.Commit();
    return Status::Ok();
  });
}

Status BalanceStore::MarkBalanceComplete(const std::string& account, int64_t now_ms) {
  return pool_.With("mark balance complete", [&](soci::session& sql) -> Status {
    MarkComplete(sql, account, now_ms);
    return Status::Ok();
  });
}

}  // namespace tandem::store
