-- A record's history (`tandem history ID`): its audit rows whatever the object, newest first,
-- paged by id.
CREATE INDEX audit_by_record_id ON audit (record_id, id);
