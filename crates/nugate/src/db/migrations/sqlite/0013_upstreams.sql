-- Where a registration's versions came from: NULL for the feed's own packages, else the name of the
-- upstream feed they were cached from (fetched on a client's first request, never pushed).
ALTER TABLE package_registrations ADD COLUMN upstream TEXT;

-- What each upstream last said about an ID, shared by every node: fetched again at most once per
-- `upstream_cache_ttl_secs`, and kept when the upstream is down so that what worked keeps working.
CREATE TABLE upstream_metadata (
    upstream TEXT NOT NULL,
    package_id_lower TEXT NOT NULL,
    fetched_at BIGINT NOT NULL,
    found BIGINT NOT NULL,
    versions_json TEXT NOT NULL,
    PRIMARY KEY (upstream, package_id_lower)
);

-- Administrators' rules: IDs or globs never taken from any upstream (`block`), and the IDs or globs an
-- allow-list upstream lets through (`approve`).
CREATE TABLE upstream_rules (
    rule TEXT NOT NULL,
    pattern TEXT NOT NULL,
    pattern_lower TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (rule, pattern_lower)
);
