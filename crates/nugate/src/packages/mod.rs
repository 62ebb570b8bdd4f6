//! Package rules shared by the protocol endpoints, the web pages and the CLI: push, unlist/relist
//! (`listing`), ownership with its invitations (`owners`), and symbol packages (`symbols`).

pub mod advisories;
pub mod delete;
pub mod deprecation_by_key;
mod downloads;
mod listing;
mod owners;
mod prefixes;
pub mod symbols;
pub mod upload;
pub mod upstream;

pub use owners::AdminPackage;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use nuget_formats::{read_nupkg, NuGetVersion, Nupkg, NupkgLimits};

use crate::audit::{AuditLog, Event};
use crate::auth::keys::AuthenticatedKey;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::feed::FeedIndex;
use crate::mail::MailContext;
use crate::metrics::{KeyOutcome, Metrics};
use crate::model::audit::AuditAction;
use crate::model::policy::{self, Ownership};
use crate::model::scope::PackageAction;
use crate::remembered::Remembered;
use crate::storage::{PackageStorage, Staged};
use upload::ExtractedPackage;

/// Most packages whose owners a node remembers at once.
const MAX_REMEMBERED_PACKAGES: usize = 100_000;

/// The package service.
#[derive(Clone)]
pub struct PackageService {
    db: Db,
    storage: PackageStorage,
    tmp_dir: PathBuf,
    feed: Arc<FeedIndex>,
    mail: MailContext,
    metrics: Arc<Metrics>,
    audit: AuditLog,
    /// Owner account ids by registration, for keyed unlists and relists, so that the key adds no query
    /// to them: the key cache's promise holds (a removed owner is refused at once here, within
    /// `cache_ttl_ms` elsewhere); every ownership change here clears it. Pushes never use it.
    owner_cache: Arc<Remembered<i64, Vec<i64>>>,
    /// Downloads counted since the last flush.
    downloads: Arc<downloads::DownloadCounter>,
    /// Upstream feeds, for IDs this feed does not have.
    upstreams: Arc<upstream::Upstreams>,
}

/// A successful push.
#[derive(Debug)]
pub struct Pushed {
    pub id: String,
    pub version: String,
}

impl PackageService {
    /// Wraps the database and storage; `tmp_dir` holds uploads in flight; `feed` is told of every change;
    /// `mail` words the invitations.
    pub fn new(
        db: Db,
        storage: PackageStorage,
        tmp_dir: PathBuf,
        feed: Arc<FeedIndex>,
        mail: MailContext,
        metrics: Arc<Metrics>,
        audit: AuditLog,
    ) -> PackageService {
        let owner_cache = Arc::new(Remembered::new(feed.ttl(), MAX_REMEMBERED_PACKAGES));
        PackageService {
            db,
            storage,
            tmp_dir,
            feed,
            mail,
            metrics,
            audit,
            owner_cache,
            downloads: Arc::default(),
            upstreams: Arc::new(upstream::Upstreams::none()),
        }
    }

    /// The same service, serving IDs it does not have from `upstreams`.
    pub fn with_upstreams(self, upstreams: upstream::Upstreams) -> PackageService {
        PackageService {
            upstreams: Arc::new(upstreams),
            ..self
        }
    }

    /// What this server counts (storage errors on downloads are counted by their handler).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The in-memory view of the feed the read endpoints serve from.
    pub fn feed(&self) -> &FeedIndex {
        &self.feed
    }

    /// Where uploads are spooled.
    pub fn tmp_dir(&self) -> &std::path::Path {
        &self.tmp_dir
    }

    /// Validates and publishes an extracted package on behalf of `key`.
    ///
    /// The .nupkg is first uploaded to a staging key with no database lock held: an unreachable or full
    /// storage fails the push there (503 or 507) without making other writers wait. Then one write
    /// transaction decides everything: it creates the registration if needed, checks the key's scope and
    /// ownership against what it finds, inserts the version (the unique index makes exactly one of several
    /// concurrent pushes win), moves the staged file into place, writes the .nuspec, and only then commits.
    /// A failure or crash at any point leaves either nothing visible or an invisible orphan file.
    pub async fn push(
        &self,
        key: &AuthenticatedKey,
        package: ExtractedPackage,
    ) -> Result<Pushed, ApiError> {
        let nupkg = read_package(package.file.path()).await?;
        let spec = &nupkg.nuspec;
        let columns = VersionColumns::of(&nupkg)?;
        let version = columns.version.clone();

        let staged = self
            .storage
            .stage(package.file.path())
            .await
            .map_err(|e| storage_error(&self.metrics, e))?;
        let published = self.publish(key, &package, &nupkg, &staged, &columns).await;
        if published.is_err() {
            self.storage.discard(&staged).await;
        }
        published?;
        self.feed.changed();
        let m = &self.metrics;
        m.pushes.inc();
        m.bytes_stored.inc_by(package.size);
        tracing::info!(id = %spec.id, version = %version, user = %key.user.username, "package pushed");
        Ok(Pushed {
            id: spec.id.clone(),
            version,
        })
    }

    /// The transactional half of [`PackageService::push`], once the .nupkg is staged.
    async fn publish(
        &self,
        key: &AuthenticatedKey,
        package: &ExtractedPackage,
        nupkg: &Nupkg,
        staged: &Staged,
        columns: &VersionColumns,
    ) -> Result<(), ApiError> {
        let spec = &nupkg.nuspec;
        let (lower_id, lower_version, version) = (
            columns.lower_id.as_str(),
            columns.lower_version.as_str(),
            columns.version.as_str(),
        );
        let now = db::now();
        let mut tx = self.db.begin_write().await?;
        let (registration, mut created) =
            db::packages::ensure_registration(&mut tx, &spec.id, now, None).await?;
        if let Some(upstream) = &registration.upstream {
            // An ID cached from upstream becomes the feed's own only once its cached copies are gone,
            // so no restore ever mixes an internal version with public ones.
            if db::packages::version_count(&mut tx, registration.id).await? > 0 {
                return Err(ApiError::Conflict(format!(
                    "The ID '{}' holds packages cached from the upstream feed '{upstream}'. An \
                     administrator must remove them (nugate upstream forget {}) before it can be pushed.",
                    registration.package_id, registration.package_id
                )));
            }
            db::packages::claim_registration(&mut tx, registration.id, &spec.id).await?;
            created = true;
        }
        let action = if created {
            PackageAction::PushNew
        } else {
            PackageAction::PushVersion
        };
        let account = key.acting_account();
        let ownership = if created {
            Ownership::NewId
        } else {
            Ownership::Existing(db::packages::is_owner(&mut tx, registration.id, account).await?)
        };
        let pushed = Event::new(AuditAction::Push).package(&spec.id, Some(version));
        self.authorize(key, action, &spec.id, ownership, pushed.clone())?;
        if created {
            // A new ID under a reserved prefix is its owner's alone; a new ID pushed with an
            // organisation's key belongs to the organisation.
            // Read on the transaction's own connection: asking the pool for another while holding the
            // write lock could wait on connections that wait on this one.
            let prefixes = db::prefixes::all(&mut *tx).await?;
            if reserved_for_another(&prefixes, &spec.id, account) {
                return Err(ApiError::Conflict(RESERVED_MESSAGE.to_string()));
            }
            db::packages::add_owner(&mut tx, registration.id, account, now).await?;
        }
        let inserted = db::packages::insert_version(
            &mut tx,
            &columns.row(
                nupkg,
                registration.id,
                package,
                now,
                Some(key.user.id),
                true,
            ),
        )
        .await;
        match inserted {
            Ok(()) => {}
            Err(e) if db::is_unique_violation(&e) => {
                return Err(ApiError::Conflict(format!(
                "A package with ID '{}' and version '{}' already exists and cannot be modified.",
                spec.id, version
            )))
            }
            Err(e) => return Err(e.into()),
        }
        self.publish_files(staged, lower_id, lower_version, nupkg)
            .await?;
        if let Err(e) = db::packages::mark_changed(&mut tx, registration.id).await {
            self.storage.delete_package(lower_id, lower_version).await;
            return Err(e.into());
        }
        if let Err(e) = tx.commit().await {
            // A connection lost during COMMIT leaves unknown whether it happened: the files go only once
            // the database says the version is absent (otherwise the orphan sweep decides later).
            return match self.find_version(&spec.id, version).await {
                Ok(row) if row.package_hash.to_string() == package.sha512_base64 => {
                    self.audit
                        .record(pushed.with_key(&key.user, &key.key))
                        .await;
                    Ok(())
                }
                Ok(_) => Err(e.into()),
                Err(ApiError::NotFound(_)) => {
                    self.storage.delete_package(lower_id, lower_version).await;
                    Err(e.into())
                }
                Err(_) => Err(e.into()),
            };
        }
        // Recorded once the version is there for good: a record never claims a push that failed.
        self.audit
            .record(pushed.with_key(&key.user, &key.key))
            .await;
        Ok(())
    }

    /// Moves a staged .nupkg into place and writes its .nuspec, inside the caller's transaction: on failure
    /// whatever was written goes, and the caller's transaction rolls back.
    async fn publish_files(
        &self,
        staged: &Staged,
        lower_id: &str,
        lower_version: &str,
        nupkg: &Nupkg,
    ) -> Result<(), ApiError> {
        let written = self
            .storage
            .publish(
                staged,
                lower_id,
                lower_version,
                Bytes::from(nupkg.nuspec_bytes.clone()),
            )
            .await;
        if let Err(e) = written {
            self.storage.delete_package(lower_id, lower_version).await;
            return Err(storage_error(&self.metrics, e));
        }
        Ok(())
    }

    /// Finds a version by the ID and version a client typed (any case, any equivalent version form).
    pub async fn find_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<db::packages::PackageVersion, ApiError> {
        let normalized = normalized_or_not_found(id, version)?;
        db::packages::version(self.db.pool(), id, &normalized)
            .await?
            .ok_or_else(|| version_not_found(id, version))
    }

    /// Like [`PackageService::find_version`], from the in-memory feed: for reads, which must not cost a
    /// query each. The row comes without the stored .nuspec JSON.
    pub async fn find_indexed_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<db::packages::PackageVersion, ApiError> {
        let normalized = normalized_or_not_found(id, version)?;
        self.feed
            .version(id, &normalized)
            .await?
            .map(|(_, row)| row)
            .ok_or_else(|| version_not_found(id, version))
    }

    /// Deletes stored files that no committed version refers to and that are older than `min_age_secs`.
    pub async fn remove_orphans(&self, min_age_secs: i64) -> anyhow::Result<usize> {
        let known: HashSet<(String, String)> = db::packages::all_version_keys(self.db.pool())
            .await?
            .into_iter()
            .collect();
        self.storage.remove_orphans(&known, min_age_secs).await
    }

    /// The storage, for downloads.
    pub fn storage(&self) -> &PackageStorage {
        &self.storage
    }
}

/// NuGet.org's answer to a new ID under someone else's reserved prefix.
pub const RESERVED_MESSAGE: &str =
    "This package ID has been reserved. Please request access to use this prefix.";

/// Whether `id` falls under a prefix reserved for an account other than `account` (and none of its own).
fn reserved_for_another(prefixes: &[db::prefixes::Reservation], id: &str, account: i64) -> bool {
    let matching: Vec<_> = prefixes
        .iter()
        .filter(|p| crate::model::scope::subject_matches(&p.pattern, id))
        .collect();
    !matching.is_empty() && !matching.iter().any(|p| p.owner_id == account)
}

impl PackageService {
    /// The key-policy decision as the protocol answers it: NuGet.org's one message for every refusal.
    /// A key refused on a package its owner owns (a key used outside its scope) is recorded as the
    /// refused `attempt`; other refusals concern packages that are none of the key owner's business.
    fn authorize(
        &self,
        key: &AuthenticatedKey,
        action: PackageAction,
        package_id: &str,
        ownership: Ownership,
        attempt: Event,
    ) -> Result<(), ApiError> {
        policy::authorize(
            &key.key.actions,
            &key.key.subjects,
            action,
            package_id,
            ownership,
        )
        .map_err(|_| {
            self.metrics.key_check(KeyOutcome::OutOfScope);
            if ownership == Ownership::Existing(true) {
                self.audit.record_detached(
                    attempt
                        .with_key(&key.user, &key.key)
                        .refused()
                        .detail("outside the key's scope"),
                );
            }
            ApiError::invalid_key()
        })
    }
}

fn version_not_found(id: &str, version: &str) -> ApiError {
    ApiError::NotFound(format!(
        "A package with ID '{id}' and version '{version}' does not exist."
    ))
}

/// The normalised form of a version a client typed; text that is no version cannot name a package.
fn normalized_or_not_found(id: &str, version: &str) -> Result<String, ApiError> {
    NuGetVersion::parse(version)
        .map(|v| v.normalized())
        .map_err(|_| version_not_found(id, version))
}

/// Reads and checks a .nupkg on the blocking pool; a package that is not valid is a 400 with the reason.
async fn read_package(path: &std::path::Path) -> Result<Nupkg, ApiError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        Ok::<_, std::io::Error>(read_nupkg(
            std::io::BufReader::new(file),
            &NupkgLimits::default(),
        ))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The columns of a version row derived from its package, before any transaction: shared by pushes
/// and by packages cached from upstream, so both store a version the same way.
struct VersionColumns {
    version: String,
    full_version: String,
    lower_id: String,
    lower_version: String,
    metadata_json: String,
    tags: String,
    package_types: String,
    dependency_ids: String,
}

impl VersionColumns {
    fn of(nupkg: &Nupkg) -> Result<VersionColumns, ApiError> {
        let spec = &nupkg.nuspec;
        let version = spec.version.normalized();
        Ok(VersionColumns {
            lower_id: spec.id.to_lowercase(),
            lower_version: version.to_lowercase(),
            full_version: spec.version.full_string(),
            version,
            metadata_json: serde_json::to_string(&PackageMetadata::from_nupkg(nupkg))
                .map_err(anyhow::Error::from)?,
            tags: spec.tags.join(" "),
            package_types: spec
                .package_types
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            dependency_ids: db::packages::dependency_ids_text(
                spec.dependency_groups
                    .iter()
                    .flat_map(|g| g.dependencies.iter().map(|d| d.id.as_str())),
            ),
        })
    }

    /// The row to insert for `nupkg` (stored as `package`).
    fn row<'a>(
        &'a self,
        nupkg: &'a Nupkg,
        registration_id: i64,
        package: &'a ExtractedPackage,
        now: i64,
        pushed_by: Option<i64>,
        listed: bool,
    ) -> db::packages::NewPackageVersion<'a> {
        let spec = &nupkg.nuspec;
        db::packages::NewPackageVersion {
            registration_id,
            version: &self.version,
            full_version: &self.full_version,
            is_prerelease: spec.version.is_prerelease(),
            is_semver2: is_semver2_package(nupkg),
            title: spec.title.as_deref(),
            description: &spec.description,
            summary: spec.summary.as_deref(),
            authors: &spec.authors,
            tags: &self.tags,
            package_types: &self.package_types,
            metadata_json: &self.metadata_json,
            package_hash: &package.sha512_base64,
            package_size: i64::try_from(package.size).unwrap_or(i64::MAX),
            published_at: now,
            pushed_by,
            listed,
            dependency_ids: &self.dependency_ids,
        }
    }
}

/// A storage failure as the client sees it: 507 for a full disk, otherwise a 503 (an unreachable S3, a
/// read-only folder…) whose details go to the log, not to the client.
fn storage_error(metrics: &Metrics, err: anyhow::Error) -> ApiError {
    metrics.storage_errors.inc();
    if crate::error::is_disk_full(err.as_ref()) {
        tracing::error!(
            error = format!("{err:#}"),
            "package storage is out of space"
        );
        return ApiError::InsufficientStorage;
    }
    tracing::error!(error = format!("{err:#}"), "package storage failed");
    ApiError::Unavailable("the package storage cannot be reached".into())
}

/// NuGet counts a package as SemVer 2 if its version or any dependency range needs SemVer 2.
fn is_semver2_package(nupkg: &Nupkg) -> bool {
    nupkg.nuspec.version.is_semver2()
        || nupkg.nuspec.dependency_groups.iter().any(|g| {
            g.dependencies.iter().any(|d| {
                d.range.min().is_some_and(NuGetVersion::is_semver2)
                    || d.range.max().is_some_and(NuGetVersion::is_semver2)
            })
        })
}

/// Everything from the .nuspec the protocol documents need, stored as JSON beside the searchable columns.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PackageMetadata {
    pub nuspec: nuget_formats::Nuspec,
    /// The readme text when the package ships one (rendered by the web UI).
    pub readme: Option<String>,
    /// The license file's text, when the license is a file in the package.
    #[serde(default)]
    pub license_text: Option<String>,
    /// Target frameworks from `lib/`, `ref/` and the dependency groups (empty for versions pushed
    /// before they were recorded: the page then reads the dependency groups).
    #[serde(default)]
    pub frameworks: Vec<String>,
}

impl PackageMetadata {
    fn from_nupkg(nupkg: &Nupkg) -> PackageMetadata {
        PackageMetadata {
            nuspec: nupkg.nuspec.clone(),
            readme: nupkg.readme.clone(),
            license_text: nupkg.license_text.clone(),
            frameworks: nupkg.target_frameworks(),
        }
    }
}
