-- Step 7's matching index: the normalized keys (external id, e-mail, domain, name) of the
-- records on each side and of the source rows, per migration job. Kept in the store, not in
-- memory, so a migration of millions of rows runs in constant memory and resumes with it.

CREATE TABLE match_keys (
  job_id     TEXT NOT NULL,
  side       TEXT NOT NULL,
  match_key  TEXT NOT NULL,
  ref        TEXT NOT NULL,
  PRIMARY KEY (job_id, side, match_key, ref)
);
