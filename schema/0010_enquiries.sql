-- Enquiries from the public contact form (owner: enquiries). The operator lists them by status,
-- newest first, and closes them.
CREATE TABLE enquiries (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    ip TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (phone IS NOT NULL OR email IS NOT NULL)
) STRICT;
CREATE INDEX enquiries_status_created ON enquiries (status, created_at DESC, id DESC);
