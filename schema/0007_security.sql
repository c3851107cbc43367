-- Security fixes from the outside attack (issue 8).

-- A pending signup is bound to the request that chose its credentials: each signup request is
-- its own row with its own code, and no other request ever changes it. (Before, the latest
-- signup for a phone replaced the credentials of a pending one: a takeover.)
DROP TABLE signups;
CREATE TABLE signups (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    role TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    code_expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX signups_phone_role ON signups (phone, role, created_at);
CREATE INDEX signups_created ON signups (created_at);
DELETE FROM otp_codes WHERE purpose = 'signup';

-- Wrong codes are counted per (phone, client address): one address locking itself out never
-- blocks the phone's owner elsewhere.
DROP TABLE otp_failures;
CREATE TABLE otp_failures (
    phone TEXT NOT NULL,
    ip TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (phone, ip)
) STRICT;

-- Failed logins per (phone, role, client address), whether or not the account exists, so an
-- unknown phone behaves exactly like a known one. Five in a row lock that address out.
CREATE TABLE login_failures (
    phone TEXT NOT NULL,
    role TEXT NOT NULL,
    ip TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (phone, role, ip)
) STRICT;
CREATE INDEX login_failures_updated ON login_failures (updated_at);

-- Failures across all addresses for (phone, role): past a threshold each new attempt from an
-- address the account has not signed in from must wait a growing delay.
CREATE TABLE login_throttle (
    phone TEXT NOT NULL,
    role TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    next_allowed_at INTEGER NOT NULL,
    PRIMARY KEY (phone, role)
) STRICT;
CREATE INDEX login_throttle_last ON login_throttle (last_failure_at);

-- Addresses an account proved itself from (a login, a verified signup, a password reset): they
-- skip the account-wide slow-down, so a distributed guesser cannot keep the owner out.
CREATE TABLE trusted_addresses (
    user_id TEXT NOT NULL REFERENCES users (id),
    ip TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
) STRICT;

-- Idempotency keys are scoped to the session as well as the user.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    status INTEGER,
    content_type TEXT,
    body BLOB,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_id, idem_key)
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- A provider's calendar feed dies with them: blocking or deleting the account (by any path)
-- revokes the feed token.
CREATE TRIGGER users_end_calendar_feed AFTER UPDATE OF blocked, deleted_at ON users
WHEN NEW.blocked = 1 OR NEW.deleted_at IS NOT NULL
BEGIN
    DELETE FROM calendar_tokens WHERE provider_id = NEW.id;
END;
