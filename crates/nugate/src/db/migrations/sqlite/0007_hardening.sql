-- The first confirmed account of a server without an administrator becomes administrator, exactly once:
-- whoever inserts this single row first wins, on any backend and under any concurrency. Every way an
-- account becomes administrator claims it too, so later sign-ups never do.
CREATE TABLE admin_bootstrap (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    user_id BIGINT,
    at BIGINT NOT NULL
);
INSERT INTO admin_bootstrap (id, user_id, at)
    SELECT 1, MIN(id), CAST(strftime('%s', 'now') AS INTEGER) FROM users WHERE is_admin = 1 HAVING COUNT(*) > 0;

-- What kind of message a row is (per-recipient limits count by kind), and when a message carrying a live
-- token stops being worth sending. Such bodies are redacted once delivered, so no live link stays
-- readable; older rows cannot tell which bodies hold links, so every delivered one is redacted now.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN expires_at BIGINT;
UPDATE outbox SET body = '' WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_recipient ON outbox(recipient, kind, created_at);

-- A just-created key waits here, in the session that created it, until its page shows it once.
ALTER TABLE sessions ADD COLUMN new_key_name TEXT;
ALTER TABLE sessions ADD COLUMN new_key TEXT;
ALTER TABLE sessions ADD COLUMN new_key_at BIGINT;

-- Sign-in failures per subject (account, address), updated by compare-and-set so parallel guesses are
-- counted exactly.
CREATE TABLE throttle_counters (
    subject TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);
