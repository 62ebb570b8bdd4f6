//! The server's log: text or JSON lines on stderr, filtered by `NUGATE_LOG` (default `info`).
//!
//! Every request writes a line, so lines are handed to a background thread that writes whatever has
//! queued up in one go: a request costs the formatting, not a write to stderr each. Nothing is dropped
//! (a full queue makes requests wait instead), and the queue is written out when the returned guard is
//! dropped, at exit.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Buffer of the background writer; it is flushed each time the queue runs empty.
const BUFFER_BYTES: usize = 64 * 1024;
/// Lines that may wait for the writer (a fraction of a second of a busy server's requests); the queue
/// is allocated up front, so it is kept far below the library's default of 128,000.
const QUEUED_LINES: usize = 16 * 1024;

/// Installs the global logger; keep the guard until exit.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("nugate-log")
        .finish(BufWriter::with_capacity(BUFFER_BYTES, std::io::stderr()));
    let filter = EnvFilter::try_from_env("NUGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    guard
}
