-- A release made with an Idempotency-Key remembers it, so a client that repeats the request
-- after a restart (when keel-once's in-process memory is gone) still gets the same release.
-- NULL keys (releases without one) do not collide: every engine treats NULLs as distinct in
-- a unique index. Keep in step with the other dialects.
ALTER TABLE cc_releases ADD COLUMN idempotency_key VARCHAR(128) NULL;
CREATE UNIQUE INDEX cc_releases_idempotency ON cc_releases (namespace_id, idempotency_key);
