//! `PackageBaseAddress/3.0.0`: version lists and package downloads by lower-case ID and version.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde_json::json;

use super::guard::Readable;
use super::{cached_json, DocumentRequest};
use crate::db::packages::PackageVersion;
use crate::error::{message_response, ApiError};
use std::sync::Arc;

use crate::feed::{Document, DocumentKey, FileHeaders};
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
    request: DocumentRequest,
) -> Result<Response, ApiError> {
    let target = readable_version(&state, &readable, &id, &version).await?;
    let (id, version) = (&*target.package_id, &*target.version);
    if spells(&file, &[id, ".", version, ".nupkg"]) {
        serve(&state, &target, &request, false).await
    } else if spells(&file, &[id, ".nuspec"]) {
        serve(&state, &target, &request, true).await
    } else if file.eq_ignore_ascii_case("readme") {
        readme(&state, &target).await
    } else {
        Err(ApiError::NotFound(format!(
            "'{file}' is not a file of package {} {}.",
            target.package_id, target.version
        )))
    }
}

/// Whether `file` is `parts` joined, in any case (IDs and versions are ASCII); spares a download
/// building the names it could be.
fn spells(file: &str, parts: &[&str]) -> bool {
    let mut rest = file.as_bytes();
    for part in parts {
        match rest.split_at_checked(part.len()) {
            Some((head, tail)) if head.eq_ignore_ascii_case(part.as_bytes()) => rest = tail,
            _ => return false,
        }
    }
    rest.is_empty()
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
    request: DocumentRequest,
) -> Result<Response, ApiError> {
    let target = readable_version(&state, &readable, &id, &version).await?;
    serve(&state, &target, &request, false).await
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

/// Serves a stored file with long-lived cache headers: published versions never change. Files up to
/// [`MAX_CACHED_FILE`] are kept with the rendered documents, with their headers made (restores fetch the
/// same few packages over and over); larger ones are streamed from storage.
async fn serve(
    state: &AppState,
    target: &PackageVersion,
    request: &DocumentRequest,
    nuspec: bool,
) -> Result<Response, ApiError> {
    // IDs and versions are ASCII; joined, not formatted: this runs for every download.
    let lower_id = target.package_id.to_ascii_lowercase();
    let lower_version = target.version.to_ascii_lowercase();
    let feed = state.packages.feed();
    let key = DocumentKey {
        lower_id,
        changed_seq: 0,
        what: [
            "file ",
            &lower_version,
            if nuspec { " nuspec" } else { " nupkg" },
        ]
        .concat(),
    };
    let if_none_match = request.if_none_match.as_ref();
    if let Some(file) = feed.documents.document(&key) {
        if let Some(made) = &file.file {
            return Ok(file_response(
                state,
                target,
                if_none_match,
                file.body,
                made,
                nuspec,
            ));
        }
    }
    let made = file_headers(target, &key.lower_id, &lower_version, nuspec);
    if super::names_any(if_none_match, &[&made.validators[0].1]) {
        return Ok(not_modified(&made));
    }
    let storage = state.packages.storage();
    let opened = if nuspec {
        storage.nuspec(&key.lower_id, &lower_version).await
    } else {
        storage.nupkg(&key.lower_id, &lower_version).await
    };
    let download = match opened {
        Ok(d) => d,
        Err(e) => return Ok(storage_unavailable(state, target, &e)),
    };
    if download.size > MAX_CACHED_FILE {
        // Streamed: the length comes from the storage's metadata.
        count_download(state, target, nuspec);
        let mut response = Response::new(Body::from_stream(download.stream));
        with_file_headers(&mut response, &made);
        if let Ok(length) = HeaderValue::from_str(&download.size.to_string()) {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, length);
        }
        return Ok(response);
    }
    let body = match download.stream.try_collect::<Vec<Bytes>>().await {
        Ok(chunks) => Bytes::from(chunks.concat()),
        Err(e) => return Ok(storage_unavailable(state, target, &e)),
    };
    let made = Arc::new(made);
    feed.documents
        .put_document(key, Document::file(body.clone(), Arc::clone(&made)));
    Ok(file_response(
        state,
        target,
        if_none_match,
        body,
        &made,
        nuspec,
    ))
}

/// A file's answer from its body and headers: a 304 when the client holds it, else the file (a
/// `.nupkg` counted as a download).
fn file_response(
    state: &AppState,
    target: &PackageVersion,
    if_none_match: Option<&HeaderValue>,
    body: Bytes,
    made: &FileHeaders,
    nuspec: bool,
) -> Response {
    if super::names_any(if_none_match, &[&made.validators[0].1]) {
        return not_modified(made);
    }
    count_download(state, target, nuspec);
    let mut response = super::read_response(body);
    with_file_headers(&mut response, made);
    response
}

fn count_download(state: &AppState, target: &PackageVersion, nuspec: bool) {
    if !nuspec {
        state.packages.count_download(target);
    }
}

fn not_modified(made: &FileHeaders) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response
        .headers_mut()
        .extend(made.validators.iter().cloned());
    response
}

fn with_file_headers(response: &mut Response, made: &FileHeaders) {
    let h = response.headers_mut();
    h.extend(made.validators.iter().cloned());
    h.extend(made.content.iter().cloned());
}

/// The headers a package file is sent with: its tag (the package's hash), its publication date, a year
/// of caching, its type and its file name.
fn file_headers(
    target: &PackageVersion,
    lower_id: &str,
    lower_version: &str,
    nuspec: bool,
) -> FileHeaders {
    let text = |value: String| {
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    };
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
    let (content_type, filename) = if nuspec {
        ("application/xml", format!("{lower_id}.nuspec"))
    } else {
        (
            "application/octet-stream",
            format!("{lower_id}.{lower_version}.nupkg"),
        )
    };
    FileHeaders {
        validators: [
            (header::ETAG, text(etag)),
            (header::LAST_MODIFIED, text(last_modified)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        content: [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                text(format!("attachment; filename=\"{filename}\"")),
            ),
        ],
    }
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
