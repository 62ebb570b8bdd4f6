//! The one place where API keys are checked.
//!
//! [`require_api_key`] is the middleware every keyed route goes through: it authenticates the
//! `X-NuGet-ApiKey` header (401 when missing, 403 when unusable), hands the key to the handler through
//! [`ApiKey`], and adds the expiry warning to whatever the handler answers. [`authorize`] is the single
//! scope-and-ownership rule every keyed write calls once it knows which package it touches.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::AnyConnection;

use crate::app::{AppState, BaseUrl};
use crate::auth::keys::{kind, AuthFailure, AuthenticatedKey};
use crate::auth::scope::{subject_matches, PackageAction};
use crate::db;
use crate::error::ApiError;

/// The header NuGet clients send the key in.
pub const API_KEY_HEADER: &str = "x-nuget-apikey";

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
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            check_key(&state, &presented, peer).await
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
    request.extensions_mut().insert(key);
    let mut response = next.run(request).await;
    if let Some(warning) = warning.and_then(|w| HeaderValue::from_str(&w).ok()) {
        response.headers_mut().append("X-NuGet-Warning", warning);
    }
    response
}

/// Consumes up to `limit` bytes of a body, for at most 30 seconds.
async fn drain(body: axum::body::Body, limit: u64) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen: u64 = 0;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > limit {
                break;
            }
        }
    })
    .await;
}

/// Wrong keys presented from one address, or for one key identifier, within the window before further
/// attempts are refused outright (whether or not the next key would be right).
pub const MAX_KEY_FAILURES: i64 = 30;

/// Authenticates with guessing protection: failures are counted per client address and per key
/// identifier in the database (so every node sees them), and the answer to a wrong key is the same
/// whether its identifier exists or not.
async fn check_key(
    state: &AppState,
    presented: &str,
    peer: Option<std::net::IpAddr>,
) -> Result<AuthenticatedKey, ApiError> {
    let mut subjects = Vec::new();
    if let Some(ip) = peer {
        subjects.push(format!("key-ip:{ip}"));
    }
    if let Some(id) = crate::auth::api_key::lookup_id_of(presented) {
        subjects.push(format!("key-id:{id}"));
    }
    if state
        .sessions
        .throttled_after(&subjects, MAX_KEY_FAILURES)
        .await?
    {
        return Err(ApiError::TooManyAttempts);
    }
    match state.keys.authenticate(presented).await {
        Ok(key) if key.key.kind != kind::VERIFY => Ok(key),
        Ok(_) | Err(AuthFailure::Invalid) => {
            state.sessions.record_failure(&subjects).await?;
            Err(ApiError::invalid_key())
        }
        Err(AuthFailure::Database(e)) => Err(ApiError::from(e)),
        Err(other) => Err(ApiError::Forbidden(other.to_string())),
    }
}

fn realm(base: &str) -> String {
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

/// Decides whether `key` may perform `action` on `package_id`.
///
/// The key needs an action that covers the operation and a subject (ID or glob) matching the ID; when the
/// package exists (`owned_registration`), the key's user must own it *now*: ownership is re-read on every
/// request, so losing it silently removes the right. Every refusal is NuGet.org's 403 message (NuGet.org
/// answers 401 for push mismatches, which makes nuget.exe ask for credentials instead of printing why).
pub async fn authorize(
    conn: &mut AnyConnection,
    key: &AuthenticatedKey,
    action: PackageAction,
    package_id: &str,
    owned_registration: Option<i64>,
) -> Result<(), ApiError> {
    let action_granted = key.actions().any(|granted| granted.allows(action));
    let subject_granted = key
        .key
        .subjects
        .iter()
        .any(|subject| subject_matches(subject, package_id));
    if !(action_granted && subject_granted) {
        return Err(ApiError::invalid_key());
    }
    if let Some(registration_id) = owned_registration {
        if !db::packages::is_owner(conn, registration_id, key.user.id).await? {
            return Err(ApiError::invalid_key());
        }
    }
    Ok(())
}
