//! Registration documents of IDs served from upstream feeds: one index with every version inline (no
//! separate pages), leaves built from this feed's cached copies where it has them and from the
//! upstream's catalog entries otherwise, every link pointing at this feed so downloads come through it.

use axum::response::Response;
use nuget_formats::NuGetVersion;
use serde_json::{json, Value};

use super::{catalog_entry, page_json, timestamp, with_metadata, Advisories, Hive, PAGE_SIZE};
use crate::api::{cached_json, DocumentRequest};
use crate::db::packages::PackageVersion;
use crate::error::ApiError;
use crate::feed::DocumentKey;
use crate::packages::upstream::{Mirrored, MirroredVersion, UpstreamVersion};
use crate::state::AppState;

fn key(mirrored: &Mirrored, hive: &Hive, what: &str) -> DocumentKey {
    DocumentKey {
        lower_id: mirrored.id.to_lowercase(),
        changed_seq: mirrored.stamp,
        what: format!("mirror {} {what} {}", hive.hive, hive.base),
    }
}

/// Whether a hive shows a version: the SemVer 1 hive leaves SemVer 2 versions out.
fn shown(v: &MirroredVersion, semver2: bool) -> bool {
    semver2
        || match v {
            MirroredVersion::Cached(row) => !row.is_semver2,
            MirroredVersion::Upstream(u) => {
                !NuGetVersion::parse(&u.version).is_ok_and(|v| v.is_semver2())
            }
        }
}

/// The catalog entries of `versions`, in order: cached ones from their stored .nuspec, the others from
/// the upstream's entry with this feed's links.
async fn entries(
    state: &AppState,
    hive: &Hive,
    versions: &[&MirroredVersion],
) -> Result<Vec<Value>, ApiError> {
    let cached: Vec<PackageVersion> = versions
        .iter()
        .filter_map(|v| match v {
            MirroredVersion::Cached(row) => Some(row.clone()),
            MirroredVersion::Upstream(_) => None,
        })
        .collect();
    let advisories = if cached.is_empty() {
        Advisories::default()
    } else {
        with_metadata(state, &cached).await?
    };
    let mut cached = cached.into_iter();
    let mut out = Vec::with_capacity(versions.len());
    for v in versions {
        out.push(match v {
            MirroredVersion::Cached(_) => match cached.next() {
                Some(row) => catalog_entry(hive, &row, &advisories),
                None => Value::Null,
            },
            MirroredVersion::Upstream(u) => upstream_entry(hive, u),
        });
    }
    Ok(out)
}

/// An upstream's catalog entry with `@id`, `packageContent` and dependency links of this feed.
fn upstream_entry(hive: &Hive, v: &UpstreamVersion) -> Value {
    let mut entry = v.entry.clone();
    let lower_id = entry["id"].as_str().unwrap_or_default().to_lowercase();
    let lower_version = v.version.to_lowercase();
    entry["@id"] = json!(format!(
        "{}#catalogEntry",
        hive.leaf_url(&lower_id, &lower_version)
    ));
    entry["packageContent"] = json!(hive.content_url(&lower_id, &lower_version));
    entry["listed"] = json!(v.listed);
    if let Some(groups) = entry["dependencyGroups"].as_array_mut() {
        for dependency in groups
            .iter_mut()
            .filter_map(|g| g["dependencies"].as_array_mut())
            .flatten()
        {
            if let Some(id) = dependency["id"].as_str().map(str::to_lowercase) {
                dependency["registration"] = json!(hive.index_url(&id));
            }
        }
    }
    entry
}

/// `{hive}/{id}/index.json` of an upstream-served ID.
pub(super) async fn index(
    state: &AppState,
    hive: &Hive,
    mirrored: &Mirrored,
    semver2: bool,
    request: DocumentRequest,
) -> Result<Response, ApiError> {
    cached_json(
        state.packages.feed(),
        key(mirrored, hive, "index"),
        request,
        || async {
            let lower_id = mirrored.id.to_lowercase();
            let versions: Vec<&MirroredVersion> = mirrored
                .versions
                .iter()
                .filter(|v| shown(v, semver2))
                .collect();
            if versions.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "A package with ID '{}' does not exist.",
                    mirrored.id
                )));
            }
            let entries = entries(state, hive, &versions).await?;
            let lower_versions: Vec<String> = versions
                .iter()
                .map(|v| v.version().to_lowercase())
                .collect();
            let pages: Vec<Value> = lower_versions
                .chunks(PAGE_SIZE)
                .zip(entries.chunks(PAGE_SIZE))
                .map(|(chunk, entries)| {
                    page_json(hive, &lower_id, chunk, Some(entries.to_vec()), true)
                })
                .collect();
            Ok(json!({
                "@id": hive.index_url(&lower_id),
                "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
                "count": pages.len(),
                "items": pages,
            }))
        },
    )
    .await
}

/// `{hive}/{id}/{version}.json` of an upstream-served ID.
pub(super) async fn leaf(
    state: &AppState,
    hive: &Hive,
    mirrored: &Mirrored,
    version: &str,
    semver2: bool,
    request: DocumentRequest,
) -> Result<Response, ApiError> {
    let missing = || {
        ApiError::NotFound(format!(
            "A package with ID '{}' and version '{version}' does not exist.",
            mirrored.id
        ))
    };
    let normalized = NuGetVersion::parse(version)
        .map(|v| v.normalized())
        .map_err(|_| missing())?;
    let found = mirrored
        .versions
        .iter()
        .find(|v| v.version().eq_ignore_ascii_case(&normalized) && shown(v, semver2))
        .ok_or_else(missing)?;
    let lower_version = normalized.to_lowercase();
    let what = format!("leaf {lower_version}");
    cached_json(
        state.packages.feed(),
        key(mirrored, hive, &what),
        request,
        || async {
            let lower_id = mirrored.id.to_lowercase();
            let entry = entries(state, hive, &[found])
                .await?
                .pop()
                .unwrap_or_default();
            let published = match found {
                MirroredVersion::Cached(row) => json!(timestamp(row.published_at)),
                MirroredVersion::Upstream(u) => u.entry["published"].clone(),
            };
            Ok(json!({
                "@id": hive.leaf_url(&lower_id, &lower_version),
                "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
                "catalogEntry": entry,
                "listed": found.listed(),
                "packageContent": hive.content_url(&lower_id, &lower_version),
                "published": published,
                "registration": hive.index_url(&lower_id),
            }))
        },
    )
    .await
}
