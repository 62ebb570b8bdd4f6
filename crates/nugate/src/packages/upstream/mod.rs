//! Upstream feeds: IDs this feed does not have are served from the upstreams' versions, and each
//! .nupkg a client asks for is fetched once, checked, stored as a cached package and served from storage
//! from then on, by every node.
//!
//! What an upstream says about an ID is kept in the database (`upstream_metadata`), shared by every
//! node, and asked again in the background once `upstream_cache_ttl_secs` have passed; when the upstream
//! is down, the last answer stays. Which IDs may come from upstream at all is
//! [`crate::model::upstream::UpstreamCheck`]'s rule, so an internal ID never gets a public version.

mod admin;
mod client;

pub use admin::UpstreamVerdict;

pub use client::{UpstreamClient, UpstreamError, UpstreamVersion};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nuget_formats::NuGetVersion;

use super::{read_package, storage_error, PackageService, VersionColumns};
use crate::audit::Event;
use crate::config::Config;
use crate::db::{self, packages::PackageVersion, upstream::StoredMetadata};
use crate::error::ApiError;
use crate::feed::IndexedPackage;
use crate::model::audit::AuditAction;
use crate::model::upstream::{UpstreamCheck, UpstreamRule, Withheld};
use crate::remembered::{Flights, Remembered};

/// One upstream's last answer about an ID.
struct Answer {
    fetched_at: i64,
    /// `None`: the upstream has no such ID.
    versions: Option<Arc<Vec<UpstreamVersion>>>,
}

/// The upstreams and what this node remembers of them.
pub struct Upstreams {
    clients: Vec<UpstreamClient>,
    ttl_secs: i64,
    max_package_size: u64,
    /// Answers read from the database, trusted for `cache_ttl_ms` so a busy ID costs no query each.
    answers: Remembered<(usize, String), Arc<Answer>>,
    /// Reserved prefixes and rules, trusted for `cache_ttl_ms` too.
    rules: Remembered<(), Arc<RuleSet>>,
    /// One fetch at a time per ID or file on this node: concurrent first requests wait for it.
    flights: Flights<String>,
    /// Answers being asked again in the background.
    refreshing: Mutex<HashSet<(usize, String)>>,
}

#[derive(Default)]
struct RuleSet {
    reserved: Vec<String>,
    rules: Vec<(UpstreamRule, String)>,
}

impl Upstreams {
    /// The upstreams `config` lists (none: every method answers "not from upstream" at once).
    pub fn from_config(config: &Config) -> Upstreams {
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        Upstreams {
            clients: config
                .upstreams
                .iter()
                .cloned()
                .map(UpstreamClient::new)
                .collect(),
            ttl_secs: i64::try_from(config.upstream_cache_ttl_secs).unwrap_or(i64::MAX),
            max_package_size: config.max_package_size,
            answers: Remembered::new(ttl, 100_000),
            rules: Remembered::new(ttl, 1),
            flights: Flights::default(),
            refreshing: Mutex::default(),
        }
    }

    /// No upstream at all.
    pub fn none() -> Upstreams {
        Upstreams::from_config(&Config::default())
    }

    /// The upstreams' names, in the order they are asked.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.clients.iter().map(UpstreamClient::label)
    }

    fn flight(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        self.flights.of(key)
    }
}

/// A version an upstream-served ID offers: cached here already, or only upstream so far.
#[derive(Clone, Debug)]
pub enum MirroredVersion {
    Cached(PackageVersion),
    Upstream(UpstreamVersion),
}

impl MirroredVersion {
    /// The normalised version.
    pub fn version(&self) -> &str {
        match self {
            MirroredVersion::Cached(row) => &row.version,
            MirroredVersion::Upstream(v) => &v.version,
        }
    }

    pub fn listed(&self) -> bool {
        match self {
            MirroredVersion::Cached(row) => row.listed,
            MirroredVersion::Upstream(v) => v.listed,
        }
    }
}

/// Everything the upstreams (and this feed's cache of them) offer for an ID.
pub struct Mirrored {
    /// The ID as the first source spells it.
    pub id: String,
    /// Lowest version first.
    pub versions: Vec<MirroredVersion>,
    /// Changes whenever what is offered may have changed: for the rendered documents' cache keys.
    pub stamp: i64,
}

/// Where the versions of an ID come from.
pub enum Resolved {
    /// The feed's own package (or one cached from an upstream no longer configured).
    Local(Arc<IndexedPackage>),
    /// An ID served from upstream feeds.
    Mirrored(Mirrored),
}

impl PackageService {
    /// The versions of `id` the protocol serves: the feed's own, or the upstreams'; `None` for neither.
    pub async fn resolve(&self, id: &str) -> Result<Option<Resolved>, ApiError> {
        let package = self.feed.package(id).await?;
        match package {
            Some(p) if p.upstream.is_none() || self.upstreams.clients.is_empty() => {
                Ok(Some(Resolved::Local(p)))
            }
            cached => Ok(self
                .mirrored(id, cached.as_deref())
                .await?
                .map(Resolved::Mirrored)),
        }
    }

    /// The version a download names: the feed's own, a cached copy that may still be served, or one
    /// fetched from upstream now.
    pub async fn downloadable_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<PackageVersion, ApiError> {
        let normalized = super::normalized_or_not_found(id, version)?;
        match self.feed.version(id, &normalized).await? {
            Some((package, row)) => {
                if package.upstream.is_none() || self.cached_copy_servable(&package).await? {
                    Ok(row)
                } else {
                    Err(super::version_not_found(id, version))
                }
            }
            None => self.fetch_from_upstream(id, version).await,
        }
    }

    /// Whether any upstream is configured.
    pub fn has_upstreams(&self) -> bool {
        !self.upstreams.clients.is_empty()
    }

    /// The upstreams, for their names.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    async fn rule_set(&self) -> Result<Arc<RuleSet>, ApiError> {
        let memory = &self.upstreams.rules;
        if let Some(rules) = memory.with(&(), Arc::clone) {
            return Ok(rules);
        }
        let generation = memory.generation();
        let rules = Arc::new(RuleSet {
            reserved: db::prefixes::all(self.db.pool())
                .await?
                .into_iter()
                .map(|p| p.pattern)
                .collect(),
            rules: db::upstream::rules(self.db.pool()).await?,
        });
        memory.put(generation, (), Arc::clone(&rules));
        Ok(rules)
    }

    /// Why upstream `client` may not supply `id`, if it may not; `cached` is the feed's package.
    async fn withheld(
        &self,
        id: &str,
        cached: Option<&IndexedPackage>,
        allow_list: bool,
    ) -> Result<Option<Withheld>, ApiError> {
        let rules = self.rule_set().await?;
        Ok(UpstreamCheck {
            id,
            local: cached.is_some_and(|p| p.upstream.is_none()),
            reserved: &rules.reserved,
            rules: &rules.rules,
        }
        .decide(allow_list)
        .err())
    }

    /// Whether a package cached from upstream may still be served (a rule added since may withhold it).
    pub async fn cached_copy_servable(&self, package: &IndexedPackage) -> Result<bool, ApiError> {
        if package.upstream.is_none() {
            return Ok(true);
        }
        // Cached copies stay servable under an open upstream's rules, whichever upstream it was.
        let allow_list = self
            .upstreams
            .clients
            .iter()
            .find(|c| Some(c.label()) == package.upstream.as_deref())
            .is_some_and(UpstreamClient::allow_list);
        Ok(self
            .withheld(&package.package_id, Some(package), allow_list)
            .await?
            .is_none())
    }

    /// What the upstreams offer for `id`, merged with the versions cached from them; `None` when `id` is
    /// the feed's own, withheld from upstreams, or found nowhere. An upstream that cannot be asked is
    /// skipped while another answers or something is cached; when none can, the answer is a 502 that
    /// names them.
    pub async fn mirrored(
        &self,
        id: &str,
        cached: Option<&IndexedPackage>,
    ) -> Result<Option<Mirrored>, ApiError> {
        if self.upstreams.clients.is_empty() || cached.is_some_and(|p| p.upstream.is_none()) {
            return Ok(None);
        }
        let lower_id = id.to_lowercase();
        let mut merged: Vec<(Option<NuGetVersion>, MirroredVersion)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stamp = cached.map_or(0, |p| p.changed_seq);
        let mut display_id = cached.map(|p| p.package_id.clone());
        if let Some(package) = cached {
            if !self.cached_copy_servable(package).await? {
                return Ok(None);
            }
            for v in &package.versions {
                seen.insert(v.row.version.to_lowercase());
                merged.push((
                    NuGetVersion::parse(&v.row.version).ok(),
                    MirroredVersion::Cached(v.row.clone()),
                ));
            }
        }
        let mut failures = Vec::new();
        let mut asked = 0;
        for (index, client) in self.upstreams.clients.iter().enumerate() {
            if self
                .withheld(id, cached, client.allow_list())
                .await?
                .is_some()
            {
                continue;
            }
            asked += 1;
            let answer = match self.answer(index, &lower_id).await {
                Ok(answer) => answer,
                Err(e) => {
                    failures.push(format!(
                        "the upstream feed '{}' failed: {e}",
                        client.label()
                    ));
                    continue;
                }
            };
            stamp = stamp.wrapping_mul(31).wrapping_add(answer.fetched_at);
            for v in answer.versions.iter().flat_map(|vs| vs.iter()) {
                if seen.insert(v.version.to_lowercase()) {
                    if display_id.is_none() {
                        display_id = v.entry["id"].as_str().map(str::to_string);
                    }
                    merged.push((
                        NuGetVersion::parse(&v.version).ok(),
                        MirroredVersion::Upstream(v.clone()),
                    ));
                }
            }
        }
        if merged.is_empty() {
            if asked > 0 && failures.len() == asked {
                return Err(ApiError::Upstream(format!(
                    "'{id}' is not cached here and cannot be fetched now: {}.",
                    failures.join("; ")
                )));
            }
            return Ok(None);
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(Mirrored {
            id: display_id.unwrap_or_else(|| id.to_string()),
            versions: merged.into_iter().map(|(_, v)| v).collect(),
            stamp,
        }))
    }

    /// Upstream `index`'s answer about `lower_id`: remembered, stored (asked again in the background
    /// when older than the TTL), or asked now when it never was.
    async fn answer(&self, index: usize, lower_id: &str) -> Result<Arc<Answer>, ApiError> {
        let upstreams = &self.upstreams;
        let key = (index, lower_id.to_string());
        if let Some(answer) = upstreams.answers.with(&key, Arc::clone) {
            return Ok(answer);
        }
        let generation = upstreams.answers.generation();
        let Some(client) = upstreams.clients.get(index) else {
            return Err(ApiError::Internal(anyhow::anyhow!("no upstream {index}")));
        };
        let stored = db::upstream::metadata(self.db.pool(), client.label(), lower_id).await?;
        let answer = match stored {
            Some(stored) => {
                let answer = Arc::new(answer_of(&stored)?);
                if self.db.now() - stored.fetched_at >= upstreams.ttl_secs {
                    self.refresh_in_background(index, lower_id);
                }
                answer
            }
            None => {
                let flight = upstreams.flight(format!("meta {index} {lower_id}"));
                let _turn = flight.lock().await;
                match db::upstream::metadata(self.db.pool(), client.label(), lower_id).await? {
                    Some(stored) => Arc::new(answer_of(&stored)?),
                    None => self.ask(index, lower_id).await?,
                }
            }
        };
        upstreams.answers.put(generation, key, Arc::clone(&answer));
        Ok(answer)
    }

    /// Asks upstream `index` about `lower_id` now and stores its answer for every node.
    async fn ask(&self, index: usize, lower_id: &str) -> Result<Arc<Answer>, ApiError> {
        let Some(client) = self.upstreams.clients.get(index) else {
            return Err(ApiError::Internal(anyhow::anyhow!("no upstream {index}")));
        };
        let versions = client
            .versions(lower_id)
            .await
            .map_err(|e| ApiError::Upstream(e.to_string()))?;
        let stored = StoredMetadata {
            fetched_at: self.db.now(),
            found: versions.is_some(),
            versions_json: serde_json::to_string(&versions.clone().unwrap_or_default())
                .map_err(anyhow::Error::from)?,
        };
        db::upstream::put_metadata(self.db.pool(), client.label(), lower_id, &stored).await?;
        self.metrics.upstream_requests.inc();
        Ok(Arc::new(Answer {
            fetched_at: stored.fetched_at,
            versions: versions.map(Arc::new),
        }))
    }

    /// Asks again without making the reader wait; a failure keeps the stored answer.
    fn refresh_in_background(&self, index: usize, lower_id: &str) {
        let key = (index, lower_id.to_string());
        {
            let mut refreshing = self
                .upstreams
                .refreshing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !refreshing.insert(key.clone()) {
                return;
            }
        }
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.ask(key.0, &key.1).await {
                tracing::warn!(id = %key.1, error = %e, "cannot refresh an upstream's versions; the last answer stays");
            }
            service.upstreams.answers.invalidate();
            service
                .upstreams
                .refreshing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&key);
        });
    }

    /// `id` `version` from upstream, cached in this feed's storage (fetched now when it is not yet):
    /// `NotFound` when no upstream may or does supply it.
    pub async fn fetch_from_upstream(
        &self,
        id: &str,
        version: &str,
    ) -> Result<PackageVersion, ApiError> {
        let not_found = || super::version_not_found(id, version);
        let normalized = NuGetVersion::parse(version)
            .map(|v| v.normalized())
            .map_err(|_| not_found())?;
        if self.upstreams.clients.is_empty() {
            return Err(not_found());
        }
        let cached = self.feed.package(id).await?;
        let Some(mirrored) = self.mirrored(id, cached.as_deref()).await? else {
            return Err(not_found());
        };
        let wanted = mirrored
            .versions
            .iter()
            .find(|v| v.version().eq_ignore_ascii_case(&normalized));
        if let Some(MirroredVersion::Cached(row)) = wanted {
            return Ok(row.clone());
        }
        // Cached as the upstream lists it (a version only reachable by its exact number stays unlisted).
        let listed = wanted.is_none_or(MirroredVersion::listed);
        let lower_id = id.to_lowercase();
        let lower_version = normalized.to_lowercase();
        let flight = self
            .upstreams
            .flight(format!("file {lower_id} {lower_version}"));
        let _turn = flight.lock().await;
        // Another request (or node) may have cached it while this one waited.
        if let Some((_, row)) = self.feed.version(id, &normalized).await? {
            return Ok(row);
        }
        let mut failures = Vec::new();
        for client in &self.upstreams.clients {
            if self
                .withheld(id, cached.as_deref(), client.allow_list())
                .await?
                .is_some()
            {
                continue;
            }
            let spool = tempfile::NamedTempFile::new_in(&self.tmp_dir)
                .map_err(|e| ApiError::from_io("cannot create a download file", e))?;
            match client
                .download(
                    &lower_id,
                    &lower_version,
                    spool.path(),
                    self.upstreams.max_package_size,
                )
                .await
            {
                Ok(true) => {
                    self.metrics.upstream_requests.inc();
                    return self
                        .store_cached(client.label(), id, &normalized, listed, spool)
                        .await;
                }
                Ok(false) => {}
                Err(e) => failures.push(format!(
                    "the upstream feed '{}' failed: {e}",
                    client.label()
                )),
            }
        }
        if failures.is_empty() {
            Err(not_found())
        } else {
            Err(ApiError::Upstream(format!(
                "{id} {version} is not cached here and cannot be fetched now: {}.",
                failures.join("; ")
            )))
        }
    }

    /// Checks a .nupkg fetched from `upstream` for `id` `version` and stores it as a cached version. A
    /// package that is not what was asked for (another ID or version, not a valid package) is refused,
    /// and nothing is stored.
    async fn store_cached(
        &self,
        upstream: &str,
        id: &str,
        version: &str,
        listed: bool,
        spool: tempfile::NamedTempFile,
    ) -> Result<PackageVersion, ApiError> {
        let refused = |why: String| {
            self.metrics.upstream_refused.inc();
            tracing::warn!(%upstream, %id, %version, %why, "upstream package refused");
            self.audit.record_detached(
                Event::new(AuditAction::UpstreamCache)
                    .package(id, Some(version))
                    .refused()
                    .detail(format!("from {upstream}: {why}")),
            );
            ApiError::Upstream(format!(
                "The upstream feed '{upstream}' answered the request for {id} {version} with {why}; it was refused and nothing was stored."
            ))
        };
        let tmp_dir = self.tmp_dir.clone();
        let max = self.upstreams.max_package_size;
        let package = tokio::task::spawn_blocking(move || {
            super::upload::extract_package(spool, None, &tmp_dir, max)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
        let nupkg = read_package(package.file.path())
            .await
            .map_err(|e| refused(format!("a package that is not valid ({e})")))?;
        let spec = &nupkg.nuspec;
        let columns = VersionColumns::of(&nupkg)?;
        if !spec.id.eq_ignore_ascii_case(id) || !columns.version.eq_ignore_ascii_case(version) {
            return Err(refused(format!(
                "a package whose .nuspec says {} {}",
                spec.id, columns.version
            )));
        }
        let staged = self
            .storage
            .stage(package.file.path())
            .await
            .map_err(|e| storage_error(&self.metrics, e))?;
        let stored = self
            .insert_cached(upstream, &nupkg, &package, &staged, &columns, listed)
            .await;
        if stored.is_err() {
            self.storage.discard(&staged).await;
        }
        stored?;
        self.feed.changed();
        tracing::info!(%upstream, id = %spec.id, version = %columns.version, "package cached from upstream");
        // What entered the feed, when, and from which upstream.
        self.audit
            .record(
                Event::new(AuditAction::UpstreamCache)
                    .package(&spec.id, Some(&columns.version))
                    .detail(format!("from {upstream}")),
            )
            .await;
        self.find_indexed_version(id, version).await
    }

    /// The transaction of [`PackageService::store_cached`]: like a push's, with no owner and the
    /// registration marked with its upstream. A version another node cached meanwhile is kept as is.
    async fn insert_cached(
        &self,
        upstream: &str,
        nupkg: &nuget_formats::Nupkg,
        package: &super::upload::ExtractedPackage,
        staged: &crate::storage::Staged,
        columns: &VersionColumns,
        listed: bool,
    ) -> Result<(), ApiError> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let (registration, _) =
            db::packages::ensure_registration(&mut tx, &nupkg.nuspec.id, now, Some(upstream))
                .await?;
        if registration.upstream.is_none() {
            // Pushed here meanwhile: the feed's own ID never takes an upstream version.
            return Err(super::version_not_found(&nupkg.nuspec.id, &columns.version));
        }
        let row = columns.row(nupkg, registration.id, package, now, None, listed);
        match db::packages::insert_version(&mut tx, &row).await {
            Ok(()) => {}
            Err(e) if db::is_unique_violation(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.publish_files(staged, &columns.lower_id, &columns.lower_version, nupkg)
            .await?;
        db::packages::mark_changed(&mut tx, registration.id).await?;
        tx.commit().await?;
        self.metrics.bytes_stored.inc_by(package.size);
        Ok(())
    }
}

fn answer_of(stored: &StoredMetadata) -> Result<Answer, ApiError> {
    let versions = if stored.found {
        let versions: Vec<UpstreamVersion> = serde_json::from_str(&stored.versions_json)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored upstream versions: {e}")))?;
        Some(Arc::new(versions))
    } else {
        None
    };
    Ok(Answer {
        fetched_at: stored.fetched_at,
        versions,
    })
}
