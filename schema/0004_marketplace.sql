-- The marketplace: catalogue, listings, bookings (with history, items, ratings, reports),
-- customer passes and calendar feed tokens. Money is integer minor units (paise); instants are
-- integer milliseconds UTC; an appointment also keeps its local date and time in the business
-- time zone as the customer chose it.

CREATE TABLE categories (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    listing_fee INTEGER NOT NULL CHECK (listing_fee >= 0),
    listing_days INTEGER NOT NULL CHECK (listing_days > 0),
    requires_pass INTEGER NOT NULL DEFAULT 0,
    pass_fee INTEGER,
    pass_days INTEGER,
    position INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sub_services (
    id TEXT PRIMARY KEY,
    category_id TEXT NOT NULL REFERENCES categories (id),
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    UNIQUE (category_id, slug)
) STRICT;

CREATE TABLE listings (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES users (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    description TEXT NOT NULL,
    experience_years INTEGER NOT NULL,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    address TEXT NOT NULL,
    -- lower-cased copies for indexed, case-insensitive filters
    city_key TEXT NOT NULL,
    state_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'active', 'expired', 'suspended')),
    active_until INTEGER,
    price_from INTEGER NOT NULL,
    rating_sum INTEGER NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    expiry_warned_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE UNIQUE INDEX listings_one_per_category ON listings (provider_id, category_id) WHERE deleted_at IS NULL;
CREATE INDEX listings_by_category ON listings (status, category_id, created_at, id);
CREATE INDEX listings_by_city ON listings (status, city_key, created_at, id);
CREATE INDEX listings_by_state ON listings (status, state_key, created_at, id);
CREATE INDEX listings_recent ON listings (status, created_at, id);
CREATE INDEX listings_lapsing ON listings (status, active_until);
CREATE INDEX listings_provider ON listings (provider_id, created_at, id);

CREATE TABLE listing_prices (
    listing_id TEXT NOT NULL REFERENCES listings (id),
    sub_service_id TEXT NOT NULL REFERENCES sub_services (id),
    price INTEGER NOT NULL CHECK (price > 0),
    PRIMARY KEY (listing_id, sub_service_id)
) STRICT;

CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    listing_id TEXT NOT NULL REFERENCES listings (id),
    customer_id TEXT NOT NULL REFERENCES users (id),
    provider_id TEXT NOT NULL REFERENCES users (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected', 'cancelled', 'in_progress', 'completed', 'expired')),
    local_date TEXT NOT NULL,
    local_time TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    address TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    total INTEGER NOT NULL,
    currency TEXT NOT NULL,
    completed_at INTEGER,
    reminded_day_before_at INTEGER,
    reminded_two_hours_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
-- A provider holds at most one accepted (or running) booking per slot: concurrent accepts
-- cannot both win, whatever the application does.
CREATE UNIQUE INDEX bookings_one_taken_per_slot ON bookings (provider_id, starts_at)
    WHERE status IN ('accepted', 'in_progress');
-- A customer holds at most one open booking per listing and slot.
CREATE UNIQUE INDEX bookings_one_open_per_customer ON bookings (customer_id, listing_id, starts_at)
    WHERE status IN ('pending', 'accepted', 'in_progress');
CREATE INDEX bookings_customer ON bookings (customer_id, created_at, id);
CREATE INDEX bookings_provider ON bookings (provider_id, created_at, id);
CREATE INDEX bookings_listing_open ON bookings (listing_id, status);
CREATE INDEX bookings_due ON bookings (status, starts_at);
CREATE INDEX bookings_completed ON bookings (provider_id, completed_at) WHERE status = 'completed';

CREATE TABLE booking_items (
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    sub_service_id TEXT NOT NULL REFERENCES sub_services (id),
    name TEXT NOT NULL,
    price INTEGER NOT NULL,
    PRIMARY KEY (booking_id, sub_service_id)
) STRICT;

CREATE TABLE booking_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    reason TEXT
) STRICT;
CREATE INDEX booking_history_booking ON booking_history (booking_id, id);

CREATE TABLE ratings (
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    rater_id TEXT NOT NULL REFERENCES users (id),
    rater_role TEXT NOT NULL CHECK (rater_role IN ('customer', 'provider')),
    ratee_id TEXT NOT NULL REFERENCES users (id),
    listing_id TEXT NOT NULL REFERENCES listings (id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    review TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (booking_id, rater_id)
) STRICT;
CREATE INDEX ratings_listing ON ratings (listing_id, rater_role, created_at);

CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    reporter_id TEXT NOT NULL REFERENCES users (id),
    reported_id TEXT NOT NULL REFERENCES users (id),
    reason TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    resolution TEXT,
    resolved_by TEXT,
    resolved_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (booking_id, reporter_id)
) STRICT;
CREATE INDEX reports_status ON reports (status, created_at, id);

-- A customer's pass for a category that requires one (labour); filled by payments.
CREATE TABLE passes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX passes_user ON passes (user_id, category_id, valid_until);

-- Revocable per-provider token for the iCalendar feed (stored hashed).
CREATE TABLE calendar_tokens (
    provider_id TEXT PRIMARY KEY REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
