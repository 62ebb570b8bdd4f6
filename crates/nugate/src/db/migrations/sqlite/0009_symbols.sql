-- Symbol packages (.snupkg) pushed for a package version: at most one per version.
CREATE TABLE symbol_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_key BIGINT NOT NULL UNIQUE REFERENCES packages(id) ON DELETE CASCADE,
    package_hash TEXT NOT NULL,
    package_size BIGINT NOT NULL,
    pushed_at BIGINT NOT NULL,
    pushed_by BIGINT
);

-- The portable PDBs of a symbol package, found by the SSQP key debuggers ask for:
-- {file_name_lower}/{ssqp_key}/{file_name_lower}.
CREATE TABLE symbol_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol_package_id BIGINT NOT NULL REFERENCES symbol_packages(id) ON DELETE CASCADE,
    entry_path TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_name_lower TEXT NOT NULL,
    ssqp_key TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    file_hash TEXT NOT NULL,
    UNIQUE (symbol_package_id, file_name_lower, ssqp_key)
);
CREATE INDEX symbol_files_key ON symbol_files(file_name_lower, ssqp_key);
