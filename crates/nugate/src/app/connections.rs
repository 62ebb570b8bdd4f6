//! The accept loop: TCP_NODELAY, a cap on connections per client address, the header-read timeout (which
//! also closes idle keep-alive connections), `ConnectInfo<SocketAddr>` for handlers, nugate's own TLS
//! when configured, and graceful shutdown.
//!
//! With TLS, the handshake runs in the connection's own task, holding the connection's slot, and must
//! finish within the header-read timeout: a client that opens connections and stalls the handshake
//! holds nothing longer than one that stalls its request head. Requests over TLS carry
//! [`TlsConnection`], which makes them count as https.
//!
//! hyper's `header_read_timeout` starts whenever the connection waits for a request head: when it opens,
//! and again once a response is written on a kept-alive connection. It stops when the head is complete,
//! so a request body that keeps arriving is bounded only by `request_timeout_secs`.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::threads::ConnectionThreads;
use crate::config::Config;
use crate::state::TlsConnection;

/// The connection-level limits, from the configuration.
pub(super) struct Limits {
    /// How long a client may take to send a request head (and how long a connection may sit idle).
    pub header_read_timeout: Duration,
    /// Most connections at once from one address; 0 for no limit.
    pub max_per_ip: usize,
    /// Addresses the cap does not apply to (the trusted reverse proxies).
    pub exempt: Vec<IpAddr>,
}

impl Limits {
    pub(super) fn from_config(config: &Config) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_per_ip: config.max_connections_per_ip as usize,
            exempt: config.trusted_proxies.clone(),
        }
    }
}

/// Serves `service` (the app, or the https redirect) on `listener` (over TLS when `tls` is given) until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their in-flight requests (idle ones are
/// closed at once, handshakes still running end within their timeout).
pub(super) async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    threads: ConnectionThreads,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let table = ConnectionTable::new(limits.max_per_ip, limits.exempt);
    let mut refusals = RefusalLog::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = table.admit(peer.ip()) else {
            // Closed before a byte is read: the client sees the connection end without a response.
            drop(tcp);
            refusals.refused(peer.ip(), table.max);
            continue;
        };
        // Without TCP_NODELAY a streamed body's first chunk waits for the ACK of the headers (Nagle against
        // delayed ACK): about 40 ms added to every download.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        // Handed to a connection thread, which registers it with its own runtime.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a connection over");
                continue;
            }
        };
        let tower = TowerToHyperService::new(service.clone());
        let over_tls = tls.is_some();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if over_tls {
                request.extensions_mut().insert(TlsConnection);
            }
            tower.call(request)
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        let handshake_timeout = limits.header_read_timeout;
        threads.run(Box::pin(async move {
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot take a connection over");
                    return;
                }
            };
            let served = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(tcp), service))
                        .await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake too slow; connection closed");
                                return;
                            }
                        };
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(e) = served {
                // Header timeouts, resets, malformed requests: the client's doing, not worth more.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        }));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// After a failed accept: a vanished client is nothing; anything else (most likely no file descriptors
/// left) is logged and waited out for a second, as hyper and axum do, rather than spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Open connections per client address.
#[derive(Clone)]
struct ConnectionTable {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
    exempt: Arc<[IpAddr]>,
}

/// One admitted connection's place in the table, given back when dropped.
struct Slot {
    table: ConnectionTable,
    /// `None` when the connection is not counted (no cap, or an exempt address).
    ip: Option<IpAddr>,
}

impl ConnectionTable {
    fn new(max: usize, exempt: Vec<IpAddr>) -> ConnectionTable {
        ConnectionTable {
            open: Arc::new(Mutex::new(HashMap::new())),
            max,
            exempt: exempt.into(),
        }
    }

    /// A slot for a new connection from `ip`, or `None` when that address already has `max` open.
    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        // On a dual-stack socket IPv4 clients arrive as ::ffff:a.b.c.d; count them as a.b.c.d.
        let canonical = ip.to_canonical();
        if self.max == 0 || self.exempt.contains(&ip) || self.exempt.contains(&canonical) {
            return Some(Slot {
                table: self.clone(),
                ip: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(canonical).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            table: self.clone(),
            ip: Some(canonical),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// Warns about refused connections at most once a minute, so a flood does not flood the log too.
#[derive(Default)]
struct RefusalLog {
    last_warning: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn refused(&mut self, ip: IpAddr, max: usize) {
        self.since += 1;
        if self
            .last_warning
            .is_some_and(|at| at.elapsed() < Self::EVERY)
        {
            return;
        }
        tracing::warn!(
            %ip,
            max_connections_per_ip = max,
            refused = self.since,
            "refusing connections from an address over the per-address limit"
        );
        self.last_warning = Some(Instant::now());
        self.since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_caps_each_address_and_frees_slots() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let table = ConnectionTable::new(2, vec![proxy]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let a_mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.admit(a);
        let second = table.admit(a_mapped);
        assert!(first.is_some() && second.is_some());
        assert!(table.admit(a).is_none(), "a third connection from a");
        assert!(
            table.admit(b).is_some(),
            "another address has its own count"
        );
        let proxied: Vec<_> = (0..10).map(|_| table.admit(proxy)).collect();
        assert!(proxied.iter().all(Option::is_some), "the proxy is exempt");
        drop(first);
        let third = table.admit(a);
        assert!(third.is_some(), "a closed connection frees its slot");
        drop((second, third));
        assert!(
            table.open.lock().unwrap().is_empty(),
            "addresses with nothing open are forgotten"
        );
        let unlimited = ConnectionTable::new(0, Vec::new());
        let many: Vec<_> = (0..1000).map(|_| unlimited.admit(a)).collect();
        assert!(many.iter().all(Option::is_some));
    }
}
