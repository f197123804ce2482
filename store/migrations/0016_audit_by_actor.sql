-- What one actor did, oldest first, paged by id: `tandem migrate undo JOB` walks the rows of
-- actor "migration:JOB" to find what that job created.
CREATE INDEX audit_by_actor ON audit (actor, id);
