//! `RegistrationsBaseUrl`: per-ID metadata documents clients resolve installs and dependencies from.
//!
//! Small IDs get one index with pages inlined; IDs with more than [`INLINE_LIMIT`] versions get an index of
//! page references and separate page documents of [`PAGE_SIZE`] leaves. Every leaf carries
//! `packageContent` itself, since nuget.exe reads it there and downloads that URL verbatim.

mod mirror;

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, State};
use axum::response::Response;
use nuget_formats::{NuGetVersion, VersionRange};
use serde_json::{json, Value};

use super::guard::Readable;
use super::{cached_json, hive_of, DocumentRequest};
use crate::db::advisories::{Deprecation, Vulnerability};
use crate::db::packages::PackageVersion;
use crate::error::ApiError;
use crate::feed::{DocumentKey, IndexedPackage};
use crate::model::policy::ReadScope;
use crate::packages::upstream::Resolved;
use crate::packages::PackageMetadata;
use crate::state::{AppState, BaseUrl};

/// Versions per page.
pub const PAGE_SIZE: usize = 64;
/// Above this many versions the index references pages instead of inlining them.
pub const INLINE_LIMIT: usize = 128;

struct Hive {
    base: String,
    hive: &'static str,
}

impl Hive {
    fn index_url(&self, lower_id: &str) -> String {
        format!("{}/v3/{}/{lower_id}/index.json", self.base, self.hive)
    }
    fn leaf_url(&self, lower_id: &str, lower_version: &str) -> String {
        format!(
            "{}/v3/{}/{lower_id}/{lower_version}.json",
            self.base, self.hive
        )
    }
    fn page_url(&self, lower_id: &str, lower: &str, upper: &str) -> String {
        format!(
            "{}/v3/{}/{lower_id}/page/{lower}/{upper}.json",
            self.base, self.hive
        )
    }
    fn content_url(&self, lower_id: &str, lower_version: &str) -> String {
        format!(
            "{}/v3-flatcontainer/{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg",
            self.base
        )
    }
}

/// The versions a hive shows, in version order, from the in-memory feed (without .nuspec JSON).
fn visible_rows(
    package: &IndexedPackage,
    id: &str,
    include_semver2: bool,
) -> Result<Vec<PackageVersion>, ApiError> {
    let rows: Vec<PackageVersion> = package
        .versions
        .iter()
        .filter(|v| include_semver2 || !v.row.is_semver2)
        .map(|v| v.row.clone())
        .collect();
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!(
            "A package with ID '{id}' does not exist."
        )));
    }
    Ok(rows)
}

/// What the stored rows say about the versions a document lists as leaves, beyond the in-memory rows:
/// each one's .nuspec JSON, and what owners recorded (deprecations, the ID's vulnerabilities).
#[derive(Default)]
struct Advisories {
    metadata: HashMap<i64, String>,
    deprecations: HashMap<i64, Deprecation>,
    vulnerabilities: Vec<Vulnerability>,
}

/// Reads the stored .nuspec JSON of the rows a document lists as leaves, and of those only: a page of a
/// 5 000-version package reads 64 of them. Their deprecations and the ID's vulnerabilities come along.
async fn with_metadata(state: &AppState, rows: &[PackageVersion]) -> Result<Advisories, ApiError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    Ok(Advisories {
        metadata: state.packages.feed().metadata_of(&ids).await?,
        deprecations: state.packages.deprecations_of(&ids).await?,
        vulnerabilities: match rows.first() {
            Some(r) => {
                state
                    .packages
                    .vulnerabilities(Some(r.registration_id))
                    .await?
            }
            None => Vec::new(),
        },
    })
}

/// The cache key of a document of `package` in `hive` rendered for `base`.
fn document_key(package: &IndexedPackage, hive: &Hive, what: &str) -> DocumentKey {
    DocumentKey {
        lower_id: package.lower_id.clone(),
        changed_seq: package.changed_seq,
        // Joined, not formatted: this runs for every registration request.
        what: [hive.hive, " ", what, " ", &hive.base].concat(),
    }
}

/// The 404 for an ID that does not exist, or that the read key may not see.
fn no_package(id: &str) -> ApiError {
    ApiError::NotFound(format!("A package with ID '{id}' does not exist."))
}

/// The versions behind a registration URL: the feed's own package from the in-memory feed, or an
/// ID served from upstream. One the reader may not see does not exist.
async fn resolve(
    state: &AppState,
    readable: &ReadScope,
    id: &str,
    missing: impl Fn() -> ApiError,
) -> Result<Resolved, ApiError> {
    if !readable.allows(id) {
        return Err(missing());
    }
    state.packages.resolve(id).await?.ok_or_else(missing)
}

/// `{hive}/{id}/index.json`.
pub async fn index(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    request: DocumentRequest,
    OriginalUri(uri): OriginalUri,
    Readable(readable): Readable,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (hive, semver2) = hive_of(uri.path());
    let hive = Hive { base, hive };
    let package = match resolve(&state, &readable, &id, || no_package(&id)).await? {
        Resolved::Local(package) => package,
        Resolved::Mirrored(mirrored) => {
            return mirror::index(&state, &hive, &mirrored, semver2, request).await
        }
    };
    let key = document_key(&package, &hive, "index");
    cached_json(state.packages.feed(), key, request, || async {
        let rows = visible_rows(&package, &id, semver2)?;
        let inline = rows.len() <= INLINE_LIMIT;
        let advisories = match inline {
            true => with_metadata(&state, &rows).await?,
            false => Advisories::default(),
        };
        let lower_id = package.lower_id.as_str();
        let index_url = hive.index_url(lower_id);
        let pages: Vec<Value> = rows
            .chunks(PAGE_SIZE)
            .map(|chunk| {
                let items = inline.then(|| leaves_json(&hive, chunk, &advisories));
                page_json(&hive, lower_id, &lower_versions(chunk), items, inline)
            })
            .collect();
        Ok(json!({
            "@id": index_url,
            "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
            "count": pages.len(),
            "items": pages,
        }))
    })
    .await
}

/// `{hive}/{id}/page/{lower}/{upper}.json`: one page of a large registration.
pub async fn page(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    request: DocumentRequest,
    OriginalUri(uri): OriginalUri,
    Readable(readable): Readable,
    Path((id, lower, upper)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (hive, semver2) = hive_of(uri.path());
    let hive = Hive { base, hive };
    // IDs served from upstream have every version inline in their index, so no pages.
    let Resolved::Local(package) = resolve(&state, &readable, &id, || no_package(&id)).await?
    else {
        return Err(ApiError::NotFound(format!(
            "No registration page {lower}/{upper} for '{id}'."
        )));
    };
    let upper = upper.trim_end_matches(".json");
    let key = document_key(
        &package,
        &hive,
        &format!("page {} {}", lower.to_lowercase(), upper.to_lowercase()),
    );
    cached_json(state.packages.feed(), key, request, || async {
        let rows = visible_rows(&package, &id, semver2)?;
        let chunk = rows
            .chunks(PAGE_SIZE)
            .find(|chunk| {
                chunk
                    .first()
                    .is_some_and(|v| v.version.eq_ignore_ascii_case(&lower))
                    && chunk
                        .last()
                        .is_some_and(|v| v.version.eq_ignore_ascii_case(upper))
            })
            .ok_or_else(|| {
                ApiError::NotFound(format!("No registration page {lower}/{upper} for '{id}'."))
            })?;
        let advisories = with_metadata(&state, chunk).await?;
        Ok(page_json(
            &hive,
            &package.lower_id,
            &lower_versions(chunk),
            Some(leaves_json(&hive, chunk, &advisories)),
            false,
        ))
    })
    .await
}

/// `{hive}/{id}/{version}.json`: one registration leaf.
pub async fn leaf(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    request: DocumentRequest,
    OriginalUri(uri): OriginalUri,
    Readable(readable): Readable,
    Path((id, leaf)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (hive, semver2) = hive_of(uri.path());
    let hive = Hive { base, hive };
    let version = leaf
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::NotFound(format!("'{leaf}' is not a registration document.")))?;
    let missing = || {
        ApiError::NotFound(format!(
            "A package with ID '{id}' and version '{version}' does not exist."
        ))
    };
    let package = match resolve(&state, &readable, &id, missing).await? {
        Resolved::Local(package) => package,
        Resolved::Mirrored(mirrored) => {
            return mirror::leaf(&state, &hive, &mirrored, version, semver2, request).await
        }
    };
    let found = state.packages.find_indexed_version(&id, version).await?;
    if found.is_semver2 && !semver2 {
        return Err(missing());
    }
    let lower_version = found.version.to_lowercase();
    let key = document_key(&package, &hive, &format!("leaf {lower_version}"));
    cached_json(state.packages.feed(), key, request, || async {
        // The in-memory row lacks the .nuspec the catalog entry is built from.
        let advisories = with_metadata(&state, std::slice::from_ref(&found)).await?;
        let target = &found;
        let lower_id = target.package_id.to_lowercase();
        Ok(json!({
            "@id": hive.leaf_url(&lower_id, &lower_version),
            "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
            "catalogEntry": catalog_entry(&hive, target, &advisories),
            "listed": target.listed,
            "packageContent": hive.content_url(&lower_id, &lower_version),
            "published": timestamp(target.published_at),
            "registration": hive.index_url(&lower_id),
        }))
    })
    .await
}

/// The lower-case versions of a chunk of rows.
fn lower_versions(chunk: &[PackageVersion]) -> Vec<String> {
    chunk.iter().map(|v| v.version.to_lowercase()).collect()
}

/// The catalog entries of a chunk of rows (read with their metadata).
fn leaves_json(hive: &Hive, chunk: &[PackageVersion], advisories: &Advisories) -> Vec<Value> {
    chunk
        .iter()
        .map(|v| catalog_entry(hive, v, advisories))
        .collect()
}

/// A page of `lower_versions`: `inline` inside the index (fragment `@id`), else a reference or, with
/// `entries` (each version's catalog entry), the standalone page document.
fn page_json(
    hive: &Hive,
    lower_id: &str,
    lower_versions: &[String],
    entries: Option<Vec<Value>>,
    inline: bool,
) -> Value {
    let lower = lower_versions.first().cloned().unwrap_or_default();
    let upper = lower_versions.last().cloned().unwrap_or_default();
    let index_url = hive.index_url(lower_id);
    let mut page = json!({
        "@id": if inline {
            format!("{index_url}#page/{lower}/{upper}")
        } else {
            hive.page_url(lower_id, &lower, &upper)
        },
        "@type": "catalog:CatalogPage",
        "count": lower_versions.len(),
        "lower": lower,
        "upper": upper,
        "parent": index_url,
    });
    if let Some(entries) = entries {
        page["items"] = lower_versions
            .iter()
            .zip(entries)
            .map(|(lower_version, entry)| {
                json!({
                    "@id": hive.leaf_url(lower_id, lower_version),
                    "@type": "Package",
                    "catalogEntry": entry,
                    "packageContent": hive.content_url(lower_id, lower_version),
                    "registration": index_url,
                })
            })
            .collect();
    }
    page
}

fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The `catalogEntry` (NuGet's `PackageDetails`) built from the stored .nuspec, with the version's
/// deprecation and vulnerabilities in NuGet.org's shape.
fn catalog_entry(hive: &Hive, v: &PackageVersion, advisories: &Advisories) -> Value {
    let metadata_json = advisories.metadata.get(&v.id).map_or("", String::as_str);
    let mut entry = package_details(hive, v, metadata_json);
    let leaf_url = hive.leaf_url(&v.package_id.to_lowercase(), &v.version.to_lowercase());
    if let Some(d) = advisories.deprecations.get(&v.id) {
        entry["deprecation"] = deprecation_json(&leaf_url, d);
    }
    let vulnerabilities = vulnerabilities_json(&leaf_url, &advisories.vulnerabilities, &v.version);
    if !vulnerabilities.is_empty() {
        entry["vulnerabilities"] = Value::Array(vulnerabilities);
    }
    entry
}

/// A version's `deprecation` in NuGet.org's shape; `at` is the document's URL.
pub(super) fn deprecation_json(at: &str, d: &Deprecation) -> Value {
    let mut deprecation = json!({
        "@id": format!("{at}#deprecation"),
        "reasons": d.reasons.protocol_names(),
    });
    if let Some(message) = &d.message {
        deprecation["message"] = json!(message);
    }
    if let Some(alternate) = &d.alternate_id {
        deprecation["alternatePackage"] = json!({
            "@id": format!("{at}#deprecation/alternatePackage"),
            "id": alternate,
            "range": d.alternate_range.as_deref().unwrap_or("*"),
        });
    }
    deprecation
}

/// The `vulnerabilities` of `version` among the recorded ones of its ID, in NuGet.org's shape
/// (`severity` a string "0".."3").
pub(super) fn vulnerabilities_json(
    at: &str,
    recorded: &[Vulnerability],
    version: &str,
) -> Vec<Value> {
    let Ok(version) = NuGetVersion::parse(version) else {
        return Vec::new();
    };
    recorded
        .iter()
        .filter(|vuln| VersionRange::parse(&vuln.versions).is_ok_and(|r| r.satisfies(&version)))
        .enumerate()
        .map(|(i, vuln)| {
            json!({
                "@id": format!("{at}#vulnerability/{i}"),
                "@type": "Vulnerability",
                "advisoryUrl": vuln.advisory_url,
                "severity": vuln.severity.number().to_string(),
            })
        })
        .collect()
}

/// The `PackageDetails` fields the .nuspec gives.
fn package_details(hive: &Hive, v: &PackageVersion, metadata_json: &str) -> Value {
    let lower_id = v.package_id.to_lowercase();
    let lower_version = v.version.to_lowercase();
    let leaf_url = hive.leaf_url(&lower_id, &lower_version);
    let meta: Option<PackageMetadata> = serde_json::from_str(metadata_json).ok();
    let Some(meta) = meta else {
        return json!({
            "@id": format!("{leaf_url}#catalogEntry"), "@type": "PackageDetails",
            "id": v.package_id, "version": v.full_version(), "listed": v.listed,
            "description": v.texts.description, "authors": v.texts.authors,
            "packageContent": hive.content_url(&lower_id, &lower_version),
        });
    };
    let spec = meta.nuspec;
    let dependency_groups: Vec<Value> = spec
        .dependency_groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let group_id = format!("{leaf_url}#dependencygroup/{i}");
            let mut g = json!({
                "@id": group_id,
                "@type": "PackageDependencyGroup",
                "dependencies": group.dependencies.iter().map(|d| json!({
                    "@id": format!("{group_id}/{}", d.id.to_lowercase()),
                    "@type": "PackageDependency",
                    "id": d.id,
                    "range": d.range.normalized(),
                    "registration": hive.index_url(&d.id.to_lowercase()),
                })).collect::<Vec<_>>(),
            });
            if let Some(tfm) = &group.target_framework {
                g["targetFramework"] = json!(tfm);
            }
            g
        })
        .collect();
    let license_expression = spec
        .license
        .as_ref()
        .filter(|l| l.kind == "expression")
        .map(|l| l.value.clone());
    json!({
        "@id": format!("{leaf_url}#catalogEntry"),
        "@type": "PackageDetails",
        "authors": spec.authors,
        "copyright": spec.copyright,
        "dependencyGroups": dependency_groups,
        "description": spec.description,
        "developmentDependency": spec.development_dependency,
        "frameworkAssemblies": spec.framework_assemblies,
        "iconUrl": spec.icon_url,
        "id": v.package_id,
        "language": spec.language,
        "licenseExpression": license_expression,
        "licenseUrl": spec.license_url,
        "listed": v.listed,
        "minClientVersion": spec.min_client_version,
        "packageContent": hive.content_url(&lower_id, &lower_version),
        "packageHash": v.package_hash,
        "packageHashAlgorithm": "SHA512",
        "packageSize": v.package_size,
        "packageTypes": spec.package_types,
        "projectUrl": spec.project_url,
        "published": timestamp(v.published_at),
        "readmeFile": spec.readme,
        "releaseNotes": spec.release_notes,
        "repository": spec.repository,
        "requireLicenseAcceptance": spec.require_license_acceptance,
        "serviceable": spec.serviceable,
        "summary": spec.summary,
        "tags": spec.tags,
        "title": spec.title,
        "version": v.full_version(),
    })
}
