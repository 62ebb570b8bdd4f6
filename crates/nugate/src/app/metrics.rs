//! `/metrics` and the request counters behind it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::{message_response, ApiError};
use crate::metrics::{Metrics, PoolLabels, PoolState, RequestLabels, RouteLabels, StatusClass};
use crate::state::AppState;

/// Route layer: counts each matched request by its route template and status class, and times it.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    crate::logging::request::record_route(&route);
    let started = Instant::now();
    let response = next.run(request).await;
    record(&state.metrics, route, response.status(), started);
    response
}

/// Counts one served request.
pub fn record(m: &Metrics, route: String, status: StatusCode, started: Instant) {
    m.request_seconds
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            route,
            status: StatusClass::of(status.as_u16()),
        })
        .inc();
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
