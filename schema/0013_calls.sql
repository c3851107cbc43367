-- In-app calls (API.md "Calls (WebRTC signalling)"): a booking's customer and provider call each
-- other; the server relays signalling (as `call.signal` events, owned by events) and records each
-- call, its end and the quality figures clients report. Owned by calls.
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    caller_id TEXT NOT NULL REFERENCES users (id),
    caller_role TEXT NOT NULL CHECK (caller_role IN ('customer', 'provider')),
    callee_id TEXT NOT NULL REFERENCES users (id),
    callee_role TEXT NOT NULL CHECK (callee_role IN ('customer', 'provider')),
    status TEXT NOT NULL CHECK (status IN ('ringing', 'active', 'rejected', 'missed', 'cancelled', 'ended')),
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    -- cancelled | rejected | no_answer | hangup | lost (NULL while ringing or active)
    end_reason TEXT,
    -- who ended it (NULL: the system)
    ended_by TEXT,
    -- the last sign of life of each party (signal, quality report, accept): stale active calls close
    caller_seen_at INTEGER NOT NULL,
    callee_seen_at INTEGER NOT NULL,
    -- signals relayed so far: each `call.signal` carries its number (`seq`, from 1)
    signals INTEGER NOT NULL DEFAULT 0,
    -- the quality reports' MOS estimates, summed, and how many (the call's `mos` is their mean)
    mos_sum REAL NOT NULL DEFAULT 0,
    mos_count INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_booking ON calls (booking_id, started_at, id);
CREATE INDEX calls_caller ON calls (caller_id, started_at, id);
CREATE INDEX calls_callee ON calls (callee_id, started_at, id);
CREATE INDEX calls_started ON calls (started_at, id);
-- The ring-timeout and stale-call jobs look only at open calls.
CREATE INDEX calls_open ON calls (status, started_at) WHERE status IN ('ringing', 'active');

-- One ringing or active call per user, enforced by the database: a row per party of every open
-- call, removed when it closes. Two concurrent POST /calls for one user cannot both insert.
CREATE TABLE call_lines (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    call_id TEXT NOT NULL REFERENCES calls (id)
) STRICT;

-- Quality reports (POST /calls/{id}/quality) with the MOS estimated from each.
CREATE TABLE call_quality (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    rtt_ms REAL NOT NULL,
    jitter_ms REAL NOT NULL,
    packet_loss_percent REAL NOT NULL,
    bitrate_kbps REAL,
    mos REAL NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX call_quality_call ON call_quality (call_id, at);
