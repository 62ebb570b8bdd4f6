//! What wraps every request: its line in the log, its time limit, the security headers and the
//! `Connection: close` of an answer that leaves the body unread.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use tower_service::Service;

use crate::logging::request::{self as request_log, RequestFields};
use crate::state::AppState;

/// The whole app as one service: the router inside [`envelope`]. It wraps the router once, as a plain
/// service: as a router layer, axum would wrap every route in it, and each request would pay a clone of
/// the route and a boxed future more.
#[derive(Clone)]
pub(super) struct Enveloped {
    pub router: Router,
    pub state: AppState,
}

impl<B> Service<Request<B>> for Enveloped
where
    B: HttpBody<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    /// Always ready, as the router is.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let router = self.router.clone();
        let state = self.state.clone();
        Box::pin(async move { Ok(envelope(state, request, router).await) })
    }
}

/// The request's fields for the log (see [`crate::logging::request`]), a 408 with a message for a
/// request (a slow upload, say) that outlives `request_timeout_secs`, the security headers
/// ([`crate::web::add_security_headers`]), the request counters and the request's log line, the 408
/// included, and `Connection: close` on an answer given before the body was read to its end
/// ([`super::unread_body`]).
async fn envelope<B>(state: AppState, request: Request<B>, mut router: Router) -> Response
where
    B: HttpBody<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    let started = Instant::now();
    let limit = Duration::from_secs(state.config.request_timeout_secs);
    let https =
        crate::state::served_over_https(request.headers(), request.extensions(), &state.config);
    let client = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let fields = RequestFields::new(
        crate::tokens::request_id(),
        request.method().clone(),
        request.uri().clone(),
        client,
    );
    let (request, body_end) = super::unread_body::track(request);
    request_log::in_request(fields, async move {
        // The router is always ready (its `poll_ready` returns at once), so it is called directly.
        let mut response = match tokio::time::timeout(limit, router.call(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => crate::error::ApiError::Timeout.into_response(),
        };
        crate::web::add_security_headers(response.headers_mut(), https);
        body_end.close_if_unread(&mut response);
        let (status, took) = (response.status().as_u16(), started.elapsed());
        super::metrics::count_request(&state.metrics, status, took.as_secs_f64());
        request_log::served(status, took);
        response
    })
    .await
}
