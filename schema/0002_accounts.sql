-- Accounts, one-time codes, sessions (token families), refresh tokens, revocations, audit log,
-- addresses, devices and notification settings. Instants are integer milliseconds (UTC).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('customer', 'provider', 'admin')),
    phone TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    blocked INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE UNIQUE INDEX users_phone_role ON users (phone, role);
CREATE UNIQUE INDEX users_email_role ON users (email, role) WHERE email IS NOT NULL;
CREATE INDEX users_created ON users (created_at, id);

-- A signup waits here until its phone is verified; the latest signup for (phone, role) wins.
CREATE TABLE signups (
    phone TEXT NOT NULL,
    role TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (phone, role)
) STRICT;

-- One live code per phone, role and purpose; stored only as a keyed hash.
CREATE TABLE otp_codes (
    phone TEXT NOT NULL,
    role TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('signup', 'reset')),
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (phone, role, purpose)
) STRICT;

-- Wrong codes per phone; five in a row lock the phone.
CREATE TABLE otp_failures (
    phone TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
) STRICT;

-- A session is one refresh-token family: login creates it, every refresh rotates within it.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    device TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at INTEGER NOT NULL,
    used_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Append-only: each row carries the hash of the previous one, so tampering is detectable.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    request_id TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_actor ON audit_log (actor_id, id);
CREATE INDEX audit_target ON audit_log (target, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE addresses (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    label TEXT NOT NULL,
    line TEXT NOT NULL,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    pincode TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX addresses_user ON addresses (user_id, created_at);

CREATE TABLE devices (
    push_token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    platform TEXT NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
) STRICT;
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE notification_settings (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    booking_updates INTEGER NOT NULL DEFAULT 1,
    reminders INTEGER NOT NULL DEFAULT 1,
    calls INTEGER NOT NULL DEFAULT 1,
    marketing INTEGER NOT NULL DEFAULT 0,
    channel_push INTEGER NOT NULL DEFAULT 1,
    channel_sms INTEGER NOT NULL DEFAULT 1,
    channel_email INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL
) STRICT;
