//! The read guard of a private feed: on every protocol read, credentials are an API key granting
//! `read`, sent as the Basic password (any user name, as Azure Artifacts takes them) or in
//! `X-NuGet-ApiKey`. None, or unusable ones: 401 with a Basic challenge (NuGet clients send credentials
//! only after one, and try their others after another). The key's package scope narrows what the
//! request may see ([`super::guard::Readable`]). A public feed's routes do not have it at all.
//!
//! It is a plain tower layer rather than a `from_fn` middleware: a restore from a private feed passes it
//! on every request, and `from_fn` would box the route and its future once more for each.

use std::borrow::Cow;
use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either};
use tower_service::Service;

use super::guard::{peer, realm, API_KEY_HEADER};
use crate::auth::keys::{AuthFailure, VerifiedKey};
use crate::error::ApiError;
use crate::model::policy::ReadScope;
use crate::state::{AppState, BaseUrl};

/// Puts routes behind the read guard.
#[derive(Clone)]
pub struct ReadGuard(pub AppState);

impl<S> tower_layer::Layer<S> for ReadGuard {
    type Service = ReadGuarded<S>;

    fn layer(&self, inner: S) -> ReadGuarded<S> {
        ReadGuarded {
            inner,
            state: self.0.clone(),
        }
    }
}

/// A route behind [`ReadGuard`].
#[derive(Clone)]
pub struct ReadGuarded<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for ReadGuarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A key this node remembers is checked on the spot, and the route called at once: no future
        // of the guard's own, as nearly every read of a restore goes this way.
        let request = match admit_remembered(&self.state, request) {
            Ok(admitted) => return Either::Left(self.inner.call(admitted)),
            Err(request) => request,
        };
        // The service that was made ready goes with this request; its clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Either::Right(Box::pin(async move {
            match admit(&state, request).await {
                Ok(request) => inner.call(request).await,
                Err(refusal) => Ok(refusal),
            }
        }))
    }
}

/// The request admitted with a key this node remembers ([`crate::auth::keys::KeyService::check_read_remembered`]),
/// or given back for [`admit`].
fn admit_remembered(state: &AppState, request: Request) -> Result<Request, Request> {
    let verified = read_credentials(request.headers())
        .and_then(|presented| state.keys.check_read_remembered(&presented));
    match verified {
        Some(verified) => Ok(admitted(request, &verified)),
        None => Err(request),
    }
}

/// The request with the key recorded for the log and its package scope for the handler.
fn admitted(mut request: Request, verified: &VerifiedKey) -> Request {
    let key = verified.key();
    crate::logging::request::record_key(key.name(), &key.lookup_id);
    request
        .extensions_mut()
        .insert(ReadScope::Subjects(std::sync::Arc::clone(&key.subjects)));
    request
}

/// The request with the key's read scope in its extensions, or the refusal.
async fn admit(state: &AppState, request: Request) -> Result<Request, Response> {
    // The realm names this feed's address, which only a refusal needs.
    let challenge = |request: &Request, message: &str| {
        let BaseUrl(base) = BaseUrl::of(request.headers(), request.extensions(), state);
        ApiError::ReadCredentials {
            realm: realm(&base),
            message: message.to_string(),
        }
        .into_response()
    };
    // The key is borrowed from the request while it is checked; the request changes only after.
    let checked = match read_credentials(request.headers()) {
        Some(presented) => Some(state.keys.check_read(&presented, peer(&request)).await),
        None => None,
    };
    let Some(checked) = checked else {
        return Err(challenge(
            &request,
            "This feed is private: use an API key with the 'read' scope as the password (any user name).",
        ));
    };
    match checked {
        Ok(verified) => Ok(admitted(request, &verified)),
        Err(AuthFailure::Database(e)) => Err(ApiError::from(e).into_response()),
        Err(AuthFailure::TooManyAttempts) => Err(ApiError::TooManyAttempts.into_response()),
        Err(_) => Err(challenge(
            &request,
            "The credentials are invalid, expired, or do not include the 'read' scope for this feed.",
        )),
    }
}

/// The key a read presents: the Basic password, or else `X-NuGet-ApiKey` (borrowed, as restores send it).
fn read_credentials(headers: &axum::http::HeaderMap) -> Option<Cow<'_, str>> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, value) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(value.trim())
        })
        .and_then(|encoded| data_encoding::BASE64.decode(encoded.as_bytes()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(_, password)| Cow::Owned(password.trim().to_string()))
        });
    basic
        .or_else(|| {
            headers
                .get(API_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| Cow::Borrowed(v.trim()))
        })
        .filter(|k| !k.is_empty())
}
