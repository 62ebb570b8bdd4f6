CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin BIGINT NOT NULL DEFAULT 0,
    email_confirmed BIGINT NOT NULL DEFAULT 0,
    locked BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE package_registrations (
    id BIGSERIAL PRIMARY KEY,
    package_id TEXT NOT NULL,
    package_id_lower TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE package_owners (
    registration_id BIGINT NOT NULL REFERENCES package_registrations(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (registration_id, user_id)
);
CREATE INDEX package_owners_user ON package_owners(user_id);

CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    registration_id BIGINT NOT NULL REFERENCES package_registrations(id),
    version TEXT NOT NULL,
    version_lower TEXT NOT NULL,
    full_version TEXT NOT NULL,
    is_prerelease BIGINT NOT NULL,
    is_semver2 BIGINT NOT NULL,
    listed BIGINT NOT NULL,
    title TEXT,
    description TEXT NOT NULL,
    summary TEXT,
    authors TEXT NOT NULL,
    tags TEXT NOT NULL,
    package_types TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    package_hash TEXT NOT NULL,
    package_size BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    pushed_by BIGINT,
    UNIQUE (registration_id, version_lower)
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT,
    kind TEXT NOT NULL,
    lookup_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    actions TEXT NOT NULL,
    subjects TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    lifetime_secs BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT,
    UNIQUE (user_id, name)
);
