//! The threads that serve connections: one per core, each running its own single-threaded runtime, as
//! nginx runs one worker process per core. The accept loop hands each new connection to the next thread
//! in turn, and everything that connection does (reading requests, the handlers, writing responses) then
//! stays on that thread. On tokio's shared multi-threaded runtime a connection's wake-ups moved between
//! threads: the idle one was woken to steal work, which cost a futex wake, an interrupt to the other core
//! and a context switch for a request that takes microseconds.
//!
//! Work a handler starts in the background (`tokio::spawn`) runs on the same thread. Database
//! connections opened on one thread are used from the others too; tokio delivers their readiness from
//! the thread that opened them, so the threads live until the server has stopped and written its last
//! counts (dropping [`ConnectionThreads`] ends them).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// A connection's whole life, ready to run on a connection thread.
pub(super) type Connection = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The connection threads, and the next one to hand a connection to. Clones share the threads, which
/// end when the last clone is dropped.
#[derive(Clone)]
pub struct ConnectionThreads {
    threads: Arc<[mpsc::UnboundedSender<Connection>]>,
    next: Arc<AtomicUsize>,
}

impl ConnectionThreads {
    /// Starts `count` threads (at least one).
    pub fn start(count: usize) -> std::io::Result<ConnectionThreads> {
        let mut threads = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (handoff, mut connections) = mpsc::unbounded_channel::<Connection>();
            std::thread::Builder::new()
                .name(format!("nugate-conn-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(connection) = connections.recv().await {
                            tokio::spawn(connection);
                        }
                    });
                })?;
            threads.push(handoff);
        }
        Ok(ConnectionThreads {
            threads: threads.into(),
            next: Arc::default(),
        })
    }

    /// `count` threads, or with 0 one per core the process may use.
    pub fn configured(count: usize) -> std::io::Result<ConnectionThreads> {
        match count {
            0 => Self::start(std::thread::available_parallelism().map_or(1, usize::from)),
            count => Self::start(count),
        }
    }

    /// Runs `connection` on the next thread in turn. Connections mostly stay open for many requests, so
    /// taking turns spreads them evenly.
    pub(super) fn run(&self, connection: Connection) {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        if self.threads[turn].send(connection).is_err() {
            // Only a thread that panicked has gone; its connections went with it.
            tracing::error!(thread = turn, "a connection thread has stopped");
        }
    }
}
