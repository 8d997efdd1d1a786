-- Sign-in with an OpenID provider. A session started that way holds the roles the provider's
-- claims mapped to at sign-in (NULL for a local sign-in, which uses the account's own).
ALTER TABLE sessions ADD COLUMN roles TEXT;

-- A sign-in begun at a provider and not yet finished: keyed by the SHA-256 of its `state`,
-- bound to the browser that began it by the hash of a cookie only that browser holds, deleted
-- when the callback takes it and swept once expired. Not a projection: it records no change.
CREATE TABLE pending_logins (
    state_hash   TEXT   NOT NULL PRIMARY KEY,
    binding_hash TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);
