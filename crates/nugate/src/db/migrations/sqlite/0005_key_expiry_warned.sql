-- When the "about to expire" email listed this key: each key is warned once per expiry, as NuGet.org does,
-- instead of on every day of its last ten. Regenerating a key clears it (the key has a new expiry).
ALTER TABLE api_keys ADD COLUMN expiry_warned_at BIGINT;
