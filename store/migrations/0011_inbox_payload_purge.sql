-- Billing event payloads hold customers' personal data (names, e-mails, addresses): once an
-- event is handled and past its retention, its payload is emptied and the time recorded. The
-- row stays, so a redelivery of the same event id is still recognised and not applied twice.

ALTER TABLE inbox ADD COLUMN purged_ms BIGINT;
