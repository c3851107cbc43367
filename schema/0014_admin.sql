-- The operator's dashboard: indexes its lists and daily series read by, and the alerts' state.

-- Owner: bookings. Every booking newest first (`GET /admin/bookings`), and the daily series of
-- `GET /admin/stats` (bookings created per local day).
CREATE INDEX bookings_created ON bookings (created_at, id);
-- Owner: bookings. Transitions per local day (completed, cancelled) for `GET /admin/stats`.
CREATE INDEX booking_history_at ON booking_history (to_status, at);
-- Owner: notify. Deliveries per local day for the delivery rate of `GET /admin/stats`.
CREATE INDEX deliveries_created ON deliveries (created_at);

-- Owner: admin. One row per alert the checker knows: whether it is firing now (an episode), since
-- when, the last value measured and its threshold; `state` carries what the next check needs
-- (the request counters of the last check, for the 5xx rate over the interval).
CREATE TABLE admin_alerts (
    name TEXT PRIMARY KEY,
    firing INTEGER NOT NULL DEFAULT 0 CHECK (firing IN (0, 1)),
    since INTEGER,
    value REAL,
    threshold REAL,
    message TEXT NOT NULL DEFAULT '',
    checked_at INTEGER NOT NULL,
    notified_at INTEGER,
    state TEXT NOT NULL DEFAULT '{}'
) STRICT;
