-- Fenced leases: every claim of a task gets a new token, and completing, failing or renewing
-- the task must present the token of the claim that holds it. A worker whose lease ran out
-- (and whose task another worker claimed since) can no longer record a result.

ALTER TABLE tasks ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
