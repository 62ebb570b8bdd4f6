//! Backups, restores and consistency checks of a whole installation.
//!
//! A backup is a folder: `nugate.db` (an SQLite snapshot of the database, taken while the server runs),
//! `packages/` (every file that snapshot refers to, in the storage's layout) and `manifest.json` (sizes
//! and SHA-512s). The database is copied first and the files it names after, so a file pushed during the
//! backup may be missing from it but nothing in it refers to a missing file. Backups are incremental: a
//! file already in the folder with the right hash is not copied again.

use std::collections::{BTreeMap, HashSet};
use std::path::Path as FsPath;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha512};

use crate::config::Config;
use crate::db::{self, Backend, Db};
use crate::storage::{migrate, PackageStorage};

const DATABASE: &str = "nugate.db";
const PACKAGES: &str = "packages";
const MANIFEST: &str = "manifest.json";

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub size: u64,
    /// Base64 SHA-512, as NuGet records package hashes.
    pub sha512: String,
}

/// What a backup holds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Unix seconds when the database snapshot was taken.
    pub created_at: i64,
    /// The nugate build that wrote it.
    pub version: String,
    pub database: ManifestEntry,
    pub files: Vec<ManifestEntry>,
}

/// What a backup did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    pub versions: usize,
    pub copied: usize,
    pub unchanged: usize,
    pub bytes: u64,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backed up {} versions: copied {} files ({} bytes), {} already there",
            self.versions, self.copied, self.bytes, self.unchanged
        )
    }
}

fn sha512_base64(bytes: impl AsRef<[u8]>) -> String {
    data_encoding::BASE64.encode(&Sha512::digest(bytes))
}

/// Size and base64 SHA-512 of a stored object, streamed.
async fn object_digest(store: &Arc<dyn ObjectStore>, path: &Path) -> anyhow::Result<(u64, String)> {
    let mut stream = store.get(path).await?.into_stream();
    let mut hasher = Sha512::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((size, data_encoding::BASE64.encode(&hasher.finalize())))
}

/// Takes a backup of the installation behind `db` and `storage` into the folder `out`.
pub async fn backup(
    db: &Db,
    storage: &PackageStorage,
    out: &FsPath,
) -> anyhow::Result<BackupReport> {
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create backup folder {}: {e}", out.display()))?;
    let previous: BTreeMap<String, ManifestEntry> = read_manifest(out)
        .map(|m| m.files.into_iter().map(|f| (f.path.clone(), f)).collect())
        .unwrap_or_default();

    // 1. The database, as one snapshot.
    let part = out.join(format!("{DATABASE}.part"));
    if part.exists() {
        std::fs::remove_file(&part)?;
    }
    let part_str = part
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup folder's path is not UTF-8"))?;
    let created_at = db::now();
    match db.backend() {
        Backend::Sqlite => db.snapshot_sqlite(part_str).await?,
        Backend::Postgres => {
            // A copy through the configured database, table by table (README: use pg_dump for a
            // point-in-time copy of a busy cluster).
            let snapshot = Db::open(&format!("sqlite://{part_str}?mode=rwc")).await?;
            db::copy::copy_database(db, &snapshot).await?;
            snapshot.pool().close().await;
        }
    }
    std::fs::rename(&part, out.join(DATABASE))?;

    // 2. Every file the snapshot refers to.
    let snapshot = Db::connect(&format!(
        "sqlite://{}?mode=rw",
        out.join(DATABASE).display()
    ))
    .await?;
    let versions = db::packages::stored_files(snapshot.pool()).await?;
    let symbols = symbol_files(&snapshot).await?;
    snapshot.pool().close().await;
    // Hashed once no connection is open (opening one may change the file's header).
    let database_bytes = std::fs::read(out.join(DATABASE))?;
    let database = ManifestEntry {
        path: DATABASE.to_string(),
        size: database_bytes.len() as u64,
        sha512: sha512_base64(&database_bytes),
    };
    drop(database_bytes);
    let target = PackageStorage::local(&out.join(PACKAGES))?;
    let (source, destination) = (storage.store(), target.store());
    let mut report = BackupReport {
        versions: versions.len(),
        ..BackupReport::default()
    };
    let mut files = Vec::new();
    for (lower_id, lower_version, size, hash) in versions {
        let nupkg = PackageStorage::nupkg_path(&lower_id, &lower_version);
        let nuspec = PackageStorage::nuspec_path(&lower_id, &lower_version);
        let recorded = u64::try_from(size).ok().map(|size| (size, hash));
        for (path, expected) in [(nupkg, recorded), (nuspec, None)] {
            let key = path.to_string();
            // What the file must hash to: the database's record for a .nupkg, the last manifest's for a
            // .nuspec (which never changes once written).
            let expected =
                expected.or_else(|| previous.get(&key).map(|e| (e.size, e.sha512.clone())));
            let present = match (&expected, object_digest(&destination, &path).await) {
                (Some(want), Ok(have)) => &have == want,
                _ => false,
            };
            if !present {
                let (written, _) = migrate::copy_object(&source, &destination, &path)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot copy '{key}' into the backup: {e}"))?;
                report.copied += 1;
                report.bytes += written;
            } else {
                report.unchanged += 1;
            }
            let (size, sha512) = object_digest(&destination, &path).await?;
            files.push(ManifestEntry {
                path: key,
                size,
                sha512,
            });
        }
    }
    // Symbol packages and their PDBs, each with the size and hash the database recorded.
    for (path, size, hash) in symbols {
        let key = path.to_string();
        let expected = u64::try_from(size).ok().map(|size| (size, hash));
        let present = match (&expected, object_digest(&destination, &path).await) {
            (Some(want), Ok(have)) => &have == want,
            _ => false,
        };
        if present {
            report.unchanged += 1;
        } else {
            let (written, _) = migrate::copy_object(&source, &destination, &path)
                .await
                .map_err(|e| anyhow::anyhow!("cannot copy '{key}' into the backup: {e}"))?;
            report.copied += 1;
            report.bytes += written;
        }
        let (size, sha512) = object_digest(&destination, &path).await?;
        files.push(ManifestEntry {
            path: key,
            size,
            sha512,
        });
    }
    let manifest = Manifest {
        created_at,
        version: format!("{} ({})", env!("CARGO_PKG_VERSION"), crate::metrics::COMMIT),
        database,
        files,
    };
    let manifest_part = out.join(format!("{MANIFEST}.part"));
    std::fs::write(&manifest_part, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::rename(manifest_part, out.join(MANIFEST))?;
    Ok(report)
}

/// Every stored symbol file (`.snupkg` and PDB) the database records, with its recorded size and hash.
async fn symbol_files(db: &Db) -> anyhow::Result<Vec<(Path, i64, String)>> {
    let mut files = Vec::new();
    for (lower_id, lower_version, size, hash) in db::symbols::all_packages(db.pool()).await? {
        files.push((
            PackageStorage::snupkg_path(&lower_id, &lower_version),
            size,
            hash,
        ));
    }
    for pdb in db::symbols::all_pdbs(db.pool()).await? {
        files.push((
            PackageStorage::pdb_path(
                &pdb.lower_id,
                &pdb.lower_version,
                &pdb.ssqp_key,
                &pdb.file_name_lower,
            ),
            pdb.file_size,
            pdb.file_hash,
        ));
    }
    Ok(files)
}

fn read_manifest(dir: &FsPath) -> anyhow::Result<Manifest> {
    let text = std::fs::read(dir.join(MANIFEST))
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join(MANIFEST).display()))?;
    serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a nugate backup manifest: {e}", MANIFEST))
}

/// Restores the backup in `from` into the (empty) installation `config` names: its database and its
/// package storage. Every file is checked against the manifest first; nothing is written if one fails.
pub async fn restore(from: &FsPath, config: &Config) -> anyhow::Result<usize> {
    let manifest = read_manifest(from)?;
    let database = std::fs::read(from.join(DATABASE))?;
    if database.len() as u64 != manifest.database.size
        || sha512_base64(&database) != manifest.database.sha512
    {
        anyhow::bail!("{DATABASE} in the backup does not match its manifest");
    }
    drop(database);
    let source = PackageStorage::local(&from.join(PACKAGES))?;
    let store = source.store();
    for entry in &manifest.files {
        let path = Path::parse(&entry.path)
            .map_err(|e| anyhow::anyhow!("bad path '{}' in the manifest: {e}", entry.path))?;
        let (size, sha512) = object_digest(&store, &path)
            .await
            .map_err(|e| anyhow::anyhow!("'{}' is missing from the backup: {e}", entry.path))?;
        if size != entry.size || sha512 != entry.sha512 {
            anyhow::bail!("'{}' in the backup does not match its manifest", entry.path);
        }
    }
    let data = &config.data_dir;
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        anyhow::bail!(
            "the data folder {} is not empty; restore only into a new installation",
            data.display()
        );
    }
    std::fs::create_dir_all(data)?;
    let backup = Db::connect(&format!(
        "sqlite://{}?mode=rw",
        from.join(DATABASE).display()
    ))
    .await?;
    let target = Db::open(&config.database_url()).await?;
    db::copy::copy_database(&backup, &target).await?;
    let storage = PackageStorage::from_url(&config.storage_url())?;
    migrate::migrate_storage(&source, &storage).await?;
    Ok(manifest.files.len())
}

/// What `nugate check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub versions: usize,
    /// Files a version needs that the storage lacks.
    pub missing: Vec<String>,
    /// .nupkg (and symbol) files whose size or SHA-512 differ from the database's record.
    pub corrupt: Vec<String>,
    /// Stored files no version refers to.
    pub orphans: Vec<String>,
    /// Orphans deleted (with `--fix`).
    pub removed: usize,
}

impl CheckReport {
    /// Whether everything was in order.
    pub fn healthy(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && self.orphans.is_empty()
    }
}

/// Checks a live installation: every version has its files, each .nupkg (and each symbol file) with the
/// recorded size and hash, and no stored file is an orphan (orphans are deleted only when `fix`).
pub async fn check(db: &Db, storage: &PackageStorage, fix: bool) -> anyhow::Result<CheckReport> {
    let versions = db::packages::stored_files(db.pool()).await?;
    let store = storage.store();
    let mut report = CheckReport {
        versions: versions.len(),
        ..CheckReport::default()
    };
    let mut known = HashSet::new();
    for (lower_id, lower_version, size, hash) in &versions {
        let nupkg = PackageStorage::nupkg_path(lower_id, lower_version);
        let nuspec = PackageStorage::nuspec_path(lower_id, lower_version);
        known.insert(nupkg.to_string());
        known.insert(nuspec.to_string());
        match object_digest(&store, &nupkg).await {
            Ok((have_size, have_hash)) => {
                if u64::try_from(*size).ok() != Some(have_size) || &have_hash != hash {
                    report.corrupt.push(nupkg.to_string());
                }
            }
            Err(_) => report.missing.push(nupkg.to_string()),
        }
        if store.head(&nuspec).await.is_err() {
            report.missing.push(nuspec.to_string());
        }
    }
    for (path, size, hash) in symbol_files(db).await? {
        known.insert(path.to_string());
        match object_digest(&store, &path).await {
            Ok((have_size, have_hash)) => {
                if u64::try_from(size).ok() != Some(have_size) || have_hash != hash {
                    report.corrupt.push(path.to_string());
                }
            }
            Err(_) => report.missing.push(path.to_string()),
        }
    }
    for (path, _) in storage.list_files().await? {
        if !known.contains(&path) && !path.starts_with(crate::storage::STAGING) {
            report.orphans.push(path);
        }
    }
    if fix {
        for path in &report.orphans {
            let path = Path::parse(path)?;
            store.delete(&path).await?;
            report.removed += 1;
        }
    }
    Ok(report)
}
