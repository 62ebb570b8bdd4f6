//! `/metrics` and the request counters behind it.

use std::task::{Context, Poll};

use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::{message_response, ApiError};
use crate::metrics::{Metrics, PoolLabels, PoolState};
use crate::state::AppState;

/// Route layer: records the route template the request matched, for its log line and its counters
/// (both written by the envelope when the request ends). It is a plain wrapper, with no future of its
/// own: `from_fn` would box one for every request.
#[derive(Clone, Copy)]
pub struct RecordRoute;

impl<S> tower_layer::Layer<S> for RecordRoute {
    type Service = RecordingRoute<S>;

    fn layer(&self, inner: S) -> RecordingRoute<S> {
        RecordingRoute(inner)
    }
}

/// A route's service, wrapped by [`RecordRoute`].
#[derive(Clone)]
pub struct RecordingRoute<S>(S);

impl<S, B> tower_service::Service<axum::http::Request<B>> for RecordingRoute<S>
where
    S: tower_service::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> S::Future {
        if let Some(route) = request.extensions().get::<MatchedPath>() {
            crate::logging::request::record_route(route);
        }
        self.0.call(request)
    }
}

/// Counts a request that ended with `status` after `seconds`, under the route it matched (recorded by
/// [`RecordRoute`]) or `unmatched`.
pub fn count_request(metrics: &Metrics, status: u16, seconds: f64) {
    let route = crate::logging::request::route();
    metrics
        .route(route.as_ref().map_or("unmatched", MatchedPath::as_str))
        .observe(status, seconds);
}

/// `GET /metrics`: the Prometheus text format; with `metrics_token` set, only for
/// `Authorization: Bearer TOKEN`.
pub async fn serve_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            let mut refused = message_response(
                StatusCode::UNAUTHORIZED,
                "The metrics need 'Authorization: Bearer' with the configured metrics_token.",
            );
            refused.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return Ok(refused);
        }
    }
    let m = &state.metrics;
    let pool = state.db.pool();
    let (size, idle) = (
        i64::from(pool.size()),
        i64::try_from(pool.num_idle()).unwrap_or(0),
    );
    m.db_connections
        .get_or_create(&PoolLabels {
            state: PoolState::InUse,
        })
        .set(size - idle);
    m.db_connections
        .get_or_create(&PoolLabels {
            state: PoolState::Idle,
        })
        .set(idle);
    m.outbox_backlog.set(crate::mail::backlog(&state.db).await?);
    let body = m
        .render()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
