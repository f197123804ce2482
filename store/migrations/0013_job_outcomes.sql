-- Per-record outcomes of a job an API caller polls (a sync of many ids answered 202): one row
-- per record, in the order of the request, kept with the job.

CREATE TABLE job_outcomes (
  job_id  TEXT NOT NULL,
  seq     BIGINT NOT NULL,
  outcome TEXT NOT NULL,   -- JSON, as the synchronous answer gives it
  PRIMARY KEY (job_id, seq)
);
