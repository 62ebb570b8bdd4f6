-- Downloads of each version, added in batches by every node (never a write per download).
ALTER TABLE packages ADD COLUMN downloads BIGINT NOT NULL DEFAULT 0;

-- The IDs a version depends on, lower-cased, each between spaces (' a.b c.d '), for "Used by". NULL for
-- versions stored before it existed: filled from their stored .nuspec JSON at start-up.
ALTER TABLE packages ADD COLUMN dependency_ids TEXT;
