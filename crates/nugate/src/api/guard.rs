//! The key guard of the protocol routes.
//!
//! [`require_api_key`] is the middleware every keyed route goes through: it checks the `X-NuGet-ApiKey`
//! header with the key service's throttled check (401 when missing, 403 when unusable, 429 after too
//! many wrong keys), hands the key to the handler through [`ApiKey`], and adds the expiry warning to
//! whatever the handler answers. The scope-and-ownership rule itself is `model::policy::authorize`,
//! applied by the package service once it knows which package a request touches.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::keys::{AuthenticatedKey, KeyUse};
use crate::error::ApiError;
use crate::model::policy::ReadScope;
use crate::state::{AppState, BaseUrl};

/// The header NuGet clients send the key in.
pub const API_KEY_HEADER: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-nuget-apikey");

/// Middleware: authenticate the key or answer 401/403 before the handler (and before any body is read).
pub async fn require_api_key(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    mut request: Request,
    next: Next,
) -> Response {
    let refusal = match request.headers().get(API_KEY_HEADER).map(|v| v.to_str()) {
        None | Some(Ok("")) => Err(ApiError::MissingKey {
            realm: realm(&base),
        }),
        Some(Err(_)) => Err(ApiError::invalid_key()),
        Some(Ok(presented)) => {
            let presented = presented.trim().to_string();
            state
                .keys
                .check(&presented, peer(&request), KeyUse::Api)
                .await
                .map_err(ApiError::from)
        }
    };
    let key = match refusal {
        Ok(key) => key,
        Err(error) => {
            // Read (and discard) what the client is still sending: clients that write the whole body
            // before reading the answer (nuget.exe 3.4.4) otherwise see a broken connection, not the message.
            drain(request.into_body(), state.config.max_package_size).await;
            return error.into_response();
        }
    };
    let warning = key.expires_in_days.map(|days| {
        format!(
            "Your API key expires in {days} day{}. Visit {base}/account/apikeys to regenerate your API key.",
            if days == 1 { "" } else { "s" }
        )
    });
    crate::logging::request::record_key(key.key.name(), &key.key.lookup_id);
    request.extensions_mut().insert(key);
    let origin = origin_of(&request);
    let mut response = crate::audit::with_origin(origin, next.run(request)).await;
    if let Some(warning) = warning.and_then(|w| HeaderValue::from_str(&w).ok()) {
        response.headers_mut().append("X-NuGet-Warning", warning);
    }
    response
}

/// Consumes up to `limit` bytes of a body, for at most 30 seconds: a client that writes its whole body
/// before reading the answer then reads the refusal instead of a reset connection.
pub(crate) async fn drain(body: axum::body::Body, limit: u64) {
    drain_while_flowing(body, limit, std::time::Duration::from_secs(30)).await;
}

/// Like [`drain`], but stops as soon as the body pauses for `idle`: for refusals that must not wait on a
/// client that declared a body it never sends.
pub(crate) async fn drain_while_flowing(
    body: axum::body::Body,
    limit: u64,
    idle: std::time::Duration,
) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen: u64 = 0;
    let drained = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(Ok(chunk))) = tokio::time::timeout(idle, stream.next()).await {
            seen += chunk.len() as u64;
            if seen > limit {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!(seen, "stopped draining a refused request's body after 30 s");
    }
}

/// Middleware for unkeyed routes that change things (leak reports, token exchanges): their audit
/// records name the request's origin.
pub async fn record_origin(request: Request, next: Next) -> Response {
    let origin = origin_of(&request);
    crate::audit::with_origin(origin, next.run(request)).await
}

/// Where a request came from, for the audit records of what it does.
pub fn origin_of(request: &Request) -> crate::audit::Origin {
    crate::audit::Origin {
        address: peer(request),
        user_agent: request
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The client's address, for the per-address key throttle.
pub fn peer(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

pub(super) fn realm(base: &str) -> String {
    base.split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(base)
        .trim_end_matches('/')
        .to_string()
}

/// The authenticated key of a request that passed [`require_api_key`].
pub struct ApiKey(pub AuthenticatedKey);

impl<S: Send + Sync> FromRequestParts<S> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthenticatedKey>()
            .cloned()
            .map(ApiKey)
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "route uses ApiKey without the require_api_key middleware"
                ))
            })
    }
}

/// The packages this request may read (everything on a public feed).
pub struct Readable(pub ReadScope);

impl<S: Send + Sync> FromRequestParts<S> for Readable {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Readable(
            parts
                .extensions
                .get::<ReadScope>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}
