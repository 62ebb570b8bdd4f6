//! `SearchQueryService` and `SearchAutocompleteService`, over listed versions only.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use nuget_formats::NuGetVersion;
use serde::Deserialize;
use serde_json::{json, Value};

use super::guard::Readable;
use super::registration::{deprecation_json, vulnerabilities_json};
use super::{json, json_bytes, REGISTRATION_SEMVER2_HIVE};
use crate::db::advisories::{Deprecation, Vulnerability};
use crate::db::packages::PackageVersion;
use crate::error::ApiError;
use crate::feed::terms::{self, Term};
use crate::feed::{visible, DocumentKey, IndexedPackage, Visible};
use crate::model::policy::ReadScope;
use crate::packages::PackageMetadata;
use crate::state::{AppState, BaseUrl};

/// Largest page a client may ask for.
pub const MAX_TAKE: usize = 1000;
/// Longest query accepted: far beyond any real search, and a bound on the work one query can ask for.
pub const MAX_QUERY_CHARS: usize = 1000;

/// Query parameters shared by search and autocomplete.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    id: Option<String>,
    skip: Option<String>,
    take: Option<String>,
    prerelease: Option<String>,
    #[serde(rename = "semVerLevel")]
    sem_ver_level: Option<String>,
    #[serde(rename = "packageType")]
    package_type: Option<String>,
}

impl SearchParams {
    fn paging(&self, default_take: usize) -> Result<(usize, usize), ApiError> {
        let parse = |name: &str, v: &Option<String>, default: usize| -> Result<usize, ApiError> {
            match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse::<usize>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "'{name}' must be a non-negative integer, got '{v}'."
                    ))
                }),
            }
        };
        let skip = parse("skip", &self.skip, 0)?;
        let take = parse("take", &self.take, default_take)?;
        if take > MAX_TAKE {
            return Err(ApiError::BadRequest(format!(
                "'take' must be at most {MAX_TAKE}."
            )));
        }
        Ok((skip, take))
    }

    /// The query text, refused when absurdly long.
    fn query(&self) -> Result<&str, ApiError> {
        let q = self.q.as_deref().unwrap_or("");
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::BadRequest(format!(
                "The search query is longer than {MAX_QUERY_CHARS} characters."
            )));
        }
        Ok(q)
    }

    fn prerelease(&self) -> bool {
        self.prerelease
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// SemVer 2 versions are shown only to clients that say they understand them.
    fn semver2(&self) -> bool {
        self.sem_ver_level
            .as_deref()
            .and_then(|v| NuGetVersion::parse(v).ok())
            .is_some_and(|v| v.major() >= 2)
    }

    fn package_type(&self) -> Option<String> {
        self.package_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
    }
}

/// How results are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchOrder {
    /// Best match first (the protocol's only order).
    #[default]
    Relevance,
    /// Most downloaded first.
    Downloads,
    /// Most recently published first.
    Updated,
}

impl SearchOrder {
    /// The gallery's `sort` parameter; anything else is relevance.
    pub fn from_param(text: &str) -> SearchOrder {
        match text {
            "downloads" => SearchOrder::Downloads,
            "updated" => SearchOrder::Updated,
            _ => SearchOrder::Relevance,
        }
    }

    /// The parameter value and the label the gallery's sort menu shows.
    pub fn param_and_label(self) -> (&'static str, &'static str) {
        match self {
            SearchOrder::Relevance => ("relevance", "Relevance"),
            SearchOrder::Downloads => ("downloads", "Downloads"),
            SearchOrder::Updated => ("updated", "Recently updated"),
        }
    }

    /// Every order, as the menu lists them.
    pub const ALL: [SearchOrder; 3] = [
        SearchOrder::Relevance,
        SearchOrder::Downloads,
        SearchOrder::Updated,
    ];
}

/// What a search is for: the parsed query and the client's capabilities.
pub struct SearchRequest {
    terms: Vec<Term>,
    order: SearchOrder,
    prerelease: bool,
    semver2: bool,
    package_type: Option<String>,
    /// The packages the reader may see; the others are left out before counting and paging.
    readable: ReadScope,
}

impl SearchRequest {
    /// A search as the web gallery makes it: every listed version may show, whatever its kind.
    pub fn everything(q: &str) -> SearchRequest {
        Self::gallery(q, SearchOrder::Relevance, true)
    }

    /// A gallery search in `order`, with or without prereleases.
    pub fn gallery(q: &str, order: SearchOrder, prerelease: bool) -> SearchRequest {
        SearchRequest {
            terms: terms::parse(q, false),
            order,
            prerelease,
            semver2: true,
            package_type: None,
            readable: ReadScope::Everything,
        }
    }

    fn from_params(params: &SearchParams, terms: Vec<Term>, readable: ReadScope) -> SearchRequest {
        SearchRequest {
            terms,
            order: SearchOrder::Relevance,
            prerelease: params.prerelease(),
            semver2: params.semver2(),
            package_type: params.package_type(),
            readable,
        }
    }
}

/// A package that matched, and which of its versions is the latest the client may see.
pub struct Hit {
    pub package: Arc<IndexedPackage>,
    latest: usize,
}

impl Hit {
    /// The version a result shows.
    pub fn latest(&self) -> &PackageVersion {
        &self.package.versions[self.latest].row
    }
}

/// Ranks every package of the in-memory feed whose latest visible version matches every term, and returns
/// the total count and the page `skip..skip + take`. Ties keep ID order.
pub async fn find(
    state: &AppState,
    request: &SearchRequest,
    skip: usize,
    take: usize,
) -> Result<(usize, Vec<Hit>), ApiError> {
    let corpus = state.packages.feed().search_corpus().await?;
    // Results are ordered by rank, then ID; packages are visited in ID order, so keeping the first
    // `skip + take` matches of each rank is enough to cut the page, without sorting every match.
    let wanted = skip.saturating_add(take);
    let mut by_rank: [Vec<(&Arc<IndexedPackage>, usize)>; terms::RANKS] = Default::default();
    let mut total = 0;
    let matcher = terms::Matcher::new(&request.terms);
    let candidates =
        corpus.latest_visible(request.prerelease, request.semver2, &matcher.must_contain());
    for Visible {
        package,
        position,
        lowered,
    } in candidates
    {
        if !request.readable.allows(&package.package_id) {
            continue;
        }
        if let Some(wanted) = &request.package_type {
            let types = lowered.types();
            let is_dependency = types.is_empty() || types.split(' ').any(|t| t == "dependency");
            if !(types.split(' ').any(|t| t == wanted) || (wanted == "dependency" && is_dependency))
            {
                continue;
            }
        }
        if matcher.matches(package, &lowered) {
            total += 1;
            // Another order than relevance needs every match before it can cut a page.
            let rank = match request.order {
                SearchOrder::Relevance => terms::rank(&package.lower_id, &request.terms),
                _ => 0,
            };
            let bucket = &mut by_rank[rank];
            if bucket.len() < wanted || request.order != SearchOrder::Relevance {
                bucket.push((package, position));
            }
        }
    }
    match request.order {
        SearchOrder::Relevance => {}
        SearchOrder::Downloads => {
            by_rank[0].sort_by_key(|(p, _)| std::cmp::Reverse(p.total_downloads()))
        }
        SearchOrder::Updated => by_rank[0]
            .sort_by_key(|(p, latest)| std::cmp::Reverse(p.versions[*latest].row.published_at)),
    }
    let page = by_rank
        .iter()
        .rev()
        .flatten()
        .skip(skip)
        .take(take)
        .map(|(package, latest)| Hit {
            package: Arc::clone(package),
            latest: *latest,
        })
        .collect();
    Ok((total, page))
}

/// `GET /v3/search`.
pub async fn search(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Readable(readable): Readable,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let (skip, take) = params.paging(20)?;
    let request =
        SearchRequest::from_params(&params, terms::parse(params.query()?, false), readable);
    let (total, hits) = find(&state, &request, skip, take).await?;
    // Each result is rendered once per change of its package (and client capabilities and base URL):
    // a package with thousands of versions lists them all.
    let feed = state.packages.feed();
    let keys: Vec<DocumentKey> = hits
        .iter()
        .map(|hit| DocumentKey {
            lower_id: hit.package.lower_id.clone(),
            changed_seq: hit.package.changed_seq,
            what: format!("search {} {} {base}", request.prerelease, request.semver2),
        })
        .collect();
    let mut entries: Vec<Option<Bytes>> = keys.iter().map(|k| feed.documents.get(k)).collect();
    let missing: Vec<i64> = hits
        .iter()
        .zip(&entries)
        .filter(|(_, entry)| entry.is_none())
        .map(|(hit, _)| hit.latest().id)
        .collect();
    if !missing.is_empty() {
        let metadata = state.packages.feed().metadata_of(&missing).await?;
        let deprecations = state.packages.deprecations_of(&missing).await?;
        let vulnerabilities = state.packages.vulnerabilities(None).await?;
        for ((hit, key), entry) in hits.iter().zip(keys).zip(entries.iter_mut()) {
            if entry.is_none() {
                let latest = hit.latest().id;
                let advisories = Advisories {
                    deprecation: deprecations.get(&latest),
                    vulnerabilities: &vulnerabilities,
                };
                let rendered =
                    search_result(&base, hit, &request, metadata.get(&latest), advisories);
                let bytes = Bytes::from(rendered.to_string());
                feed.documents.put(key, bytes.clone());
                *entry = Some(bytes);
            }
        }
    }
    let mut body = format!("{{\"totalHits\":{total},\"data\":[").into_bytes();
    for (i, entry) in entries.iter().flatten().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(entry);
    }
    body.extend_from_slice(b"]}");
    Ok(json_bytes(Bytes::from(body)))
}

/// What owners recorded that a search result shows: the latest version's deprecation, and the recorded
/// vulnerabilities (of every ID; the result keeps those of its latest version).
struct Advisories<'a> {
    deprecation: Option<&'a Deprecation>,
    vulnerabilities: &'a [Vulnerability],
}

fn search_result(
    base: &str,
    hit: &Hit,
    request: &SearchRequest,
    metadata_json: Option<&String>,
    advisories: Advisories<'_>,
) -> Value {
    let v = hit.latest();
    let lower_id = hit.package.lower_id.as_str();
    let registration = format!("{base}/v3/{REGISTRATION_SEMVER2_HIVE}/{lower_id}/index.json");
    let spec = metadata_json
        .and_then(|m| serde_json::from_str::<PackageMetadata>(m).ok())
        .map(|m| m.nuspec);
    let authors: Vec<String> = v
        .texts
        .authors
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let package_types: Vec<Value> = if v.texts.package_types.is_empty() {
        vec![json!({ "name": "Dependency" })]
    } else {
        v.texts
            .package_types
            .split(' ')
            .map(|t| json!({ "name": t }))
            .collect()
    };
    let versions: Vec<Value> = hit
        .package
        .versions
        .iter()
        .filter(|x| x.row.listed && visible(&x.row, request.prerelease, request.semver2))
        .map(|x| {
            json!({
                "version": x.row.version,
                "downloads": x.row.downloads,
                "@id": format!(
                    "{base}/v3/{REGISTRATION_SEMVER2_HIVE}/{lower_id}/{}.json",
                    x.row.version.to_lowercase()
                ),
            })
        })
        .collect();
    let mut result = json!({
        "@id": registration,
        "@type": "Package",
        "registration": registration,
        "id": v.package_id,
        "version": v.version,
        "description": v.texts.description,
        "summary": v.texts.summary.clone().unwrap_or_default(),
        "title": v.texts.title.clone().unwrap_or_else(|| v.package_id.to_string()),
        "iconUrl": spec.as_ref().and_then(|s| s.icon_url.clone()),
        "licenseUrl": spec.as_ref().and_then(|s| s.license_url.clone()),
        "projectUrl": spec.as_ref().and_then(|s| s.project_url.clone()),
        "tags": v.texts.tags.split_whitespace().collect::<Vec<_>>(),
        "authors": authors,
        "owners": hit.package.owners,
        "totalDownloads": hit.package.total_downloads(),
        "verified": false,
        "packageTypes": package_types,
        "versions": versions,
    });
    let leaf = format!(
        "{base}/v3/{REGISTRATION_SEMVER2_HIVE}/{lower_id}/{}.json",
        v.version.to_lowercase()
    );
    let own: Vec<Vulnerability> = advisories
        .vulnerabilities
        .iter()
        .filter(|x| x.package_id.eq_ignore_ascii_case(&v.package_id))
        .cloned()
        .collect();
    result["vulnerabilities"] = Value::Array(vulnerabilities_json(&leaf, &own, &v.version));
    if let Some(d) = advisories.deprecation {
        result["deprecation"] = deprecation_json(&leaf, d);
    }
    result
}

/// `GET /v3/autocomplete`: `q` → matching IDs, `id` → that ID's versions.
pub async fn autocomplete(
    State(state): State<AppState>,
    Readable(readable): Readable,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    if let Some(id) = params
        .id
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        if !readable.allows(id) {
            return Ok(json(&json!({ "totalHits": 0, "data": [] })));
        }
        let (prerelease, semver2) = (params.prerelease(), params.semver2());
        let data: Vec<String> = match state.packages.feed().package(id).await? {
            Some(package) => package
                .versions
                .iter()
                .filter(|v| v.row.listed && visible(&v.row, prerelease, semver2))
                .map(|v| v.row.version.to_string())
                .collect(),
            None => Vec::new(),
        };
        return Ok(json(&json!({ "totalHits": data.len(), "data": data })));
    }
    let (skip, take) = params.paging(20)?;
    let q = params.query()?.trim().to_lowercase();
    let terms = if q.is_empty() {
        Vec::new()
    } else {
        vec![Term::Id(q)]
    };
    let (total, hits) = find(
        &state,
        &SearchRequest::from_params(&params, terms, readable),
        skip,
        take,
    )
    .await?;
    let data: Vec<&str> = hits.iter().map(|h| h.package.package_id.as_str()).collect();
    Ok(json(&json!({ "totalHits": total, "data": data })))
}
