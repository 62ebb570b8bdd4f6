//! Package files behind `object_store`, laid out like the flat container
//! (`{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg` and `{lower_id}.nuspec`), so a folder today
//! and an S3 bucket tomorrow hold the same keys.
//!
//! A push first uploads its .nupkg to a staging key (`.uploads/{token}/nupkg`, never a package path: an ID
//! cannot start with a dot) with no database lock held, so a slow or unreachable store never blocks other
//! writers. Inside the push's transaction the staged file is then moved into place and the .nuspec written,
//! before the row that makes them visible commits; a file without a row (a staged leftover included) is an
//! invisible orphan that [`PackageStorage::remove_orphans`] deletes.
//!
//! A version's symbols live in its folder too: `{lower_id}.{lower_version}.snupkg` and each portable PDB
//! as `symbols-{ssqp key}-{lower pdb name}`, staged and moved into place the same way, so the sweep
//! treats them like the version's other files.

pub mod migrate;

use std::collections::HashSet;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use tokio::io::AsyncWriteExt;

/// rustls needs one process-wide crypto provider (for S3 and for nugate's own https); ring is the one
/// already in the build.
pub(crate) fn install_tls_provider() {
    // An error means a provider is installed already (a second storage in one process): as good.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a TLS crypto provider was already installed");
    }
}

/// Abandons a multipart upload after a failure; the failure being reported matters more than this
/// clean-up's own, which is only logged (an unfinished upload is also removed by the store's expiry).
pub(crate) async fn abort_upload(writer: &mut BufWriter) {
    if let Err(e) = writer.abort().await {
        tracing::debug!(error = %e, "abandoning an unfinished upload failed");
    }
}

/// Where package files live.
#[derive(Clone)]
pub struct PackageStorage {
    store: Arc<dyn ObjectStore>,
}

/// How long one S3 request may take, retries included, unless configured otherwise (`storage_timeout_secs`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Staging keys live under this folder; package IDs cannot start with a dot, so it never names a package.
pub(crate) const STAGING: &str = ".uploads";

/// A .nupkg uploaded to its staging key, waiting for [`PackageStorage::publish`] or
/// [`PackageStorage::discard`].
#[derive(Debug)]
pub struct Staged {
    nupkg: Path,
}

/// A package file being streamed out.
pub struct Download {
    pub size: u64,
    pub stream: futures_util::stream::BoxStream<'static, object_store::Result<Bytes>>,
}

impl PackageStorage {
    /// Opens the storage a `storage_url` names: a folder path, or `s3://BUCKET[/prefix]` with endpoint,
    /// region and credentials from the standard `AWS_*` variables, as every S3 tool reads them.
    pub fn from_url(url: &str) -> anyhow::Result<PackageStorage> {
        Self::from_url_with_timeout(url, DEFAULT_TIMEOUT, std::iter::empty())
    }

    /// Like [`PackageStorage::from_url`], with S3 settings (`aws_endpoint`, `aws_allow_http`, …) applied
    /// over the environment's.
    pub fn from_url_with_options(
        url: &str,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<PackageStorage> {
        Self::from_url_with_timeout(url, DEFAULT_TIMEOUT, options)
    }

    /// Like [`PackageStorage::from_url_with_options`], with a bound on S3 requests.
    ///
    /// object_store's defaults retry an unreachable server for up to three minutes and cut any response
    /// (a large download to a slow client included) after 30 seconds. Here, instead, `timeout` bounds
    /// connecting, retrying, and each wait for data, so an outage fails a request (as a 503) in about
    /// `timeout` while a long transfer that keeps moving is not cut.
    pub fn from_url_with_timeout(
        url: &str,
        timeout: Duration,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<PackageStorage> {
        let Some(rest) = url.strip_prefix("s3://") else {
            return Self::local(FsPath::new(url.strip_prefix("file://").unwrap_or(url)));
        };
        install_tls_provider();
        let (bucket, prefix) = match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            anyhow::bail!("storage_url '{url}' names no bucket: use s3://BUCKET[/prefix]");
        }
        let timeout = timeout.max(Duration::from_secs(1));
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_read_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(5)));
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: (timeout / 4).min(Duration::from_secs(5)),
                base: 2.0,
            },
            max_retries: 10,
            retry_timeout: timeout,
        };
        // Our client options first: `with_client_options` replaces them all, so applied after `from_env` it
        // would drop `AWS_ALLOW_HTTP` and the like. The `AWS_*` variables then go on top, as `from_env` does.
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_client_options(client)
            .with_retry(retry);
        for (key, value) in std::env::vars_os() {
            if let (Some(key), Some(value)) = (key.to_str(), value.to_str()) {
                if key.starts_with("AWS_") {
                    if let Ok(key) = key.to_ascii_lowercase().parse() {
                        builder = builder.with_config(key, value);
                    }
                }
            }
        }
        builder = builder.with_bucket_name(bucket);
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey = key
                .parse()
                .map_err(|e| anyhow::anyhow!("unknown S3 setting '{key}': {e}"))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .build()
            .map_err(|e| anyhow::anyhow!("cannot configure S3 storage '{url}': {e}"))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        Ok(PackageStorage { store })
    }

    /// A folder on local disk (created if missing).
    pub fn local(root: &FsPath) -> anyhow::Result<PackageStorage> {
        std::fs::create_dir_all(root)
            .map_err(|e| anyhow::anyhow!("cannot create package folder {}: {e}", root.display()))?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| anyhow::anyhow!("cannot open package folder {}: {e}", root.display()))?
            .with_automatic_cleanup(true);
        Ok(PackageStorage {
            store: Arc::new(store),
        })
    }

    pub(crate) fn nupkg_path(lower_id: &str, lower_version: &str) -> Path {
        Path::from_iter([
            lower_id,
            lower_version,
            &format!("{lower_id}.{lower_version}.nupkg"),
        ])
    }

    pub(crate) fn nuspec_path(lower_id: &str, lower_version: &str) -> Path {
        Path::from_iter([lower_id, lower_version, &format!("{lower_id}.nuspec")])
    }

    /// Where a version's symbol package lives.
    pub fn snupkg_path(lower_id: &str, lower_version: &str) -> Path {
        Path::from_iter([
            lower_id,
            lower_version,
            &format!("{lower_id}.{lower_version}.snupkg"),
        ])
    }

    /// Where one of a version's PDBs lives (`ssqp_key` and `file_name_lower` as recorded).
    pub fn pdb_path(
        lower_id: &str,
        lower_version: &str,
        ssqp_key: &str,
        file_name_lower: &str,
    ) -> Path {
        Path::from_iter([
            lower_id,
            lower_version,
            &format!("symbols-{ssqp_key}-{file_name_lower}"),
        ])
    }

    /// Moves staged symbol files into place: the `.snupkg`, then each PDB (staged, key, lower name). On
    /// failure the caller removes what was moved ([`PackageStorage::delete_symbols`]).
    pub async fn publish_symbols(
        &self,
        snupkg: &Staged,
        pdbs: &[(Staged, String, String)],
        lower_id: &str,
        lower_version: &str,
    ) -> anyhow::Result<()> {
        self.store
            .rename(&snupkg.nupkg, &Self::snupkg_path(lower_id, lower_version))
            .await?;
        for (staged, key, name) in pdbs {
            self.store
                .rename(
                    &staged.nupkg,
                    &Self::pdb_path(lower_id, lower_version, key, name),
                )
                .await?;
        }
        Ok(())
    }

    /// Removes a version's symbol files (best effort: a leftover is reported by `nugate check`, and swept
    /// with its version).
    pub async fn delete_symbols(
        &self,
        lower_id: &str,
        lower_version: &str,
        pdbs: &[(String, String)],
    ) {
        let mut paths = vec![Self::snupkg_path(lower_id, lower_version)];
        paths.extend(
            pdbs.iter()
                .map(|(key, name)| Self::pdb_path(lower_id, lower_version, key, name)),
        );
        futures_util::future::join_all(paths.iter().map(|p| self.delete_quietly(p))).await;
    }

    /// Opens a stored PDB for streaming.
    pub async fn pdb(
        &self,
        lower_id: &str,
        lower_version: &str,
        ssqp_key: &str,
        file_name_lower: &str,
    ) -> anyhow::Result<Download> {
        self.open(&Self::pdb_path(
            lower_id,
            lower_version,
            ssqp_key,
            file_name_lower,
        ))
        .await
    }

    /// Copies a version's .nupkg into the local file `dest` (streamed), for reading entries from it.
    pub async fn nupkg_to_file(
        &self,
        lower_id: &str,
        lower_version: &str,
        dest: &FsPath,
    ) -> anyhow::Result<u64> {
        let mut download = self.nupkg(lower_id, lower_version).await?;
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(dest).await?);
        let mut written = 0u64;
        while let Some(chunk) = download.stream.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(written)
    }

    /// Uploads a .nupkg (streamed from `nupkg_file`) to a fresh staging key. Nothing is locked meanwhile;
    /// on failure the partial upload is aborted or deleted (a cut connection may still leave an orphan,
    /// which the sweep removes).
    pub async fn stage(&self, nupkg_file: &FsPath) -> anyhow::Result<Staged> {
        let token = crate::tokens::random_token();
        let staged = Staged {
            nupkg: Path::from_iter([STAGING, token.as_str(), "nupkg"]),
        };
        let mut source = tokio::fs::File::open(nupkg_file).await?;
        let mut writer = BufWriter::new(self.store.clone(), staged.nupkg.clone());
        match tokio::io::copy(&mut source, &mut writer).await {
            Ok(_) => {}
            Err(e) => {
                abort_upload(&mut writer).await;
                return Err(e.into());
            }
        }
        if let Err(e) = writer.shutdown().await {
            // A cut connection may have let the PUT land after all. Deleting it in the background lets the
            // client have its answer now; the key is this push's own, and a leftover is a swept orphan.
            let storage = self.clone();
            tokio::spawn(async move { storage.discard(&staged).await });
            return Err(e.into());
        }
        Ok(staged)
    }

    /// Moves a staged .nupkg to its package path and writes the .nuspec beside it: a rename on disk, a
    /// server-side copy on S3, so it is quick however large the package is.
    pub async fn publish(
        &self,
        staged: &Staged,
        lower_id: &str,
        lower_version: &str,
        nuspec: Bytes,
    ) -> anyhow::Result<()> {
        self.store
            .rename(&staged.nupkg, &Self::nupkg_path(lower_id, lower_version))
            .await?;
        self.store
            .put(
                &Self::nuspec_path(lower_id, lower_version),
                PutPayload::from_bytes(nuspec),
            )
            .await?;
        Ok(())
    }

    /// Deletes a staged upload that will not be published (best effort: a leftover is an orphan).
    pub async fn discard(&self, staged: &Staged) {
        self.delete_quietly(&staged.nupkg).await;
    }

    /// Removes one version's files (used when a push fails after moving its file into place).
    pub async fn delete_package(&self, lower_id: &str, lower_version: &str) {
        // Both at once: during an outage each delete waits out the storage timeout, and the caller may be
        // holding the write transaction.
        let (nupkg, nuspec) = (
            Self::nupkg_path(lower_id, lower_version),
            Self::nuspec_path(lower_id, lower_version),
        );
        tokio::join!(self.delete_quietly(&nupkg), self.delete_quietly(&nuspec));
    }

    async fn delete_quietly(&self, path: &Path) {
        if let Err(e) = self.store.delete(path).await {
            if !matches!(e, object_store::Error::NotFound { .. }) {
                tracing::warn!(%path, error = %e, "could not delete package file");
            }
        }
    }

    /// Opens the .nupkg of a version for streaming.
    pub async fn nupkg(&self, lower_id: &str, lower_version: &str) -> anyhow::Result<Download> {
        self.open(&Self::nupkg_path(lower_id, lower_version)).await
    }

    /// Opens the .nuspec of a version for streaming.
    pub async fn nuspec(&self, lower_id: &str, lower_version: &str) -> anyhow::Result<Download> {
        self.open(&Self::nuspec_path(lower_id, lower_version)).await
    }

    async fn open(&self, path: &Path) -> anyhow::Result<Download> {
        let result = self.store.get(path).await?;
        Ok(Download {
            size: result.meta.size,
            stream: result.into_stream(),
        })
    }

    /// Deletes files whose version has no database row and that are older than `min_age_secs` (younger ones
    /// may belong to a push still in progress). Returns how many versions were removed.
    pub async fn remove_orphans(
        &self,
        known: &HashSet<(String, String)>,
        min_age_secs: i64,
    ) -> anyhow::Result<usize> {
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(min_age_secs);
        let mut listing = self.store.list(None);
        let mut orphans = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let parts: Vec<String> = meta
                .location
                .parts()
                .map(|p| p.as_ref().to_string())
                .collect();
            let [id, version, _file] = parts.as_slice() else {
                continue;
            };
            if meta.last_modified < cutoff && !known.contains(&(id.clone(), version.clone())) {
                orphans.push(meta.location);
            }
        }
        let mut versions = HashSet::new();
        for path in &orphans {
            let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_string()).collect();
            if let [id, version, _] = parts.as_slice() {
                versions.insert((id.clone(), version.clone()));
            }
            if let Err(e) = self.store.delete(path).await {
                tracing::warn!(%path, error = %e, "could not delete orphaned file");
            }
        }
        Ok(versions.len())
    }

    /// Every stored file's path and size, for copying between backends.
    pub async fn list_files(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let mut listing = self.store.list(None);
        let mut files = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            files.push((meta.location.to_string(), meta.size));
        }
        files.sort();
        Ok(files)
    }

    /// The underlying object store, for tools that move files between backends.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Readiness probe.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut listing = self.store.list(None);
        if let Some(Err(e)) = listing.next().await {
            return Err(e.into());
        }
        Ok(())
    }
}
