//! Copying every package file from one storage to another (a folder to a bucket, a bucket to a folder, or
//! between buckets), for moving an install without downtime surprises.
//!
//! Files are streamed chunk by chunk, never held whole in memory. The copy is resumable: a file already at
//! the destination with the same size and SHA-256 is left alone, so re-running after an interruption only
//! finishes the job. And it is verified: every copied file is read back and compared, so a silently
//! truncated upload is an error rather than a corrupt package found months later.

use std::sync::Arc;

use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::PackageStorage;

/// What a migration did, so the command can print one honest summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Files written to the destination (missing or different there before).
    pub copied: u64,
    /// Files already present at the destination with the same size and SHA-256.
    pub skipped: u64,
    /// Bytes written to the destination.
    pub bytes: u64,
}

impl std::fmt::Display for MigrateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "copied {} file{} ({} bytes), skipped {} already present",
            self.copied,
            if self.copied == 1 { "" } else { "s" },
            self.bytes,
            self.skipped
        )
    }
}

/// A file the migration would copy, as `--dry-run` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCopy {
    /// The object's key, such as `contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg`.
    pub path: String,
    /// Its size at the source, in bytes.
    pub size: u64,
    /// Why it needs copying: `missing` or `different`.
    pub reason: &'static str,
}

/// Lists the files [`migrate_storage`] would copy, without writing anything (the `--dry-run` answer).
pub async fn plan_storage_migration(
    from: &PackageStorage,
    to: &PackageStorage,
) -> anyhow::Result<Vec<PlannedCopy>> {
    let (source, destination) = (from.store(), to.store());
    let mut plan = Vec::new();
    for (name, size) in from.list_files().await? {
        let path = parse_path(&name)?;
        if let Some(reason) = needs_copy(&source, &destination, &path, size).await? {
            plan.push(PlannedCopy {
                path: name,
                size,
                reason,
            });
        }
    }
    Ok(plan)
}

/// Copies every file of `from` into `to`, skipping files already there intact and verifying each copy.
pub async fn migrate_storage(
    from: &PackageStorage,
    to: &PackageStorage,
) -> anyhow::Result<MigrateReport> {
    let (source, destination) = (from.store(), to.store());
    let mut report = MigrateReport::default();
    for (name, size) in from.list_files().await? {
        let path = parse_path(&name)?;
        if needs_copy(&source, &destination, &path, size)
            .await?
            .is_none()
        {
            report.skipped += 1;
            continue;
        }
        let (written, source_hash) = copy_object(&source, &destination, &path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot copy '{name}': {e}"))?;
        let (stored, stored_hash) = digest(&destination, &path)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read back '{name}' after copying it: {e}"))?;
        if stored != written || stored_hash != source_hash {
            anyhow::bail!(
                "verification failed for '{name}': wrote {written} bytes, the destination holds {stored} bytes \
                 with a different SHA-256; re-run the migration to copy it again"
            );
        }
        tracing::info!(file = %name, bytes = written, "copied");
        report.copied += 1;
        report.bytes += written;
    }
    Ok(report)
}

/// Object keys come from the source's own listing, so they are already valid paths.
fn parse_path(name: &str) -> anyhow::Result<Path> {
    Path::parse(name).map_err(|e| anyhow::anyhow!("unexpected object name '{name}': {e}"))
}

/// `None` when the destination already holds an identical file; otherwise why it must be copied.
async fn needs_copy(
    source: &Arc<dyn ObjectStore>,
    destination: &Arc<dyn ObjectStore>,
    path: &Path,
    size: u64,
) -> anyhow::Result<Option<&'static str>> {
    let existing = match destination.head(path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(Some("missing")),
        Err(e) => return Err(anyhow::anyhow!("cannot inspect destination '{path}': {e}")),
    };
    if existing.size != size {
        return Ok(Some("different"));
    }
    // Same size is not proof: compare contents, which costs a read of each side but never a rewrite.
    let (_, theirs) = digest(destination, path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read destination '{path}': {e}"))?;
    let (_, ours) = digest(source, path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read source '{path}': {e}"))?;
    Ok((theirs != ours).then_some("different"))
}

/// Streams one object across, returning the byte count and SHA-256 of what was read from the source.
pub(crate) async fn copy_object(
    source: &Arc<dyn ObjectStore>,
    destination: &Arc<dyn ObjectStore>,
    path: &Path,
) -> anyhow::Result<(u64, [u8; 32])> {
    let mut stream = source.get(path).await?.into_stream();
    let mut writer = BufWriter::new(destination.clone(), path.clone());
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                super::abort_upload(&mut writer).await;
                return Err(e.into());
            }
        };
        hasher.update(&chunk);
        written += chunk.len() as u64;
        if let Err(e) = writer.put(chunk).await {
            super::abort_upload(&mut writer).await;
            return Err(e.into());
        }
    }
    writer.shutdown().await?;
    Ok((written, hasher.finalize().into()))
}

/// Size and SHA-256 of an object, read as a stream.
async fn digest(store: &Arc<dyn ObjectStore>, path: &Path) -> anyhow::Result<(u64, [u8; 32])> {
    let mut stream = store.get(path).await?.into_stream();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok((size, hasher.finalize().into()))
}
