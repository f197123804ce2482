-- What each billing account's open invoices still ask for, as billing events tell it, so the
-- balance the CRM shows needs no listing of the account's invoices per event. An account is in
-- balance_accounts once its set is complete: listed from billing once, or created by Tandem
-- (a new customer owes nothing). `version` (epoch s) orders writes about one invoice; one
-- that owes nothing any more keeps its row at 0, so an older state cannot bring it back.

CREATE TABLE balance_accounts (
  billing_account TEXT PRIMARY KEY,
  complete_ms     BIGINT NOT NULL
);

CREATE TABLE open_invoices (
  invoice_id       TEXT PRIMARY KEY,
  billing_account  TEXT NOT NULL,
  amount_remaining BIGINT NOT NULL,
  currency         TEXT NOT NULL,
  version          BIGINT NOT NULL
);
CREATE INDEX open_invoices_by_account ON open_invoices (billing_account);
