-- When the "has expired" email listed this key: each expired key is reported once, even when the server
-- was down on the day it expired. Keys that expired before this column existed count as reported.
ALTER TABLE api_keys ADD COLUMN expired_notified_at BIGINT;
UPDATE api_keys SET expired_notified_at = expires_at
    WHERE expires_at IS NOT NULL AND expires_at < CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) - 86400;
