//! Package files behind `object_store`, laid out like the flat container
//! (`{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg` and `{lower_id}.nuspec`), so a folder today
//! and an S3 bucket tomorrow hold the same keys.
//!
//! Files are written before the database row that makes them visible commits; a file without a row is an
//! invisible orphan that [`PackageStorage::remove_orphans`] deletes.

pub mod migrate;

use std::collections::HashSet;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

/// rustls needs one process-wide crypto provider; ring is the one already in the build.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where package files live.
#[derive(Clone)]
pub struct PackageStorage {
    store: Arc<dyn ObjectStore>,
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
        Self::from_url_with_options(url, std::iter::empty())
    }

    /// Like [`PackageStorage::from_url`], with S3 settings (`aws_endpoint`, `aws_allow_http`, …) applied
    /// over the environment's.
    pub fn from_url_with_options(
        url: &str,
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
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
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

    fn nupkg_path(lower_id: &str, lower_version: &str) -> Path {
        Path::from_iter([
            lower_id,
            lower_version,
            &format!("{lower_id}.{lower_version}.nupkg"),
        ])
    }

    fn nuspec_path(lower_id: &str, lower_version: &str) -> Path {
        Path::from_iter([lower_id, lower_version, &format!("{lower_id}.nuspec")])
    }

    /// Stores one version's .nupkg (streamed from `nupkg_file`) and .nuspec.
    pub async fn put_package(
        &self,
        lower_id: &str,
        lower_version: &str,
        nupkg_file: &FsPath,
        nuspec: Bytes,
    ) -> anyhow::Result<()> {
        let mut source = tokio::fs::File::open(nupkg_file).await?;
        let mut writer = BufWriter::new(
            self.store.clone(),
            Self::nupkg_path(lower_id, lower_version),
        );
        let copied = tokio::io::copy(&mut source, &mut writer).await;
        match copied {
            Ok(_) => writer.shutdown().await?,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        }
        self.store
            .put(
                &Self::nuspec_path(lower_id, lower_version),
                PutPayload::from_bytes(nuspec),
            )
            .await?;
        Ok(())
    }

    /// Removes one version's files (used when the database refuses the row after the upload).
    pub async fn delete_package(&self, lower_id: &str, lower_version: &str) {
        for path in [
            Self::nupkg_path(lower_id, lower_version),
            Self::nuspec_path(lower_id, lower_version),
        ] {
            if let Err(e) = self.store.delete(&path).await {
                if !matches!(e, object_store::Error::NotFound { .. }) {
                    tracing::warn!(%path, error = %e, "could not delete package file");
                }
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
