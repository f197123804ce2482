-- The console's last hour: records synced (audit), tasks finished and billing events received,
-- counted per minute, read by time rather than by scanning the tables.

CREATE INDEX audit_by_time ON audit (at_ms);

CREATE INDEX tasks_by_update ON tasks (updated_ms);

CREATE INDEX inbox_by_received ON inbox (received_ms);
