//! `PackagePublish/2.0.0`: push, unlist, relist, and ownership verification keys.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::guard::{self, ApiKey};
use super::json;
use crate::auth::keys::KeyUse;
use crate::error::{message_response, ApiError};
use crate::packages::upload::{extract_package, spool_body, ExtractedPackage};
use crate::state::AppState;

/// How much of a body declared too large is read (and dropped) before the 413, so that a client still
/// writing it sees the answer: enough for any near miss, far less than a real package. A client that
/// sends nothing gets the answer after a short pause.
const DRAIN_BEFORE_REFUSING: u64 = 16 * 1024 * 1024;

/// `GET /api/v2/package`: NuGet 2.8.7 probes the push URL before pushing and asks for credentials if
/// the probe answers 401, so the probe gets a plain 200.
pub async fn probe() -> Response {
    message_response(
        StatusCode::OK,
        "nugate package publishing endpoint: PUT a .nupkg here.",
    )
}

/// `PUT /api/v2/package`: multipart (first file part) or raw .nupkg body, streamed to disk.
pub async fn push(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let package = receive_package(&state, &headers, body).await?;
    let pushed = state.packages.push(&key, package).await?;
    Ok(message_response(
        StatusCode::CREATED,
        &format!("Package {} {} was pushed.", pushed.id, pushed.version),
    ))
}

/// Streams a pushed body to disk and takes the package out of it (the first file part of a multipart
/// body, or the whole body): for packages and symbol packages alike. A body declared over the size
/// limit is refused before it is stored.
pub(super) async fn receive_package(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExtractedPackage, ApiError> {
    let max = state.config.max_package_size;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max.saturating_add(64 * 1024)) {
        guard::drain_while_flowing(body, DRAIN_BEFORE_REFUSING, Duration::from_millis(200)).await;
        return Err(ApiError::PayloadTooLarge { limit: max });
    }
    let tmp_dir = state.packages.tmp_dir().to_path_buf();
    let spool = spool_body(body, &tmp_dir, max).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    tokio::task::spawn_blocking(move || {
        extract_package(spool, content_type.as_deref(), &tmp_dir, max)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// `DELETE /api/v2/package/{id}/{version}`: unlist (the version stays installable by exact version).
pub async fn unlist(
    state: State<AppState>,
    key: ApiKey,
    path: Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_listing(state, key, path, false).await
}

/// `POST /api/v2/package/{id}/{version}`: relist.
pub async fn relist(
    state: State<AppState>,
    key: ApiKey,
    path: Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_listing(state, key, path, true).await
}

async fn change_listing(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((id, version)): Path<(String, String)>,
    listed: bool,
) -> Result<Response, ApiError> {
    let target = state
        .packages
        .set_listed_with_key(&key, &id, &version, listed)
        .await?;
    let (status, verb) = if listed {
        (StatusCode::OK, "relisted")
    } else {
        (StatusCode::NO_CONTENT, "unlisted")
    };
    Ok(message_response(
        status,
        &format!(
            "Package {} {} was {verb}.",
            target.package_id, target.version
        ),
    ))
}

/// `POST /api/v2/package/create-verification-key/{id}`.
pub async fn create_verification_key(
    state: State<AppState>,
    key: ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    verification_key(state, key, id).await
}

/// `POST /api/v2/package/create-verification-key/{id}/{version}`.
pub async fn create_verification_key_for_version(
    state: State<AppState>,
    key: ApiKey,
    Path((id, _version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    verification_key(state, key, id).await
}

/// Needs a push scope matching the ID (ownership is what the verification key then proves).
async fn verification_key(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    id: String,
) -> Result<Response, ApiError> {
    state.packages.may_mint_verification_key(&key, &id)?;
    let (plaintext, expires) = state.keys.create_verification_key(&key, &id).await?;
    let expires = chrono::DateTime::from_timestamp(expires, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Ok(json(&json!({ "Key": plaintext, "Expires": expires })))
}

/// `GET /api/v2/verifykey/{id}`.
pub async fn verify_key(
    state: State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    check_verification_key(state, request, id, None).await
}

/// `GET /api/v2/verifykey/{id}/{version}`.
pub async fn verify_key_for_version(
    state: State<AppState>,
    Path((id, version)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    check_verification_key(state, request, id, Some(version)).await
}

/// 200 when the verification key's user owns the package, 403 or 404 otherwise; the key is used up.
/// The key goes through the same throttled check as every other key.
async fn check_verification_key(
    State(state): State<AppState>,
    request: Request,
    id: String,
    version: Option<String>,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(guard::API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .ok_or_else(ApiError::invalid_key)?;
    let key = state
        .keys
        .check(&presented, guard::peer(&request), KeyUse::Verification)
        .await?;
    if !state.keys.consume_verification(&key, &id).await? {
        return Err(ApiError::invalid_key());
    }
    state
        .packages
        .verify_ownership(key.acting_account(), &id, version.as_deref())
        .await?;
    Ok(message_response(
        StatusCode::OK,
        "The API key is valid for this package.",
    ))
}
