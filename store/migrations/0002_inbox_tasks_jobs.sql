-- The webhook inbox (deduplicated by event id), the durable task queue, and long jobs
-- (migrations, catalog runs) with their checkpoints.

CREATE TABLE inbox (
  event_id    TEXT PRIMARY KEY,
  source      TEXT NOT NULL,
  type        TEXT NOT NULL,
  payload     TEXT NOT NULL,
  received_ms BIGINT NOT NULL,
  state       TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  last_error  TEXT
);

CREATE INDEX inbox_pending ON inbox (state, received_ms);

CREATE TABLE tasks (
  id            {{ID}},
  task_key      TEXT NOT NULL UNIQUE,
  group_id      TEXT NOT NULL,
  kind          TEXT NOT NULL,
  payload       TEXT NOT NULL,
  depends_on    TEXT,
  state         TEXT NOT NULL,
  attempts      INTEGER NOT NULL,
  max_attempts  INTEGER NOT NULL,
  next_run_ms   BIGINT NOT NULL,
  claimed_by    TEXT,
  lease_until_ms BIGINT,
  result        TEXT,
  last_error    TEXT,
  updated_ms    BIGINT NOT NULL
);

CREATE INDEX tasks_runnable ON tasks (state, next_run_ms);

CREATE INDEX tasks_by_group ON tasks (group_id);

CREATE TABLE jobs (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  state       TEXT NOT NULL,
  params      TEXT NOT NULL,
  total       BIGINT NOT NULL,
  processed   BIGINT NOT NULL,
  failed      BIGINT NOT NULL,
  checkpoint  TEXT,
  created_ms  BIGINT NOT NULL,
  updated_ms  BIGINT NOT NULL
);
