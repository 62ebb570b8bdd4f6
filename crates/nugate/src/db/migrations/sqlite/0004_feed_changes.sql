-- One counter that every change to what readers see (versions, listing, owners) increments inside its own
-- transaction, and the counter value stamped on the registration it changed. Nodes keep their in-memory
-- feed index current by asking for registrations changed since the last counter value they saw.
CREATE TABLE feed_changes (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO feed_changes (id, seq) VALUES (1, 0);
ALTER TABLE package_registrations ADD COLUMN changed_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX package_registrations_changed_seq ON package_registrations(changed_seq);
CREATE INDEX packages_registration ON packages(registration_id);
