//! `SymbolPackagePublish/4.9.0` (`PUT /api/v2/symbolpackage`) and the symbol server debuggers read
//! (`GET /symbols/{pdb name}/{guid}FFFFFFFF/{pdb name}`, the SSQP convention).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::guard::ApiKey;
use crate::error::{message_response, ApiError};
use crate::state::AppState;

/// `PUT /api/v2/symbolpackage`: the `.snupkg` nuget.exe (4.9+) and `dotnet nuget push` send after the
/// package, as the same multipart body (or raw), with the same key.
pub async fn push(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let package = super::publish::receive_package(&state, &headers, body).await?;
    let max = state.config.max_package_size;
    let pushed = state.packages.push_symbols(&key, package, max).await?;
    Ok(message_response(
        StatusCode::CREATED,
        &format!(
            "Symbols for {} {} were pushed ({} PDB{}).",
            pushed.id,
            pushed.version,
            pushed.files.len(),
            if pushed.files.len() == 1 { "" } else { "s" }
        ),
    ))
}

/// `GET /symbols/{name}/{key}/{name}`: a pushed portable PDB, any case; 404 when unknown.
pub async fn download(
    State(state): State<AppState>,
    Path((name, key, name_again)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (stored, download) = state.packages.symbol_file(&name, &key, &name_again).await?;
    let mut response = Body::from_stream(download.stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&download.size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    // A PDB's key is the id of one build: what it names never changes.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "\"{}\"",
        stored.file_hash.replace(['/', '+', '='], "_")
    )) {
        h.insert(header::ETAG, v);
    }
    if !stored.file_name_lower.contains(['"', '\\']) {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{}\"",
            stored.file_name_lower
        )) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}
