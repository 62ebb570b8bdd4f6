-- Organisations are accounts that own packages but never sign in: they share the users table, and so
-- the namespace of names, with the people.
ALTER TABLE users ADD COLUMN account_kind TEXT NOT NULL DEFAULT 'user';
-- An organisation's own cap on key lifetimes (days; NULL: the server's).
ALTER TABLE users ADD COLUMN max_key_lifetime_days BIGINT;

CREATE TABLE org_members (
    org_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

-- A user asked to join an organisation; they become a member on accepting.
CREATE TABLE org_member_requests (
    org_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    invited_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- The account a key acts for: NULL, its user; otherwise an organisation the user belongs to.
ALTER TABLE api_keys ADD COLUMN owner_id BIGINT REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX api_keys_owner ON api_keys(owner_id);

-- ID prefixes (`Contoso.*`) only their owner may start new packages under.
CREATE TABLE reserved_prefixes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pattern TEXT NOT NULL,
    pattern_lower TEXT NOT NULL UNIQUE,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
