//! `VulnerabilityInfo/6.7.0`: the vulnerabilities owners and administrators recorded, in the files
//! restore audits against: an index (an array of pages) and one page, an object keyed by lower-case ID
//! whose values list `{url, severity 0–3, versions}`. An empty page is `{}`, never `[]`.
//!
//! Both are drawn from every package, so they are cached under the feed's change counter (a vulnerability
//! change bumps it) and carry an ETag of their content, so a client's HTTP cache gets a `304`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::guard::Readable;
use super::json_bytes;
use crate::error::ApiError;
use crate::feed::DocumentKey;
use crate::model::policy::ReadScope;
use crate::state::{AppState, BaseUrl};

/// The one page's name.
const PAGE: &str = "base";

/// The index's URL, as the service index lists it.
pub fn index_url(base: &str) -> String {
    format!("{base}/v3/vulnerabilities/index.json")
}

/// `GET /v3/vulnerabilities/index.json`.
pub async fn index(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Readable(readable): Readable,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let body = cached(&state, &readable, &format!("index {base}"), || async {
        Ok(json!([{
            "@name": PAGE,
            "@id": format!("{base}/v3/vulnerabilities/{PAGE}.json"),
            "@updated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }]))
    })
    .await?;
    Ok(with_etag(body, &headers))
}

/// `GET /v3/vulnerabilities/{page}.json`.
pub async fn page(
    State(state): State<AppState>,
    Readable(readable): Readable,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !name.eq_ignore_ascii_case(&format!("{PAGE}.json")) {
        return Err(ApiError::NotFound(format!(
            "No vulnerability page '{name}'."
        )));
    }
    let body = cached(&state, &readable, "page", || async {
        let mut page: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for v in state.packages.vulnerabilities(None).await? {
            if !readable.allows(&v.package_id) {
                continue;
            }
            page.entry(v.package_id.to_lowercase())
                .or_default()
                .push(json!({
                    "url": v.advisory_url,
                    "severity": v.severity.number(),
                    "versions": v.versions,
                }));
        }
        Ok(json!(page))
    })
    .await?;
    Ok(with_etag(body, &headers))
}

/// Renders a document, or takes it from the feed's cache when the reader sees every package (a reader
/// limited to some IDs gets its own rendering each time).
async fn cached<Render, Rendering>(
    state: &AppState,
    readable: &ReadScope,
    what: &str,
    render: Render,
) -> Result<Bytes, ApiError>
where
    Render: FnOnce() -> Rendering,
    Rendering: std::future::Future<Output = Result<Value, ApiError>>,
{
    let feed = state.packages.feed();
    if !matches!(readable, ReadScope::Everything) {
        return Ok(Bytes::from(render().await?.to_string()));
    }
    let seq = feed.view().await?.seq();
    let key = DocumentKey {
        // No package ID is empty, so no package's change drops it; the counter in the key does.
        lower_id: String::new(),
        changed_seq: seq,
        what: format!("vulnerabilities {what}"),
    };
    if let Some(body) = feed.documents.get(&key) {
        return Ok(body);
    }
    let body = Bytes::from(render().await?.to_string());
    feed.documents.put(key, body.clone());
    Ok(body)
}

/// The JSON answer with an ETag of its content, or a `304` when the client holds that content.
fn with_etag(body: Bytes, headers: &HeaderMap) -> Response {
    let digest = Sha256::digest(&body);
    let etag: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{etag}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_bytes(body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
