//! The in-memory view of the feed that restore and search read from, kept current from the database.
//!
//! Restores ask for the same few documents thousands of times between two pushes, and search must rank
//! every package on each query; going to the database for each would cost more than serving the answer.
//! So each node keeps every version's searchable columns in memory ([`FeedIndex`]) plus the rendered
//! documents clients fetch ([`DocumentCache`]). The database stays the only source of truth: every change
//! readers can see bumps a counter in the same transaction (`db::packages::mark_changed`), and a node asks
//! for that counter before serving from memory once its last check is older than `cache_ttl_ms`
//! (immediately after a change this node made). Another node's change therefore shows within that time.

mod cache;
mod corpus;
pub mod terms;

pub use cache::{Document, DocumentCache, DocumentKey, FileHeaders};
pub use corpus::{Lowered, SearchCorpus, Visible};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use nuget_formats::NuGetVersion;

use crate::db::packages::{IndexRow, IndexSlice, PackageVersion};
use crate::db::{self, Db};
use crate::metrics::Metrics;

/// One version as search and the version lists need it (its lower-cased texts are in the [`SearchCorpus`]).
#[derive(Debug)]
pub struct IndexedVersion {
    /// The row, without the stored .nuspec JSON (fetched only for the documents that need it).
    pub row: PackageVersion,
}

/// One package ID and all its versions, sorted by NuGet's version order (lowest first).
#[derive(Debug)]
pub struct IndexedPackage {
    pub registration_id: i64,
    pub package_id: String,
    pub lower_id: String,
    /// The change stamp of the registration: cached documents rendered at another stamp are stale.
    pub changed_seq: i64,
    pub owners: Vec<String>,
    /// The upstream feed these versions were cached from; `None` for the feed's own package.
    pub upstream: Option<String>,
    pub versions: Vec<IndexedVersion>,
    /// The position of the highest listed version each kind of client sees ([`visibility_class`]):
    /// search visits every package per query and must not walk its versions to find it.
    latest: [Option<u32>; 4],
}

/// Which of the four kinds of client (with or without prerelease, with or without SemVer 2) is asking.
fn visibility_class(prerelease: bool, semver2: bool) -> usize {
    usize::from(prerelease) * 2 + usize::from(semver2)
}

/// The version a gallery shows for a package, from its versions in ascending version order: the highest
/// listed stable version, or the highest listed prerelease when there is no stable one (as NuGet.org's
/// pages do). Home, search, profiles and the package page all call this.
pub fn headline<'a, I>(ascending: I) -> Option<&'a PackageVersion>
where
    I: DoubleEndedIterator<Item = &'a PackageVersion> + Clone,
{
    let newest_listed = ascending.clone().rev().find(|v| v.listed);
    ascending
        .rev()
        .find(|v| v.listed && !v.is_prerelease)
        .or(newest_listed)
}

impl IndexedPackage {
    /// Downloads of every version, as last written (see `download_flush_secs`).
    pub fn total_downloads(&self) -> i64 {
        self.versions.iter().map(|v| v.row.downloads).sum()
    }

    /// [`headline`] of this package.
    pub fn headline(&self) -> Option<&PackageVersion> {
        headline(self.versions.iter().map(|v| &v.row))
    }

    /// The highest listed version a client with these capabilities may see.
    pub fn latest_visible(&self, prerelease: bool, semver2: bool) -> Option<&IndexedVersion> {
        self.versions
            .get(self.latest_position(prerelease, semver2)?)
    }

    /// The position in `versions` of [`IndexedPackage::latest_visible`].
    pub fn latest_position(&self, prerelease: bool, semver2: bool) -> Option<usize> {
        let position = self.latest[visibility_class(prerelease, semver2)]?;
        usize::try_from(position).ok()
    }

    /// A version by its normalised form, any case.
    pub fn version(&self, normalized: &str) -> Option<&IndexedVersion> {
        self.versions
            .iter()
            .find(|v| v.row.version.eq_ignore_ascii_case(normalized))
    }
}

/// Whether a client that did (not) ask for prerelease or SemVer 2 versions may see `v`.
pub fn visible(v: &PackageVersion, prerelease: bool, semver2: bool) -> bool {
    (prerelease || !v.is_prerelease) && (semver2 || !v.is_semver2)
}

#[derive(Default)]
struct IndexState {
    loaded: bool,
    seq: i64,
    /// Bumped by every change of `packages`: the search corpus is rebuilt when it moves.
    generation: u64,
    /// Keyed by lower-case ID, so iteration is already in the order results are tied-broken by.
    packages: BTreeMap<String, Arc<IndexedPackage>>,
}

/// Every version of every package, in memory, refreshed incrementally from the change counter.
pub struct FeedIndex {
    db: Db,
    ttl: Duration,
    started: Instant,
    state: RwLock<IndexState>,
    /// Milliseconds since `started` of the last counter check.
    checked_at: AtomicU64,
    /// Set by this node's own writes: the next reader waits for a refresh instead of serving stale data.
    dirty: AtomicBool,
    refresh: tokio::sync::Mutex<()>,
    /// Rendered documents, dropped per package when its change stamp moves.
    pub documents: DocumentCache,
    /// The search corpus of the last generation a search saw.
    corpus: Mutex<Arc<SearchCorpus>>,
    metrics: Arc<Metrics>,
}

/// A read view of the index; hold it only while computing an answer (no `.await` while held).
pub struct IndexView<'a> {
    state: RwLockReadGuard<'a, IndexState>,
}

impl IndexView<'_> {
    /// A package by ID, any case.
    pub fn package(&self, id: &str) -> Option<&Arc<IndexedPackage>> {
        self.state.packages.get(&id.to_lowercase())
    }

    /// The change counter value this view has seen: documents drawn from every package (the
    /// vulnerability pages) are cached under it.
    pub fn seq(&self) -> i64 {
        self.state.seq
    }

    /// All packages, by lower-case ID.
    pub fn packages(&self) -> impl Iterator<Item = &Arc<IndexedPackage>> {
        self.state.packages.values()
    }
}

impl FeedIndex {
    /// The stored .nuspec JSON of a few version rows (a page of documents), by row id: the in-memory
    /// index leaves it out, and only the versions a document shows need it.
    pub async fn metadata_of(
        &self,
        row_ids: &[i64],
    ) -> sqlx::Result<std::collections::HashMap<i64, String>> {
        db::packages::metadata_of(self.db.pool(), row_ids).await
    }

    /// An empty index that loads itself on first use.
    pub fn new(
        db: Db,
        ttl: Duration,
        document_budget_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> FeedIndex {
        FeedIndex {
            db,
            ttl,
            started: Instant::now(),
            state: RwLock::new(IndexState::default()),
            checked_at: AtomicU64::new(0),
            dirty: AtomicBool::new(true),
            refresh: tokio::sync::Mutex::new(()),
            documents: DocumentCache::new(document_budget_bytes, metrics.clone()),
            corpus: Mutex::new(Arc::new(SearchCorpus::empty())),
            metrics,
        }
    }

    /// Called by this node after committing a change readers see.
    pub fn changed(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A current view: refreshed first when this node wrote since, or the last check is older than the TTL.
    pub async fn view(&self) -> sqlx::Result<IndexView<'_>> {
        self.ensure_fresh(false).await?;
        Ok(self.read())
    }

    /// A view refreshed from the database now, whatever the TTL: for answers that must not be a stale
    /// "not found" (a version another node has just pushed).
    pub async fn fresh_view(&self) -> sqlx::Result<IndexView<'_>> {
        self.ensure_fresh(true).await?;
        Ok(self.read())
    }

    /// A package by ID; before answering "no such package" the index is refreshed once, so a package
    /// another node has just pushed is found at once.
    pub async fn package(&self, id: &str) -> sqlx::Result<Option<Arc<IndexedPackage>>> {
        if self.first_load_running() {
            return self.package_from_database(id).await;
        }
        let found = {
            let view = self.view().await?;
            view.package(id).cloned()
        };
        if found.is_some() {
            return Ok(found);
        }
        let view = self.fresh_view().await?;
        Ok(view.package(id).cloned())
    }

    /// The search corpus of a current view, rebuilt first when the view changed since the last search.
    pub async fn search_corpus(&self) -> sqlx::Result<Arc<SearchCorpus>> {
        self.ensure_fresh(false).await?;
        let view = self.read();
        let mut corpus = self
            .corpus
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = view.state.generation;
        if corpus.generation != generation {
            *corpus = Arc::new(SearchCorpus::build(
                generation,
                view.state.packages.values(),
                &corpus,
            ));
        }
        Ok(Arc::clone(&corpus))
    }

    /// How long this node trusts its view before asking for other nodes' changes (`cache_ttl_ms`).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A version by ID and normalised version (any case), refreshed once before a "not found", like
    /// [`FeedIndex::package`]. The row comes without the stored .nuspec JSON.
    pub async fn version(
        &self,
        id: &str,
        normalized: &str,
    ) -> sqlx::Result<Option<(Arc<IndexedPackage>, PackageVersion)>> {
        let lookup = |view: &IndexView<'_>| {
            view.package(id).and_then(|p| {
                p.version(normalized)
                    .map(|v| (Arc::clone(p), v.row.clone()))
            })
        };
        if self.first_load_running() {
            return Ok(self.package_from_database(id).await?.and_then(|p| {
                let row = p.version(normalized)?.row.clone();
                Some((p, row))
            }));
        }
        let found = {
            let view = self.view().await?;
            lookup(&view)
        };
        if found.is_some() {
            return Ok(found);
        }
        let view = self.fresh_view().await?;
        Ok(lookup(&view))
    }

    /// Whether the first load is under way (elsewhere): reads of one package are then answered from the
    /// database. When no load is running (it failed, or none started), the read starts one and waits.
    fn first_load_running(&self) -> bool {
        !self.loaded() && self.refresh.try_lock().is_err()
    }

    /// One package read from the database: until the first load is done (a large mirror takes seconds),
    /// version lists, registrations and downloads are answered this way instead of waiting for it.
    async fn package_from_database(&self, id: &str) -> sqlx::Result<Option<Arc<IndexedPackage>>> {
        let pool = self.db.pool();
        let Some(registration) = db::packages::registration(pool, id).await? else {
            return Ok(None);
        };
        let rows =
            db::packages::index_rows_of_slice(pool, IndexSlice::One(registration.id)).await?;
        let mut owners = HashMap::from([(
            registration.id,
            db::packages::owner_names(pool, registration.id).await?,
        )]);
        Ok(build_packages(rows, &mut owners).pop())
    }

    fn read(&self) -> IndexView<'_> {
        IndexView {
            state: self
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    fn loaded(&self) -> bool {
        self.read().state.loaded
    }

    async fn ensure_fresh(&self, force: bool) -> sqlx::Result<()> {
        let must_wait = force || self.dirty.load(Ordering::SeqCst) || !self.loaded();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let expired = self
            .now_ms()
            .saturating_sub(self.checked_at.load(Ordering::SeqCst))
            >= ttl_ms;
        if must_wait {
            let requested_at = self.now_ms();
            let _guard = self.refresh.lock().await;
            // Someone else may have refreshed while this task waited for the lock.
            if force
                && self.checked_at.load(Ordering::SeqCst) > requested_at
                && !self.dirty.load(Ordering::SeqCst)
            {
                return Ok(());
            }
            if !force && !self.dirty.load(Ordering::SeqCst) && self.loaded() {
                return Ok(());
            }
            self.refresh_locked().await
        } else if expired {
            // Not urgent: if another task is already refreshing, serve what is here. If the database cannot
            // be asked, keep serving this view (restores go on through a database outage) and ask again a
            // TTL later; answers this view cannot give ("not found", this node's own changes) still wait.
            match self.refresh.try_lock() {
                Ok(_guard) => {
                    if let Err(e) = self.refresh_locked().await {
                        tracing::warn!(error = %e, "cannot refresh the feed index; serving the last view");
                        self.checked_at
                            .store(self.now_ms().max(1), Ordering::SeqCst);
                    }
                    Ok(())
                }
                Err(_) => Ok(()),
            }
        } else {
            Ok(())
        }
    }

    async fn refresh_locked(&self) -> sqlx::Result<()> {
        let pool = self.db.pool();
        // Cleared before reading so a change committed during this refresh marks the index dirty again.
        let was_dirty = self.dirty.swap(false, Ordering::SeqCst);
        let checked = self.now_ms();
        let result = self.load_changes(pool).await;
        if result.is_err() {
            if was_dirty {
                self.dirty.store(true, Ordering::SeqCst);
            }
        } else {
            self.checked_at.store(checked.max(1), Ordering::SeqCst);
        }
        result
    }

    async fn load_changes(&self, pool: &sqlx::AnyPool) -> sqlx::Result<()> {
        let seq = db::packages::change_seq(pool).await?;
        let since = {
            let state = self.read();
            if state.state.loaded && state.state.seq == seq {
                return Ok(());
            }
            state.state.loaded.then_some(state.state.seq)
        };
        // A registration whose last version was deleted (`nugate package delete`) has no rows above.
        let emptied = match since {
            Some(since) => db::packages::emptied_registrations(pool, since).await?,
            None => Vec::new(),
        };
        let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
        for (registration, name) in db::packages::index_owners(pool, since).await? {
            owners.entry(registration).or_default().push(name);
        }
        // The first load reads the feed a slice of registrations at a time, so a mirror's million rows
        // are never all in memory beside the index built from them.
        let slices: Vec<IndexSlice> = match since {
            Some(since) => vec![IndexSlice::ChangedSince(since)],
            None => {
                let top = db::packages::max_registration_id(pool).await?;
                (0..=top / LOAD_SLICE)
                    .map(|i| IndexSlice::Ids {
                        from: i * LOAD_SLICE,
                        to: (i + 1) * LOAD_SLICE,
                    })
                    .collect()
            }
        };
        let mut built = Vec::new();
        for slice in slices {
            let rows = db::packages::index_rows_of_slice(pool, slice).await?;
            built.extend(build_packages(rows, &mut owners));
        }
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for package in built {
            self.documents.forget_package(&package.lower_id);
            state.packages.insert(package.lower_id.clone(), package);
        }
        for lower_id in emptied {
            self.documents.forget_package(&lower_id);
            state.packages.remove(&lower_id);
        }
        state.seq = seq;
        state.loaded = true;
        state.generation += 1;
        let m = &self.metrics;
        m.feed_packages
            .set(i64::try_from(state.packages.len()).unwrap_or(i64::MAX));
        let versions: usize = state.packages.values().map(|p| p.versions.len()).sum();
        m.feed_versions
            .set(i64::try_from(versions).unwrap_or(i64::MAX));
        Ok(())
    }
}

/// Registrations read per query by the first load.
const LOAD_SLICE: i64 = 500;

/// The packages of `rows` (any order), with their owners taken from `owners`; each is put behind its
/// `Arc` at once, so a mirror's first load never holds every package twice.
fn build_packages(
    rows: Vec<IndexRow>,
    owners: &mut HashMap<i64, Vec<String>>,
) -> Vec<Arc<IndexedPackage>> {
    let mut grouped: HashMap<i64, (i64, Option<String>, Vec<PackageVersion>)> = HashMap::new();
    for row in rows {
        let entry = grouped.entry(row.version.registration_id).or_insert((
            row.changed_seq,
            row.upstream,
            Vec::new(),
        ));
        entry.0 = entry.0.max(row.changed_seq);
        entry.2.push(row.version);
    }
    grouped
        .into_iter()
        .filter_map(|(registration_id, (changed_seq, upstream, rows))| {
            let mut package = build_package(
                registration_id,
                changed_seq,
                owners.remove(&registration_id).unwrap_or_default(),
                rows,
            )?;
            package.upstream = upstream;
            Some(Arc::new(package))
        })
        .collect()
}

fn build_package(
    registration_id: i64,
    changed_seq: i64,
    owners: Vec<String>,
    rows: Vec<PackageVersion>,
) -> Option<IndexedPackage> {
    let mut rows: Vec<(Option<NuGetVersion>, PackageVersion)> = rows
        .into_iter()
        .map(|row| (NuGetVersion::parse(&row.version).ok(), row))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    // Versions of one ID mostly repeat their texts: each is held once (and lower-cased once by the corpus).
    let mut versions: Vec<IndexedVersion> = Vec::with_capacity(rows.len());
    for (_, mut row) in rows {
        if let Some(previous) = versions.last() {
            row.share_texts_with(&previous.row);
        }
        versions.push(IndexedVersion { row });
    }
    versions.shrink_to_fit();
    let mut latest = [None; 4];
    for (prerelease, semver2) in [(false, false), (false, true), (true, false), (true, true)] {
        latest[visibility_class(prerelease, semver2)] = versions
            .iter()
            .rposition(|v| v.row.listed && visible(&v.row, prerelease, semver2))
            .and_then(|p| u32::try_from(p).ok());
    }
    let package_id = versions.last()?.row.package_id.clone();
    Some(IndexedPackage {
        registration_id,
        lower_id: package_id.to_lowercase(),
        package_id: package_id.to_string(),
        changed_seq,
        owners,
        upstream: None,
        versions,
        latest,
    })
}
