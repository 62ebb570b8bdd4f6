//! Which versions a V2 feed request answers with, in what order, and how many per page: the protocol's
//! rules, computed from one view of the in-memory feed.
//!
//! - SemVer 2 versions are seen only by clients that send `semVerLevel=2.0.0`, as on NuGet.org; an exact
//!   `Packages(Id,Version)` lookup finds them anyway.
//! - Unlisted versions are left out of `Packages()`, `Search()` and `GetUpdates()`, but `FindPackagesById()`
//!   lists them (with NuGet.org's 1900-01-01 `Published` date, which is how clients recognise them) and
//!   exact lookups, by key or by a `$filter` that pins the version, resolve them.
//! - `IsLatestVersion` is the highest listed stable version the client can see, `IsAbsoluteLatestVersion`
//!   the highest listed one, prerelease included.
//! - Pages hold at most [`PAGE_SIZE`] entries; the rest is offered by a next link (server-driven paging).

use std::cmp::Ordering;
use std::sync::Arc;

use nuget_formats::odata::{FilterSubject, OrderKey, Property};
use nuget_formats::{NuGetVersion, VersionRange};

use super::params::{clip, Collection, Options};
use crate::db::packages::PackageVersion;
use crate::error::ApiError;
use crate::feed::terms::{self, Term};
use crate::feed::{IndexView, IndexedPackage, IndexedVersion, SearchCorpus};
use crate::model::policy::ReadScope;

/// Most entries in one page, as on NuGet.org.
pub const PAGE_SIZE: usize = 100;
/// Longest `searchTerm` accepted: far beyond a real search, and a bound on the work one query asks for.
pub const MAX_SEARCH_CHARS: usize = 1000;

/// One version in an answer, with the flags the client sees.
pub struct Selected {
    pub package: Arc<IndexedPackage>,
    pub index: usize,
    pub is_latest: bool,
    pub is_absolute_latest: bool,
}

impl Selected {
    pub fn row(&self) -> &PackageVersion {
        &self.package.versions[self.index].row
    }
}

/// One page of a collection.
pub struct Page {
    /// How many versions the whole answer holds, before `$skip` and `$top`.
    pub total: usize,
    /// How many versions `$skip` and `$top` leave (what `/$count` answers).
    pub counted: usize,
    pub rows: Vec<Selected>,
    /// `$skip` and `$top` of the next page, when there is one.
    pub next: Option<(usize, Option<usize>)>,
}

/// The positions of a package's latest versions as one client sees them.
struct Latest {
    stable: Option<usize>,
    absolute: Option<usize>,
}

fn latest(package: &IndexedPackage, semver2: bool) -> Latest {
    let seen = |v: &IndexedVersion| v.row.listed && (semver2 || !v.row.is_semver2);
    Latest {
        stable: package
            .versions
            .iter()
            .rposition(|v| seen(v) && !v.row.is_prerelease),
        absolute: package.versions.iter().rposition(seen),
    }
}

/// A version being considered, borrowed from the view.
struct Candidate<'a> {
    package: &'a Arc<IndexedPackage>,
    index: usize,
    latest: bool,
    absolute: bool,
    /// Search relevance: exact ID 3, ID prefix 2, ID substring 1, else 0.
    rank: usize,
    /// Parsed only when the results are sorted by version.
    version: Option<NuGetVersion>,
}

impl Candidate<'_> {
    fn new<'a>(
        package: &'a Arc<IndexedPackage>,
        index: usize,
        latest: &Latest,
        rank: usize,
    ) -> Candidate<'a> {
        Candidate {
            package,
            index,
            latest: latest.stable == Some(index),
            absolute: latest.absolute == Some(index),
            rank,
            version: None,
        }
    }

    fn version(&self) -> &IndexedVersion {
        &self.package.versions[self.index]
    }
}

impl FilterSubject for Candidate<'_> {
    fn id(&self) -> &str {
        &self.package.package_id
    }
    fn normalized_version(&self) -> &str {
        &self.version().row.version
    }
    fn is_latest_version(&self) -> bool {
        self.latest
    }
    fn is_absolute_latest_version(&self) -> bool {
        self.absolute
    }
}

/// The entry of one exact version (unlisted and SemVer 2 versions included).
pub fn entry(package: &Arc<IndexedPackage>, normalized: &str, semver2: bool) -> Option<Selected> {
    let index = package
        .versions
        .iter()
        .position(|v| v.row.version.eq_ignore_ascii_case(normalized))?;
    let latest = latest(package, semver2);
    Some(Selected {
        package: Arc::clone(package),
        index,
        is_latest: latest.stable == Some(index),
        is_absolute_latest: latest.absolute == Some(index),
    })
}

/// The ID a request is about, when it names one: `FindPackagesById()`'s `id`, or one pinned by `$filter`.
pub fn named_id(collection: Collection, options: &Options) -> Option<&str> {
    match collection {
        Collection::FindPackagesById => options.id.as_deref(),
        Collection::Packages => options.filter.as_ref().and_then(|f| f.pinned_id()),
        _ => None,
    }
}

/// One page of `collection` for these options, over the packages the reader may see.
pub fn page(
    view: &IndexView<'_>,
    corpus: Option<&SearchCorpus>,
    readable: &ReadScope,
    collection: Collection,
    options: &Options,
) -> Result<Page, ApiError> {
    let mut found = match (collection, corpus) {
        (Collection::Search, Some(corpus)) => search(corpus, options)?,
        (Collection::Search, None) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "Search() was asked without the search corpus"
            )))
        }
        (Collection::Packages, _) => packages(view, options),
        (Collection::FindPackagesById, _) => find_by_id(view, options)?,
        (Collection::GetUpdates, _) => updates(view, options)?,
    };
    found.retain(|c| {
        options.filter.as_ref().is_none_or(|f| f.matches(c))
            && readable.allows(&c.package.package_id)
    });
    sort(&mut found, collection, &options.orderby);
    let total = found.len();
    let start = options.skip.min(total);
    let wanted = options.top.unwrap_or(usize::MAX);
    let counted = wanted.min(total - start);
    let end = start + counted.min(PAGE_SIZE);
    let next = (end < start + counted).then(|| (end, options.top.map(|t| t - (end - start))));
    let rows = found
        .drain(start..end)
        .map(|c| Selected {
            package: Arc::clone(c.package),
            index: c.index,
            is_latest: c.latest,
            is_absolute_latest: c.absolute,
        })
        .collect();
    Ok(Page {
        total,
        counted,
        rows,
        next,
    })
}

fn seen_by(v: &IndexedVersion, semver2: bool) -> bool {
    semver2 || !v.row.is_semver2
}

/// `Packages()`: listed versions, or every version when the filter pins one.
fn packages<'a>(view: &'a IndexView<'_>, options: &Options) -> Vec<Candidate<'a>> {
    let exact = options.filter.as_ref().is_some_and(|f| f.pins_version());
    let packages: Vec<&Arc<IndexedPackage>> = match named_id(Collection::Packages, options) {
        Some(id) => view.package(id).into_iter().collect(),
        None => view.packages().collect(),
    };
    let mut found = Vec::new();
    for package in packages {
        let latest = latest(package, options.semver2);
        for (index, v) in package.versions.iter().enumerate() {
            if seen_by(v, options.semver2) && (v.row.listed || exact) {
                found.push(Candidate::new(package, index, &latest, 0));
            }
        }
    }
    found
}

/// `FindPackagesById()`: every version of one ID, unlisted ones included (clients tell them by date).
fn find_by_id<'a>(
    view: &'a IndexView<'_>,
    options: &Options,
) -> Result<Vec<Candidate<'a>>, ApiError> {
    let id = options
        .id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "FindPackagesById() needs the package ID, as in FindPackagesById()?id='Contoso.Lib'."
                    .into(),
            )
        })?;
    let Some(package) = view.package(id) else {
        return Ok(Vec::new());
    };
    let latest = latest(package, options.semver2);
    Ok(package
        .versions
        .iter()
        .enumerate()
        .filter(|(_, v)| seen_by(v, options.semver2))
        .map(|(index, _)| Candidate::new(package, index, &latest, 0))
        .collect())
}

/// Splits a search term into lower-cased terms (see `feed::terms::parse`); `*` is dropped (NuGet's V2
/// search has no wildcards; PowerShellGet sends them and filters the answer itself).
fn parse_terms(q: &str) -> Result<Vec<Term>, ApiError> {
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::BadRequest(format!(
            "The search term is longer than {MAX_SEARCH_CHARS} characters."
        )));
    }
    Ok(terms::parse(q, true))
}

/// `Search()`: listed versions whose text matches every term, prerelease ones only when asked for.
fn search<'a>(corpus: &'a SearchCorpus, options: &Options) -> Result<Vec<Candidate<'a>>, ApiError> {
    let terms = parse_terms(&options.search_term)?;
    let matcher = terms::Matcher::new(&terms);
    let mut found = Vec::new();
    for (package, versions) in corpus.versions() {
        let latest = latest(package, options.semver2);
        let rank = terms::rank(&package.lower_id, &terms);
        for (index, lowered) in versions {
            let v = &package.versions[index];
            if v.row.listed
                && seen_by(v, options.semver2)
                && (options.include_prerelease || !v.row.is_prerelease)
                && matcher.matches(package, &lowered)
            {
                found.push(Candidate::new(package, index, &latest, rank));
            }
        }
    }
    Ok(found)
}

/// `GetUpdates()`: for each ID and installed version, the higher listed versions (within its version
/// constraint, when one is given): the highest one, or all with `includeAllVersions=true`.
fn updates<'a>(view: &'a IndexView<'_>, options: &Options) -> Result<Vec<Candidate<'a>>, ApiError> {
    let ids = &options.package_ids;
    if ids.len() != options.versions.len() {
        return Err(ApiError::BadRequest(format!(
            "GetUpdates() needs one version per package ID: got {} IDs and {} versions.",
            ids.len(),
            options.versions.len()
        )));
    }
    let constraints = &options.version_constraints;
    if !constraints.is_empty() && constraints.len() != ids.len() {
        return Err(ApiError::BadRequest(format!(
            "GetUpdates() needs one version constraint per package ID (empty for none): got {} IDs and {} constraints.",
            ids.len(),
            constraints.len()
        )));
    }
    let mut found = Vec::new();
    for (i, (id, installed)) in ids.iter().zip(&options.versions).enumerate() {
        let installed = NuGetVersion::parse(installed).map_err(|e| {
            ApiError::BadRequest(format!("'versions' holds an invalid version: {e}"))
        })?;
        let constraint = match constraints.get(i).map(String::as_str) {
            None | Some("") => None,
            Some(text) => Some(VersionRange::parse(text).map_err(|e| {
                ApiError::BadRequest(format!(
                    "'versionConstraints' holds an invalid range for '{}': {e}",
                    clip(id)
                ))
            })?),
        };
        let Some(package) = view.package(id) else {
            continue;
        };
        let latest = latest(package, options.semver2);
        let newer: Vec<usize> = package
            .versions
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                v.row.listed
                    && seen_by(v, options.semver2)
                    && (options.include_prerelease || !v.row.is_prerelease)
            })
            .filter_map(|(index, v)| Some((index, NuGetVersion::parse(&v.row.version).ok()?)))
            .filter(|(_, v)| *v > installed && constraint.as_ref().is_none_or(|c| c.satisfies(v)))
            .map(|(index, _)| index)
            .collect();
        let chosen: Vec<usize> = if options.include_all_versions {
            newer
        } else {
            newer.last().copied().into_iter().collect()
        };
        found.extend(
            chosen
                .into_iter()
                .map(|index| Candidate::new(package, index, &latest, 0)),
        );
    }
    Ok(found)
}

/// Sorts by the `$orderby` keys, then by relevance (search) or ID, then by version.
fn sort(found: &mut [Candidate<'_>], collection: Collection, keys: &[OrderKey]) {
    if keys
        .iter()
        .any(|k| matches!(k.property, Property::Version | Property::NormalizedVersion))
    {
        for c in found.iter_mut() {
            c.version = NuGetVersion::parse(&c.version().row.version).ok();
        }
    }
    let by_default = |a: &Candidate<'_>, b: &Candidate<'_>| {
        let relevance = if collection == Collection::Search && keys.is_empty() {
            b.rank.cmp(&a.rank)
        } else {
            Ordering::Equal
        };
        relevance
            .then_with(|| a.package.lower_id.cmp(&b.package.lower_id))
            .then_with(|| a.index.cmp(&b.index))
    };
    found.sort_by(|a, b| {
        keys.iter()
            .map(|key| {
                let order = compare(a, b, key.property);
                if key.descending {
                    order.reverse()
                } else {
                    order
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| by_default(a, b))
    });
}

fn compare(a: &Candidate<'_>, b: &Candidate<'_>, property: Property) -> Ordering {
    let (ra, rb) = (&a.version().row, &b.version().row);
    match property {
        Property::Id => a.package.lower_id.cmp(&b.package.lower_id),
        Property::Version | Property::NormalizedVersion => {
            if Arc::ptr_eq(a.package, b.package) {
                a.index.cmp(&b.index)
            } else {
                a.version.cmp(&b.version)
            }
        }
        Property::Title => {
            let title = |r: &PackageVersion| {
                r.texts
                    .title
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&r.package_id)
                    .to_lowercase()
            };
            title(ra).cmp(&title(rb))
        }
        Property::Published | Property::Created | Property::LastUpdated | Property::LastEdited => {
            ra.published_at.cmp(&rb.published_at)
        }
        // Downloads are not counted: every version has 0.
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms() {
        assert_eq!(
            parse_terms("Json  tag:PSModule \"two words\" id:Contoso* other:x *").unwrap(),
            vec![
                Term::Text("json".into()),
                Term::Tag("psmodule".into()),
                Term::Text("two words".into()),
                Term::Id("contoso".into()),
                Term::Text("other:x".into()),
            ]
        );
        assert!(parse_terms(&"x".repeat(MAX_SEARCH_CHARS + 1)).is_err());
        assert_eq!(
            terms::rank("contoso.lib", &parse_terms("contoso").unwrap()),
            2
        );
        assert_eq!(
            terms::rank("contoso.lib", &parse_terms("tag:x").unwrap()),
            0
        );
    }
}
