//! The time the key and trusted-publishing rules judge by: the system clock, which tests move forward
//! to see a key outlive its lifetime without waiting for it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Unix seconds now, plus whatever a test added.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        unix_now() + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every service sharing it) `secs` ahead.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

/// Unix seconds by the system clock. Read straight from it: every key check asks, and a calendar date
/// (which `chrono::Utc::now` builds) is not needed for a count of seconds.
pub fn unix_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
