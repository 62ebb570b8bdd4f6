//! The server's log: text or JSON lines on stderr, filtered by `NUGATE_LOG` (default `info`).
//!
//! Every request writes a line. Lines are appended to a shared buffer that a background thread writes
//! to stderr every [`WRITE_EVERY`]: a request costs the formatting and an append, never a system call
//! or a wake-up of another thread (a queue whose reader sleeps until the next line costs both on every
//! request of a busy server). Nothing is dropped: a buffer past [`MAX_BUFFERED`] is written out by the
//! request that filled it, and the rest is written when the returned guard is dropped, at exit.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub mod request;

/// How often the background thread writes what has been logged.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// Bytes a buffer may hold before the thread that logs writes it out itself.
const MAX_BUFFERED: usize = 1 << 20;

struct Shared {
    buffer: Mutex<Buffer>,
    /// Wakes the writer early at exit.
    stop: Condvar,
    /// Where lines go: stderr ([`write_out`]), or a test's sink.
    sink: fn(&[u8]),
}

#[derive(Default)]
struct Buffer {
    lines: Vec<u8>,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes buffered log lines to stderr (a failed write of the log has nowhere to be reported).
fn write_out(lines: &[u8]) {
    let mut stderr = std::io::stderr().lock();
    if stderr
        .write_all(lines)
        .and_then(|()| stderr.flush())
        .is_err()
    {
        // Nowhere left to say it: the log itself is what failed.
    }
}

/// Hands out writers that append to the shared buffer.
#[derive(Clone)]
struct BatchedStderr(Arc<Shared>);

/// One log line's writer.
struct LineWriter(Arc<Shared>);

impl Shared {
    /// Appends `bytes`; a buffer past [`MAX_BUFFERED`] is written out at once, by the caller.
    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.lock();
        buffer.lines.extend_from_slice(bytes);
        if buffer.lines.len() > MAX_BUFFERED {
            let full = std::mem::take(&mut buffer.lines);
            drop(buffer);
            (self.sink)(&full);
        }
    }
}

impl BatchedStderr {
    /// Appends whole lines (the request log's).
    fn append(&self, lines: &[u8]) {
        self.0.append(lines);
    }
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Arc::clone(&self.0))
    }
}

/// Keeps the log's writer thread; dropping it writes what is left and stops the thread.
pub struct LogGuard {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.stop.notify_all();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                // The writer panicked; what it held is lost, and there is no log left to say so.
            }
        }
        let rest = std::mem::take(&mut self.shared.lock().lines);
        (self.shared.sink)(&rest);
    }
}

/// Starts the thread that writes the buffer out every [`WRITE_EVERY`].
fn spawn_writer(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("nugate-log".into())
        .spawn(move || {
            let mut spare = Vec::new();
            loop {
                let mut buffer = shared.lock();
                if !buffer.stopping {
                    buffer = shared
                        .stop
                        .wait_timeout(buffer, WRITE_EVERY)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                let stopping = buffer.stopping;
                std::mem::swap(&mut buffer.lines, &mut spare);
                drop(buffer);
                (shared.sink)(&spare);
                spare.clear();
                if stopping {
                    return;
                }
            }
        })
}

/// The shared buffer writing to `sink`, its writer thread started.
fn batched(sink: fn(&[u8])) -> (BatchedStderr, LogGuard) {
    let shared = Arc::new(Shared {
        buffer: Mutex::default(),
        stop: Condvar::new(),
        sink,
    });
    // Without its thread the log is still complete: lines are written when the buffer fills or at exit.
    let writer = spawn_writer(Arc::clone(&shared)).ok();
    let guard = LogGuard {
        shared: Arc::clone(&shared),
        writer,
    };
    (BatchedStderr(shared), guard)
}

/// Installs the global logger; keep the guard until exit.
pub fn init(format: LogFormat) -> LogGuard {
    let (writer, guard) = batched(write_out);
    request::set_sink(writer.clone(), format);
    let filter = EnvFilter::try_from_env("NUGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => logs
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(request::WithRequest {
                inner: tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
                format,
            })
            .init(),
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal())
            .event_format(request::WithRequest {
                inner: tracing_subscriber::fmt::format().with_ansi(std::io::stderr().is_terminal()),
                format,
            })
            .init(),
    }
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    fn into_written(lines: &[u8]) {
        WRITTEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(lines);
    }

    fn written() -> String {
        String::from_utf8_lossy(&WRITTEN.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    #[test]
    fn lines_are_written_in_order_by_the_thread_when_the_buffer_fills_and_at_exit() {
        let (make, guard) = batched(into_written);
        make.make_writer().write_all(b"first\n").unwrap();
        // The writer thread writes it within a period, without anything else happening.
        let waited = std::time::Instant::now();
        while !written().contains("first") {
            assert!(waited.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        // A buffer past its limit is written by the logging thread itself, at once.
        let big = vec![b'x'; MAX_BUFFERED];
        make.make_writer().write_all(&big).unwrap();
        make.make_writer().write_all(b"second\n").unwrap();
        assert!(
            written().len() > MAX_BUFFERED,
            "the full buffer was written at once"
        );
        make.make_writer().write_all(b"last\n").unwrap();
        drop(guard);
        let text = written();
        let (first, second, last) = (
            text.find("first").unwrap(),
            text.find("second").unwrap(),
            text.find("last").unwrap(),
        );
        assert!(
            first < second && second < last,
            "in order: {first} {second} {last}"
        );
    }
}
