//! The NuGet protocol: the V3 service index and resources, the V2 publish endpoints clients push to,
//! and the V2 OData feed older clients read (`v2/`).

mod deprecations;
mod flat_container;
pub mod guard;
mod leaks;
mod publish;
mod read_guard;
mod registration;
pub mod search;
mod service_index;
mod symbols;
mod token;
pub mod v2;
mod vulnerabilities;

use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::state::AppState;
use guard::require_api_key;
use read_guard::ReadGuard;

/// Registration hive for clients that predate SemVer 2: SemVer 2 versions are left out.
pub const REGISTRATION_HIVE: &str = "registration";
/// Registration hive for SemVer 2 aware clients (`RegistrationsBaseUrl/3.6.0`, `/Versioned`).
pub const REGISTRATION_SEMVER2_HIVE: &str = "registration-semver2";

/// The protocol routes that serve cached documents and stored files: version lists, registrations and
/// package downloads, which are most of a restore. They encode their own bodies (see [`cached_json`]).
pub fn document_routes(state: AppState) -> Router<AppState> {
    let read = read_guard(&state);
    let keyed = from_fn_with_state(state, require_api_key);
    let mut router = Router::new()
        .route(
            "/api/v2/package/{id}/{version}",
            read(get(flat_container::download_v2))
                .merge(delete(publish::unlist).post(publish::relist).layer(keyed)),
        )
        .route(
            "/v3-flatcontainer/{id}/index.json",
            read(get(flat_container::versions)),
        )
        .route(
            "/v3-flatcontainer/{id}/{version}/{file}",
            read(get(flat_container::download)),
        );
    for hive in [REGISTRATION_HIVE, REGISTRATION_SEMVER2_HIVE] {
        router = router
            .route(
                &format!("/v3/{hive}/{{id}}/index.json"),
                read(get(registration::index)),
            )
            .route(
                &format!("/v3/{hive}/{{id}}/page/{{lower}}/{{upper}}"),
                read(get(registration::page)),
            )
            .route(
                &format!("/v3/{hive}/{{id}}/{{leaf}}"),
                read(get(registration::leaf)),
            );
    }
    router
}

/// The other protocol routes. Keyed routes go through [`require_api_key`], reads through
/// [`ReadGuard`] on a feed that is not public; nothing else checks keys.
pub fn routes(state: AppState) -> Router<AppState> {
    let read = read_guard(&state);
    let keyed = from_fn_with_state(state.clone(), require_api_key);
    let router = Router::new()
        .route("/v3/index.json", read(get(service_index::index)))
        .route(
            "/api/v2/package",
            get(publish::probe).merge(put(publish::push).layer(keyed.clone())),
        )
        .route(
            "/api/v2/package/",
            get(publish::probe).merge(put(publish::push).layer(keyed.clone())),
        )
        .route(
            "/api/v2/package/{id}/deprecations",
            put(deprecations::deprecate).layer(keyed.clone()),
        )
        .route(
            "/api/v2/package/create-verification-key/{id}",
            post(publish::create_verification_key).layer(keyed.clone()),
        )
        .route(
            "/api/v2/package/create-verification-key/{id}/{version}",
            post(publish::create_verification_key_for_version).layer(keyed.clone()),
        )
        .route(
            "/api/v2/symbolpackage",
            put(symbols::push).layer(keyed.clone()),
        )
        .route("/api/v2/symbolpackage/", put(symbols::push).layer(keyed))
        .route("/symbols/{name}/{key}/{file}", get(symbols::download))
        .route(
            "/api/v2/token",
            post(token::exchange).layer(axum::middleware::from_fn(guard::record_origin)),
        )
        .route(
            "/api/secret-scanning/leaks",
            post(leaks::report).layer(axum::middleware::from_fn(guard::record_origin)),
        )
        .route("/api/v2/verifykey/{id}", get(publish::verify_key))
        .route(
            "/api/v2/verifykey/{id}/{version}",
            get(publish::verify_key_for_version),
        )
        .route(
            "/v3/vulnerabilities/index.json",
            read(get(vulnerabilities::index)),
        )
        .route(
            "/v3/vulnerabilities/{page}",
            read(get(vulnerabilities::page)),
        )
        .route("/v3/search", read(get(search::search)))
        .route("/v3/autocomplete", read(get(search::autocomplete)));
    // The V2 OData feed is a router of its own, every route a read.
    let v2 = match state.config.read_access {
        crate::config::ReadAccess::Public => v2::routes(),
        _ => v2::routes().route_layer(ReadGuard(state)),
    };
    router.merge(v2)
}

/// Puts a read route behind [`ReadGuard`], except on a public feed: there the guard would let
/// everything through, and leaving it out spares every read a layer (a boxed future and a clone of the
/// route).
fn read_guard(
    state: &AppState,
) -> impl Fn(axum::routing::MethodRouter<AppState>) -> axum::routing::MethodRouter<AppState> {
    let layer = (state.config.read_access != crate::config::ReadAccess::Public)
        .then(|| ReadGuard(state.clone()));
    move |route| match &layer {
        Some(layer) => route.layer(layer.clone()),
        None => route,
    }
}

/// The hive a request path belongs to.
fn hive_of(path: &str) -> (&'static str, bool) {
    let semver2 = path
        .strip_prefix("/v3/")
        .and_then(|rest| rest.strip_prefix(REGISTRATION_SEMVER2_HIVE))
        .is_some_and(|rest| rest.starts_with('/'));
    if semver2 {
        (REGISTRATION_SEMVER2_HIVE, true)
    } else {
        (REGISTRATION_HIVE, false)
    }
}

/// A JSON response with the content type NuGet clients expect.
fn json(value: &serde_json::Value) -> axum::response::Response {
    json_bytes(bytes::Bytes::from(value.to_string()))
}

/// Like [`json`], for an already serialised (cached) document.
fn json_bytes(body: bytes::Bytes) -> axum::response::Response {
    let mut response = read_response(body);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A response to a cached read, its header map made big enough once for all it gets: the body's own
/// headers (a document's type, tag and `Vary`, or a file's five) and the envelope's security headers.
/// Grown from empty, the map would be rehashed on the way.
fn read_response(body: bytes::Bytes) -> axum::response::Response {
    const HEADERS: usize = 12;
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    *response.headers_mut() = axum::http::HeaderMap::with_capacity(HEADERS);
    response
}

/// What a request for a cached document says about the copies it takes: whether the client takes gzip
/// (NuGet clients always do), from `Accept-Encoding`, and the tags of copies it already holds, from
/// `If-None-Match`.
pub struct DocumentRequest {
    gzip: bool,
    if_none_match: Option<axum::http::HeaderValue>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for DocumentRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let gzip = headers
            .get_all(axum::http::header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|coding| {
                let mut parts = coding.split(';').map(str::trim);
                parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                    && !parts.any(|p| {
                        p.strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                            .is_some_and(|q| q == 0.0)
                    })
            });
        Ok(DocumentRequest {
            gzip,
            if_none_match: headers.get(axum::http::header::IF_NONE_MATCH).cloned(),
        })
    }
}

impl DocumentRequest {
    /// Whether the client already holds this document (`If-None-Match` names its tag, in either
    /// encoding, weakly compared, or is `*`).
    fn holds(&self, document: &crate::feed::Document) -> bool {
        names_any(
            self.if_none_match.as_ref(),
            &[&document.etag, &document.gzip_etag],
        )
    }
}

/// Whether an `If-None-Match` header names one of `tags` (compared weakly, as the header is) or is `*`.
fn names_any(
    if_none_match: Option<&axum::http::HeaderValue>,
    tags: &[&axum::http::HeaderValue],
) -> bool {
    let Some(list) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    list.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag).as_bytes();
        tag == b"*" || tags.iter().any(|t| t.as_bytes() == tag)
    })
}

/// Documents smaller than this are sent as they are: compressing them saves less than it costs.
const MIN_GZIP_BYTES: usize = 1024;

/// Serves a document from the feed's cache, rendering and keeping it on a miss; a gzip copy is kept in
/// the same entry for clients that take it, so a restore storm compresses each document once, not once
/// per request, and a hit is one look-up. A client that already holds the document gets a 304.
/// Errors (a page that does not exist, a database outage) are never cached.
async fn cached_json<Render, Rendering>(
    feed: &crate::feed::FeedIndex,
    key: crate::feed::DocumentKey,
    request: DocumentRequest,
    render: Render,
) -> Result<axum::response::Response, crate::error::ApiError>
where
    Render: FnOnce() -> Rendering,
    Rendering: std::future::Future<Output = Result<serde_json::Value, crate::error::ApiError>>,
{
    let mut document = match feed.documents.document(&key) {
        Some(document) => document,
        None => {
            let document =
                crate::feed::Document::new(bytes::Bytes::from(render().await?.to_string()));
            feed.documents.put_document(key.clone(), document.clone());
            document
        }
    };
    // A document with a gzip copy varies with Accept-Encoding, whichever copy this client takes.
    let varies = document.body.len() >= MIN_GZIP_BYTES;
    let gzip = request.gzip && varies;
    if request.holds(&document) {
        return Ok(varying(not_modified(&document, gzip), varies));
    }
    if !gzip {
        return Ok(varying(
            tagged(json_bytes(document.body), document.etag),
            varies,
        ));
    }
    let compressed = match document.gzip.clone() {
        Some(compressed) => compressed,
        None => {
            let compressed = gzip_bytes(&document.body)
                .map_err(|e| crate::error::ApiError::Internal(e.into()))?;
            document.gzip = Some(compressed.clone());
            feed.documents.put_document(key, document.clone());
            compressed
        }
    };
    Ok(tagged(gzipped_json(compressed), document.gzip_etag))
}

/// Adds the document's tag to a response.
fn tagged(
    mut response: axum::response::Response,
    etag: axum::http::HeaderValue,
) -> axum::response::Response {
    response
        .headers_mut()
        .insert(axum::http::header::ETAG, etag);
    response
}

/// `304 Not Modified` for a document the client holds, with the tag of the copy it would get.
fn not_modified(document: &crate::feed::Document, gzip: bool) -> axum::response::Response {
    use axum::response::IntoResponse;
    let tag = if gzip {
        &document.gzip_etag
    } else {
        &document.etag
    };
    tagged(
        axum::http::StatusCode::NOT_MODIFIED.into_response(),
        tag.clone(),
    )
}

/// Adds `Vary: Accept-Encoding` to the response for a document that has a gzip copy, so that caches
/// keep the two copies apart.
fn varying(mut response: axum::response::Response, varies: bool) -> axum::response::Response {
    if varies {
        response.headers_mut().insert(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("accept-encoding"),
        );
    }
    response
}

fn gzip_bytes(body: &[u8]) -> std::io::Result<bytes::Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    Ok(bytes::Bytes::from(encoder.finish()?))
}

/// A gzip-encoded JSON document.
fn gzipped_json(body: bytes::Bytes) -> axum::response::Response {
    let mut response = json_bytes(body);
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_ENCODING,
        axum::http::HeaderValue::from_static("gzip"),
    );
    varying(response, true)
}
