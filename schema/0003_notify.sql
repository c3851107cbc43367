-- Real-time events (per-user ordered log, long-polled), in-app notifications, and the outbox of
-- external deliveries (push, SMS, e-mail, operator webhooks) with retries and fallbacks.

-- The global AUTOINCREMENT id is the cursor: monotonic, never reused, even after pruning.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_at ON events (at);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    read_at INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX notifications_user ON notifications (user_id, created_at, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

-- One row per attempt chain on one channel. `sending` rows carry a lease (claimed_until): a
-- worker that dies mid-send leaves a row that is claimed again once the lease runs out.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    notification_id TEXT REFERENCES notifications (id),
    user_id TEXT,
    channel TEXT NOT NULL CHECK (channel IN ('push', 'sms', 'email', 'webhook')),
    target TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER,
    last_error TEXT,
    provider_ref TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER
) STRICT;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_status ON deliveries (status, updated_at, id);
CREATE INDEX deliveries_notification ON deliveries (notification_id);
