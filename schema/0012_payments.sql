-- Payments (owner: payments): orders priced by the server, the gateway deliveries and status
-- answers recorded for them (each event id once), refunds and risk flags. Money is integer minor
-- units; instants are integer milliseconds UTC.

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('listing_fee', 'pass', 'booking')),
    -- The listing, category (pass) or booking it pays for: fixed at order time, never taken
    -- from a gateway notice.
    target_id TEXT NOT NULL,
    -- Days bought (listing fee, pass); NULL for a booking.
    days INTEGER,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    gateway_ref TEXT,
    gateway_payment_id TEXT,
    -- JSON: what the client needs to pay (while pending).
    checkout TEXT,
    -- `creating`: the order is being opened at the gateway (never shown; expires if we die).
    status TEXT NOT NULL CHECK (status IN ('creating', 'pending', 'succeeded', 'failed', 'expired',
        'partially_refunded', 'refunded')),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
) STRICT;
-- One open payment per (payer, purpose, target).
CREATE UNIQUE INDEX payments_one_open ON payments (payer_id, purpose, target_id)
    WHERE status IN ('creating', 'pending');
CREATE UNIQUE INDEX payments_by_gateway_ref ON payments (gateway, gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE INDEX payments_by_payer ON payments (payer_id, created_at, id);
CREATE INDEX payments_by_status ON payments (status, created_at, id);
CREATE INDEX payments_by_created ON payments (created_at, id);
CREATE INDEX payments_by_completed ON payments (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE payment_refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    refund_ref TEXT,
    actor_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
) STRICT;
CREATE INDEX payment_refunds_by_payment ON payment_refunds (payment_id, created_at);
CREATE INDEX payment_refunds_by_ref ON payment_refunds (refund_ref) WHERE refund_ref IS NOT NULL;
CREATE INDEX payment_refunds_by_completed ON payment_refunds (completed_at) WHERE completed_at IS NOT NULL;

-- Every verified delivery and settling status answer, once per (gateway, event id): a duplicate
-- delivery finds its row and changes nothing.
CREATE TABLE payment_events (
    gateway TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payment_id TEXT,
    type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, event_id)
) STRICT;
CREATE INDEX payment_events_by_payment ON payment_events (payment_id, received_at) WHERE payment_id IS NOT NULL;

-- Risk and integrity flags for the admin (never blocking): amount_mismatch, velocity,
-- repeated_failures, amount_anomaly.
CREATE TABLE payment_flags (
    payment_id TEXT NOT NULL REFERENCES payments (id),
    flag TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (payment_id, flag)
) STRICT;

-- Owner: bookings. A booking paid through the platform (`payments.booking_payments`), and the
-- payment a pass was bought with (so a refund can take it back).
ALTER TABLE bookings ADD COLUMN paid_at INTEGER;
ALTER TABLE passes ADD COLUMN payment_id TEXT;
