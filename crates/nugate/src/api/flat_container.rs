//! `PackageBaseAddress/3.0.0`: version lists and package downloads by lower-case ID and version.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde_json::json;

use super::guard::Readable;
use super::{cached_json, DocumentRequest};
use crate::db::packages::PackageVersion;
use crate::error::{message_response, ApiError};
use crate::feed::DocumentKey;
use crate::model::policy::ReadScope;
use crate::packages::upstream::Resolved;
use crate::packages::PackageMetadata;
use crate::state::AppState;

/// Every version, unlisted included, so restores of exact versions keep working.
pub async fn versions(
    State(state): State<AppState>,
    request: DocumentRequest,
    Readable(readable): Readable,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !readable.allows(&id) {
        return Err(not_found_id(&id));
    }
    let resolved = state
        .packages
        .resolve(&id)
        .await?
        .ok_or_else(|| not_found_id(&id))?;
    let key = match &resolved {
        Resolved::Local(package) => DocumentKey {
            lower_id: package.lower_id.clone(),
            changed_seq: package.changed_seq,
            what: "flat-index".to_string(),
        },
        Resolved::Mirrored(mirrored) => DocumentKey {
            lower_id: mirrored.id.to_lowercase(),
            changed_seq: mirrored.stamp,
            what: "mirror flat-index".to_string(),
        },
    };
    cached_json(state.packages.feed(), key, request, || async {
        // The feed's own versions, or those served from upstream.
        let versions: Vec<String> = match &resolved {
            Resolved::Local(package) => package
                .versions
                .iter()
                .map(|v| v.row.version.to_lowercase())
                .collect(),
            Resolved::Mirrored(mirrored) => mirrored
                .versions
                .iter()
                .map(|v| v.version().to_lowercase())
                .collect(),
        };
        Ok(json!({ "versions": versions }))
    })
    .await
}

fn not_found_id(id: &str) -> ApiError {
    ApiError::NotFound(format!("A package with ID '{id}' does not exist."))
}

/// `{id}/{version}/{id}.{version}.nupkg` and `{id}/{version}/{id}.nuspec`.
pub async fn download(
    State(state): State<AppState>,
    Readable(readable): Readable,
    Path((id, version, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = readable_version(&state, &readable, &id, &version).await?;
    let lower_id = target.package_id.to_lowercase();
    let lower_version = target.version.to_lowercase();
    let file = file.to_lowercase();
    if file == format!("{lower_id}.{lower_version}.nupkg") {
        serve(&state, &target, &headers, false).await
    } else if file == format!("{lower_id}.nuspec") {
        serve(&state, &target, &headers, true).await
    } else if file == "readme" {
        readme(&state, &target).await
    } else {
        Err(ApiError::NotFound(format!(
            "'{file}' is not a file of package {} {}.",
            target.package_id, target.version
        )))
    }
}

/// `{id}/{version}/readme` (`ReadmeUriTemplate/6.13.0`): the README the package ships, or a 404.
async fn readme(state: &AppState, target: &PackageVersion) -> Result<Response, ApiError> {
    let mut metadata = state.packages.feed().metadata_of(&[target.id]).await?;
    let readme = metadata
        .remove(&target.id)
        .and_then(|m| serde_json::from_str::<PackageMetadata>(&m).ok())
        .and_then(|m| m.readme)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Package {} {} has no README.",
                target.package_id, target.version
            ))
        })?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        readme,
    )
        .into_response())
}

/// `GET /api/v2/package/{id}/{version}`: the V2 download URL older clients use.
pub async fn download_v2(
    State(state): State<AppState>,
    Readable(readable): Readable,
    Path((id, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = readable_version(&state, &readable, &id, &version).await?;
    serve(&state, &target, &headers, false).await
}

/// A version the reader may see (fetched from upstream when it is an upstream's and not cached yet):
/// any other does not exist.
async fn readable_version(
    state: &AppState,
    readable: &ReadScope,
    id: &str,
    version: &str,
) -> Result<PackageVersion, ApiError> {
    if !readable.allows(id) {
        return Err(ApiError::NotFound(format!(
            "A package with ID '{id}' and version '{version}' does not exist."
        )));
    }
    state.packages.downloadable_version(id, version).await
}

/// Streams a stored file with long-lived cache headers: published versions never change.
async fn serve(
    state: &AppState,
    target: &PackageVersion,
    headers: &HeaderMap,
    nuspec: bool,
) -> Result<Response, ApiError> {
    let etag = format!(
        "\"{}{}\"",
        target
            .package_hash
            .to_string()
            .replace(['/', '+', '='], "_"),
        if nuspec { "-nuspec" } else { "" }
    );
    let last_modified = u64::try_from(target.published_at)
        .map(|secs| {
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        })
        .unwrap_or_default();
    let cache = [
        (header::ETAG, etag.clone()),
        (header::LAST_MODIFIED, last_modified),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_string(),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    if !nuspec {
        state.packages.count_download(target);
    }
    let lower_id = target.package_id.to_lowercase();
    let lower_version = target.version.to_lowercase();
    // A published file never changes, so small ones are kept with the rendered documents: restores fetch
    // the same few packages over and over.
    let feed = state.packages.feed();
    let key = DocumentKey {
        lower_id: lower_id.clone(),
        changed_seq: 0,
        what: format!(
            "file {lower_version} {}",
            if nuspec { "nuspec" } else { "nupkg" }
        ),
    };
    // Whole bodies carry their length; a streamed one gets it from the storage's metadata.
    let (body, streamed_len) = match feed.documents.get(&key) {
        Some(bytes) => (Body::from(bytes), None),
        None => {
            let storage = state.packages.storage();
            let opened = if nuspec {
                storage.nuspec(&lower_id, &lower_version).await
            } else {
                storage.nupkg(&lower_id, &lower_version).await
            };
            let download = match opened {
                Ok(d) => d,
                Err(e) => return Ok(storage_unavailable(state, target, &e)),
            };
            if download.size <= MAX_CACHED_FILE {
                match download.stream.try_collect::<Vec<Bytes>>().await {
                    Ok(chunks) => {
                        let bytes = Bytes::from(chunks.concat());
                        feed.documents.put(key, bytes.clone());
                        (Body::from(bytes), None)
                    }
                    Err(e) => return Ok(storage_unavailable(state, target, &e)),
                }
            } else {
                (Body::from_stream(download.stream), Some(download.size))
            }
        }
    };
    let (content_type, filename) = if nuspec {
        ("application/xml", format!("{lower_id}.nuspec"))
    } else {
        (
            "application/octet-stream",
            format!("{lower_id}.{lower_version}.nupkg"),
        )
    };
    let mut response = (cache, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(Ok(v)) = streamed_len.map(|len| HeaderValue::from_str(&len.to_string())) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Files up to this size are cached in memory after their first download.
const MAX_CACHED_FILE: u64 = 1024 * 1024;

fn storage_unavailable(
    state: &AppState,
    target: &PackageVersion,
    error: &dyn std::fmt::Display,
) -> Response {
    state.metrics.storage_errors.inc();
    tracing::error!(id = %target.package_id, version = %target.version, error = %error, "package file unreadable");
    message_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "The package file cannot be read from storage right now. Please try again.",
    )
}
