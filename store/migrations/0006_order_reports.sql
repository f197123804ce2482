-- What a work order owes the CRM: a task that finishes records, in its own transaction, that
-- its group's state must be written to the CRM. The worker clears the row once it has written
-- it; a row left behind (the process died between the task's result and the CRM write, or the
-- write failed) is picked up by any worker's sweep after a lease. `seq` grows with every task
-- that finishes, so a report read before a later task finished does not clear that task's row.

CREATE TABLE order_reports (
  group_id  TEXT PRIMARY KEY,
  seq       BIGINT NOT NULL,
  due_ms    BIGINT NOT NULL
);

CREATE INDEX order_reports_due ON order_reports (due_ms);
