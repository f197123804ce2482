-- Links between a CRM record and its billing counterpart, the audit trail, and cursors.
-- Dialect notes: {{ID}} becomes BIGSERIAL PRIMARY KEY (PostgreSQL) or INTEGER PRIMARY KEY
-- AUTOINCREMENT (SQLite). Times are BIGINT milliseconds since the epoch, UTC, on both.
-- Statements are separated by a line ending in ';'.

CREATE TABLE links (
  object         TEXT NOT NULL,
  crm_id         TEXT NOT NULL,
  billing_id     TEXT NOT NULL,
  account_number TEXT,
  content_hash   TEXT,
  updated_ms     BIGINT NOT NULL,
  PRIMARY KEY (object, crm_id)
);

CREATE UNIQUE INDEX links_by_billing_id ON links (object, billing_id);

CREATE TABLE audit (
  id         {{ID}},
  at_ms      BIGINT NOT NULL,
  actor      TEXT NOT NULL,
  object     TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  action     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  detail     TEXT
);

CREATE INDEX audit_by_record ON audit (object, record_id);

CREATE TABLE cursors (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_ms BIGINT NOT NULL
);
