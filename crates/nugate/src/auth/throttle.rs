//! Guessing protection shared by sign-in and API keys: failures are counted per subject (an address, an
//! account, a key identifier) in the database, so every node sees the same counts.

use crate::db::{self, Db};

/// The window failures are counted in.
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

/// The failure counter.
#[derive(Clone)]
pub struct Throttle {
    db: Db,
}

impl Throttle {
    /// Wraps the database.
    pub fn new(db: Db) -> Throttle {
        Throttle { db }
    }

    /// Whether any of `subjects` failed `max` times within the window.
    pub async fn blocked(&self, subjects: &[String], max: i64) -> sqlx::Result<bool> {
        let since = db::now() - THROTTLE_WINDOW_SECS;
        for subject in subjects {
            if db::throttle::failures_since(self.db.pool(), subject, since).await? >= max {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts one failure against each subject (and forgets failures older than the window).
    pub async fn record_failure(&self, subjects: &[String]) -> sqlx::Result<()> {
        let now = db::now();
        db::throttle::record(self.db.pool(), subjects, now, now - THROTTLE_WINDOW_SECS).await
    }

    /// Forgets a subject's failures (after a successful sign-in).
    pub async fn clear(&self, subject: &str) -> sqlx::Result<()> {
        db::throttle::clear(self.db.pool(), subject).await
    }
}
