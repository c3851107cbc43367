-- Failed logins are counted per (phone, role, client address) in `login_failures` since
-- 0007_security.sql; the account-wide counter on users is no longer read or written.
ALTER TABLE users DROP COLUMN failed_logins;
