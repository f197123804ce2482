-- The processes sharing this store (several `serve` on one PostgreSQL), each seen within the
-- last seconds: they split the remotes' limits (the billing rate, the CRM's concurrent
-- requests) between them, so N processes together stay within what one is allowed.

CREATE TABLE processes (
  id TEXT PRIMARY KEY,
  seen_ms BIGINT NOT NULL
);
