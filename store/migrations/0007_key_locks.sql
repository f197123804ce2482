-- Key locks: one holder at a time looks up and then creates a record under a natural key, in
-- a billing system that keeps no idempotency keys (GTV). A row is a held key; a holder that
-- died frees it when `until_ms` passes, and a holder renews by locking again.

CREATE TABLE key_locks (
  lock_key  TEXT PRIMARY KEY,
  holder    TEXT NOT NULL,
  until_ms  BIGINT NOT NULL
);
