//! `SearchQueryService` and `SearchAutocompleteService`, over listed versions only.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::Response;
use nuget_formats::NuGetVersion;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json, REGISTRATION_SEMVER2_HIVE};
use crate::app::{AppState, BaseUrl};
use crate::db::{self, packages::PackageVersion};
use crate::error::ApiError;
use crate::packages::PackageMetadata;

/// Largest page a client may ask for.
pub const MAX_TAKE: usize = 1000;
/// Longest query accepted: far beyond any real search, and short enough for every database's LIKE.
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

    fn visible(&self, v: &PackageVersion) -> bool {
        (self.prerelease() || !v.is_prerelease) && (self.semver2() || !v.is_semver2)
    }
}

/// One parsed search term.
#[derive(Debug, PartialEq)]
enum Term {
    Text(String),
    Id(String),
    PackageId(String),
    Tag(String),
    Owner(String),
}

/// Splits `q` into terms; `field:value` and quoted phrases are understood, unknown fields are free text.
fn parse_query(q: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut chars = q.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut token = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == '"' {
                quoted = !quoted;
                chars.next();
                continue;
            }
            if c.is_whitespace() && !quoted {
                break;
            }
            token.push(c);
            chars.next();
        }
        let lower = token.to_lowercase();
        let term = match lower.split_once(':') {
            Some((field, value)) if !value.is_empty() => match field {
                "id" => Term::Id(value.to_string()),
                "packageid" => Term::PackageId(value.to_string()),
                "tag" | "tags" => Term::Tag(value.to_string()),
                "owner" | "owners" => Term::Owner(value.to_string()),
                _ => Term::Text(lower),
            },
            _ => Term::Text(lower),
        };
        if !matches!(&term, Term::Text(t) if t.is_empty()) {
            terms.push(term);
        }
    }
    terms
}

struct Candidate {
    latest: PackageVersion,
    versions: Vec<PackageVersion>,
}

/// Groups visible listed versions by ID and keeps those whose latest version matches every term.
async fn candidates(
    state: &AppState,
    params: &SearchParams,
    terms: &[Term],
) -> Result<(Vec<Candidate>, HashMap<i64, Vec<String>>), ApiError> {
    let needle = terms.iter().find_map(|t| match t {
        Term::Text(t) | Term::Id(t) | Term::PackageId(t) => Some(t.as_str()),
        _ => None,
    });
    let rows = db::packages::listed_versions(state.db.pool(), needle).await?;
    let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
    for (registration, name) in db::packages::all_owner_names(state.db.pool()).await? {
        owners.entry(registration).or_default().push(name);
    }
    let wanted_type = params
        .package_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase);
    let mut grouped: BTreeMap<String, Vec<PackageVersion>> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| params.visible(r)) {
        grouped
            .entry(row.package_id.to_lowercase())
            .or_default()
            .push(row);
    }
    let mut out = Vec::new();
    for (_, mut versions) in grouped {
        versions.sort_by_cached_key(|v| NuGetVersion::parse(&v.version).ok());
        let Some(latest) = versions.last().cloned() else {
            continue;
        };
        if let Some(wanted) = &wanted_type {
            let types = latest.package_types.to_lowercase();
            let is_dependency = types.is_empty() || types.split(' ').any(|t| t == "dependency");
            let ok =
                types.split(' ').any(|t| t == wanted) || (wanted == "dependency" && is_dependency);
            if !ok {
                continue;
            }
        }
        let reg_owners = owners.get(&latest.registration_id);
        let matches = terms
            .iter()
            .all(|term| matches_term(&latest, term, reg_owners));
        if matches {
            out.push(Candidate { latest, versions });
        }
    }
    Ok((out, owners))
}

fn matches_term(v: &PackageVersion, term: &Term, owners: Option<&Vec<String>>) -> bool {
    let id = v.package_id.to_lowercase();
    match term {
        Term::Text(t) => {
            id.contains(t)
                || v.title.as_deref().unwrap_or("").to_lowercase().contains(t)
                || v.tags.to_lowercase().contains(t)
                || v.description.to_lowercase().contains(t)
                || v.authors.to_lowercase().contains(t)
        }
        Term::Id(t) => id.contains(t),
        Term::PackageId(t) => &id == t,
        Term::Tag(t) => v.tags.to_lowercase().split_whitespace().any(|tag| tag == t),
        Term::Owner(t) => owners.is_some_and(|o| o.iter().any(|name| name.to_lowercase() == *t)),
    }
}

/// Ranks an exact ID match first, then IDs that start with or contain the text, then the rest.
fn rank(c: &Candidate, terms: &[Term]) -> u8 {
    let id = c.latest.package_id.to_lowercase();
    let mut best = 0;
    for term in terms {
        if let Term::Text(t) | Term::Id(t) | Term::PackageId(t) = term {
            let score = if &id == t {
                3
            } else if id.starts_with(t.as_str()) {
                2
            } else if id.contains(t.as_str()) {
                1
            } else {
                0
            };
            best = best.max(score);
        }
    }
    best
}

/// `GET /v3/search`.
pub async fn search(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let (skip, take) = params.paging(20)?;
    let terms = parse_query(params.query()?);
    let (mut found, owners) = candidates(&state, &params, &terms).await?;
    found.sort_by(|a, b| {
        rank(b, &terms).cmp(&rank(a, &terms)).then_with(|| {
            a.latest
                .package_id
                .to_lowercase()
                .cmp(&b.latest.package_id.to_lowercase())
        })
    });
    let total = found.len();
    let data: Vec<Value> = found
        .iter()
        .skip(skip)
        .take(take)
        .map(|c| search_result(&base, c, owners.get(&c.latest.registration_id)))
        .collect();
    Ok(json(&json!({ "totalHits": total, "data": data })))
}

fn search_result(base: &str, c: &Candidate, owners: Option<&Vec<String>>) -> Value {
    let v = &c.latest;
    let lower_id = v.package_id.to_lowercase();
    let registration = format!("{base}/v3/{REGISTRATION_SEMVER2_HIVE}/{lower_id}/index.json");
    let meta: Option<PackageMetadata> = serde_json::from_str(&v.metadata_json).ok();
    let spec = meta.map(|m| m.nuspec);
    let authors: Vec<String> = v
        .authors
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let package_types: Vec<Value> = if v.package_types.is_empty() {
        vec![json!({ "name": "Dependency" })]
    } else {
        v.package_types
            .split(' ')
            .map(|t| json!({ "name": t }))
            .collect()
    };
    json!({
        "@id": registration,
        "@type": "Package",
        "registration": registration,
        "id": v.package_id,
        "version": v.version,
        "description": v.description,
        "summary": v.summary.clone().unwrap_or_default(),
        "title": v.title.clone().unwrap_or_else(|| v.package_id.clone()),
        "iconUrl": spec.as_ref().and_then(|s| s.icon_url.clone()),
        "licenseUrl": spec.as_ref().and_then(|s| s.license_url.clone()),
        "projectUrl": spec.as_ref().and_then(|s| s.project_url.clone()),
        "tags": v.tags.split_whitespace().collect::<Vec<_>>(),
        "authors": authors,
        "owners": owners.cloned().unwrap_or_default(),
        "totalDownloads": 0,
        "verified": false,
        "packageTypes": package_types,
        "versions": c.versions.iter().map(|x| json!({
            "version": x.version,
            "downloads": 0,
            "@id": format!("{base}/v3/{REGISTRATION_SEMVER2_HIVE}/{lower_id}/{}.json", x.version.to_lowercase()),
        })).collect::<Vec<_>>(),
        "vulnerabilities": [],
    })
}

/// `GET /v3/autocomplete`: `q` → matching IDs, `id` → that ID's versions.
pub async fn autocomplete(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    if let Some(id) = params
        .id
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let mut versions: Vec<PackageVersion> = db::packages::versions_of(state.db.pool(), id)
            .await?
            .into_iter()
            .filter(|v| v.listed && params.visible(v))
            .collect();
        versions.sort_by_cached_key(|v| NuGetVersion::parse(&v.version).ok());
        let data: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        return Ok(json(&json!({ "totalHits": data.len(), "data": data })));
    }
    let (skip, take) = params.paging(20)?;
    let q = params.query()?.trim().to_lowercase();
    let terms = if q.is_empty() {
        Vec::new()
    } else {
        vec![Term::Id(q.clone())]
    };
    let (mut found, _) = candidates(&state, &params, &terms).await?;
    found.sort_by(|a, b| {
        rank(b, &terms).cmp(&rank(a, &terms)).then_with(|| {
            a.latest
                .package_id
                .to_lowercase()
                .cmp(&b.latest.package_id.to_lowercase())
        })
    });
    let data: Vec<&str> = found
        .iter()
        .skip(skip)
        .take(take)
        .map(|c| c.latest.package_id.as_str())
        .collect();
    Ok(json(&json!({ "totalHits": found.len(), "data": data })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_into_fields() {
        assert_eq!(
            parse_query(
                "json  id:Contoso tags:web owner:alice packageid:A.B \"two words\" other:x"
            ),
            vec![
                Term::Text("json".into()),
                Term::Id("contoso".into()),
                Term::Tag("web".into()),
                Term::Owner("alice".into()),
                Term::PackageId("a.b".into()),
                Term::Text("two words".into()),
                Term::Text("other:x".into()),
            ]
        );
        assert!(parse_query("   ").is_empty());
    }
}
