//! What wraps every request: its line in the log, its time limit and the security headers.

use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::logging::request::{self as request_log, RequestFields};
use crate::state::AppState;

/// Outermost layer, one for all of it (each layer costs every request a boxed future): the request's
/// fields for the log (see [`crate::logging::request`]), a 408 with a message for a request (a slow
/// upload, say) that outlives `request_timeout_secs`, the security headers
/// ([`crate::web::add_security_headers`]) and the request's log line, the 408 included.
pub(super) async fn envelope(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
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
    request_log::in_request(fields, async move {
        let mut response = match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => crate::error::ApiError::Timeout.into_response(),
        };
        crate::web::add_security_headers(response.headers_mut(), https);
        let (status, took) = (response.status().as_u16(), started.elapsed());
        super::metrics::count_request(&state.metrics, status, took.as_secs_f64());
        request_log::served(status, took);
        response
    })
    .await
}
