//! Router assembly and the HTTP server's lifecycle.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

use crate::error::message_response;
pub use crate::state::AppState;

mod connections;
mod envelope;
mod metrics;
mod redirect;
mod threads;
mod tls;
mod unread_body;

/// Removes stored files no committed version refers to (pushes cut short by a crash or a storage outage)
/// and sign-ups never confirmed, at start-up and then hourly, in the background so neither start-up nor
/// requests wait for it. In a cluster only the node holding the sweep lease sweeps; files younger than
/// any push could take are left.
fn spawn_orphan_sweeps(state: AppState) -> tokio::task::JoinHandle<()> {
    const EVERY: Duration = Duration::from_secs(3600);
    /// Shorter than the interval: the next sweep may fall to any node.
    const LEASE_SECS: i64 = 3000;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let lease = crate::db::leases::try_acquire(
                &state.db,
                "orphan-sweep",
                crate::db::leases::node_id(),
                crate::db::now(),
                LEASE_SECS,
            )
            .await;
            match lease {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the orphan-sweep lease; trying next hour");
                    continue;
                }
            }
            match state.packages.remove_orphans(15 * 60).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed orphaned package files"),
                Err(e) => tracing::warn!(error = %e, "orphan clean-up failed"),
            }
            match state.trust.sweep().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(
                    removed,
                    "forgot spent identity tokens and dead trusted keys"
                ),
                Err(e) => tracing::warn!(error = %e, "the trusted publishing sweep failed"),
            }
            match state.audit.sweep().await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(removed, "removed audit records past their retention")
                }
                Err(e) => tracing::warn!(error = %e, "the audit retention sweep failed"),
            }
            match state.users.remove_expired_signups().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed sign-ups never confirmed"),
                Err(e) => tracing::warn!(error = %e, "removing unconfirmed sign-ups failed"),
            }
        }
    })
}

/// Writes the downloads this node counted every `download_flush_secs`.
fn spawn_download_flushes(state: AppState) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(state.config.download_flush_secs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            flush_downloads(&state).await;
        }
    })
}

/// One flush; a failure keeps the counts for the next one.
async fn flush_downloads(state: &AppState) {
    match state.packages.flush_downloads().await {
        Ok(0) => {}
        Ok(written) => tracing::debug!(written, "download counts written"),
        Err(e) => {
            tracing::warn!(error = %e, "writing download counts failed; kept for the next try")
        }
    }
}

/// The whole HTTP surface, inside the envelope (the log line, time limit and security headers).
fn app(state: AppState) -> envelope::Enveloped {
    envelope::Enveloped {
        router: router(state.clone()),
        state,
    }
}

/// Every route. Routes that serve cached documents and stored files encode their own bodies (a
/// document's gzip copy is made once and kept), so they are left out of the compression layer, which
/// would otherwise run on every read only to pass the response through.
fn router(state: AppState) -> Router {
    let compressed = Router::new()
        .merge(crate::api::routes(state.clone()))
        .merge(crate::web::routes(state.clone()))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics::serve_metrics))
        .layer(compression());
    let router = Router::new()
        .merge(crate::api::document_routes(state.clone()))
        .merge(compressed)
        .route_layer(metrics::RecordRoute)
        .fallback(|headers: axum::http::HeaderMap| async move {
            crate::web::unmatched(&headers)
                .unwrap_or_else(|| message_response(StatusCode::NOT_FOUND, "Not found."))
        })
        .with_state(state);
    with_guard_selftest_slowdown(router)
}

/// gzip for clients that take it, except for package files (already compressed archives).
fn compression() -> CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{DefaultPredicate, NotForContentType};
    use tower_http::compression::Predicate;
    CompressionLayer::new().gzip(true).compress_when(
        DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
    )
}

/// The router as it is, except in the guard's self-test build.
fn with_guard_selftest_slowdown(router: Router) -> Router {
    #[cfg(feature = "guard-selftest-slowdown")]
    return router.layer(axum::middleware::from_fn(deliberate_slowdown));
    #[cfg(not(feature = "guard-selftest-slowdown"))]
    router
}

/// Only in the build the instruction-count guard's self-test makes (feature `guard-selftest-slowdown`):
/// extra work on every request (a SHA-256 of 256 bytes: over a third more instructions per cached
/// read), which the guard must catch.
#[cfg(feature = "guard-selftest-slowdown")]
async fn deliberate_slowdown(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::hint::black_box([7u8; 256]));
    std::hint::black_box(digest);
    next.run(request).await
}

async fn ready(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    if let Err(e) = state.db.ping().await {
        return message_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("database unreachable: {e}"),
        );
    }
    if let Err(e) = state.packages.storage().ping().await {
        return message_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("storage unreachable: {e}"),
        );
    }
    message_response(StatusCode::OK, "ready")
}

/// Serves until SIGINT/SIGTERM, then lets in-flight requests finish. Connections are limited per client
/// address and must send each request's head within `header_read_timeout_secs` (see [`connections`]).
/// With `tls_cert` and `tls_key` the listener speaks https; `redirect_http_listen`, when set, is bound
/// here and answers every request with a redirect to https.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let redirect = match state.config.redirect_http_listen {
        Some(addr) => Some(bind_redirect(addr).await?),
        None => None,
    };
    serve_with_redirect(state, listener, redirect).await
}

/// Binds the plain-http redirect listener (`redirect_http_listen`).
pub async fn bind_redirect(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (redirect_http_listen): {e}"))
}

/// [`serve`] with the redirect listener already bound (or none).
pub async fn serve_with_redirect(
    state: AppState,
    listener: tokio::net::TcpListener,
    redirect: Option<tokio::net::TcpListener>,
) -> anyhow::Result<()> {
    let acceptor = tls::acceptor(&state.config)?;
    if redirect.is_some() && acceptor.is_none() {
        anyhow::bail!("redirect_http_listen redirects to https, so it needs tls_cert and tls_key");
    }
    let sweep_task = spawn_orphan_sweeps(state.clone());
    let download_task = spawn_download_flushes(state.clone());
    let audit_task = state.audit.start_batching();
    let backfill = state.clone();
    tokio::spawn(async move {
        match backfill.packages.backfill_dependency_ids().await {
            Ok(0) => {}
            Ok(filled) => tracing::info!(filled, "recorded the dependencies of older versions"),
            Err(e) => tracing::warn!(error = %e, "recording older versions' dependencies failed"),
        }
    });
    let mailer = crate::mail::Mailer::from_config(&state.config)?;
    let mail_task = crate::mail::spawn_background(
        state.db.clone(),
        mailer,
        crate::mail::MailContext::from_config(&state.config),
        state.metrics.clone(),
    );
    // Load the in-memory feed now rather than on the first restore or search; requests that arrive
    // meanwhile wait for it.
    let warm = state.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.packages.feed().view().await {
            tracing::warn!(error = %e, "loading the feed index failed; the next request retries");
        }
    });
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which happens only once the signal was sent.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let threads = threads::ConnectionThreads::configured(state.config.connection_threads)
        .map_err(|e| anyhow::anyhow!("cannot start the connection threads: {e}"))?;
    let redirect_task = redirect.map(|listener| {
        let limits = connections::Limits::from_config(&state.config);
        let router = redirect::router(&state.config);
        tokio::spawn(connections::serve(
            listener,
            router,
            limits,
            None,
            threads.clone(),
            until_stopped(stopped.clone()),
        ))
    });
    let limits = connections::Limits::from_config(&state.config);
    let app = app(state.clone());
    connections::serve(
        listener,
        app,
        limits,
        acceptor,
        threads.clone(),
        until_stopped(stopped),
    )
    .await;
    download_task.abort();
    // What this node counted since the last flush is written before it stops, and its audit queue.
    flush_downloads(&state).await;
    audit_task.abort();
    state.audit.flush().await;
    if let Some(task) = redirect_task {
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "the redirect listener ended abnormally");
        }
    }
    signal.abort();
    mail_task.abort();
    sweep_task.abort();
    // Last: database connections opened on the connection threads were used by the flushes above.
    drop(threads);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C; stop with SIGTERM");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
