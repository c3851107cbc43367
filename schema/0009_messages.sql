-- Booking chat (API.md "Messages (booking chat) and enquiries"): the two parties of a booking
-- write to each other. Owned by bookings. `text` is stored as given after sanitising (trimmed,
-- control characters other than newline removed) and only ever served as JSON.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    sender_id TEXT NOT NULL REFERENCES users (id),
    sender_role TEXT NOT NULL CHECK (sender_role IN ('customer', 'provider')),
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER
) STRICT;
-- A booking's conversation oldest first from a cursor, and the read marks up to a message.
CREATE INDEX messages_booking ON messages (booking_id, created_at, id);
