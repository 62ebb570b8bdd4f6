-- What every authenticated action did, append-only: the retention sweep is the only deletion. Names are
-- copied, not only referenced, so a record outlives the key, user or package it names.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_id BIGINT,
    actor_name TEXT,
    key_id BIGINT,
    key_name TEXT,
    key_lookup_id TEXT,
    owner_id BIGINT,
    owner_name TEXT,
    package_id TEXT,
    package_id_lower TEXT,
    package_version TEXT,
    address TEXT,
    user_agent TEXT,
    detail TEXT
);
-- Records are read newest first by id (their order of writing), so each filter needs only its column:
-- an index entry carries the row's id. No index on the time: the sweep deletes from the oldest id on.
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_owner ON audit_events (owner_id, id);
CREATE INDEX audit_events_key ON audit_events (key_id, id);
CREATE INDEX audit_events_package ON audit_events (package_id_lower, id);

-- Trusted publishing: which CI workflows may trade an identity token for a one-hour key acting for an
-- owner. The repository's numeric IDs are filled in on first use and must match from then on.
CREATE TABLE trust_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    repository TEXT NOT NULL,
    workflow TEXT NOT NULL,
    environment TEXT,
    subjects TEXT NOT NULL,
    repository_id TEXT,
    repository_owner_id TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX trust_policies_owner ON trust_policies (owner_id);

-- Identity tokens already exchanged (issuer and jti, hashed), kept until they expire: each is taken once.
CREATE TABLE trust_tokens_used (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Where a trusted-publishing key came from (repository, workflow, run, commit), shown on its card.
ALTER TABLE api_keys ADD COLUMN provenance TEXT;
