-- Deprecation of package versions by their owners: at most one per version.
CREATE TABLE package_deprecations (
    package_key BIGINT PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    message TEXT,
    alternate_id TEXT,
    alternate_range TEXT,
    deprecated_at BIGINT NOT NULL
);

-- Known vulnerabilities of a package ID's versions in a NuGet range, with the advisory describing them.
CREATE TABLE package_vulnerabilities (
    id BIGSERIAL PRIMARY KEY,
    registration_id BIGINT NOT NULL REFERENCES package_registrations(id) ON DELETE CASCADE,
    versions TEXT NOT NULL,
    severity TEXT NOT NULL,
    advisory_url TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    UNIQUE (registration_id, advisory_url)
);
