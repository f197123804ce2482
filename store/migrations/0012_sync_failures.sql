-- Records a sync could not bring to billing (billing refused or was down, the CRM record was
-- not valid, the link fields could not be written back), retried on a back-off schedule until
-- one succeeds or the give-up age passes. A record leaves the table when a sync succeeds.

CREATE TABLE sync_failures (
  object          TEXT NOT NULL,
  crm_id          TEXT NOT NULL,
  first_failed_ms BIGINT NOT NULL,
  last_failed_ms  BIGINT NOT NULL,
  attempts        INTEGER NOT NULL,
  next_retry_ms   BIGINT,          -- NULL: given up (listed, not retried)
  last_error      TEXT NOT NULL,
  PRIMARY KEY (object, crm_id)
);

CREATE INDEX sync_failures_due ON sync_failures (next_retry_ms);
