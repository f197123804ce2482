-- How many times each process has beaten: a process joining others waits for each of them to
-- beat twice after it joined (app/limit_share.h), counted here rather than by the peers'
-- clocks, which may disagree across hosts.

ALTER TABLE processes ADD COLUMN beats BIGINT NOT NULL DEFAULT 0;
