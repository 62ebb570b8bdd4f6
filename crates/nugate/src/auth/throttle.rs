//! Guessing protection: failures are counted per subject (an address, an account, a key identifier) in
//! the database, so every node sees the same counts.
//!
//! Two ways to count. API keys are checked on every keyed request, so a key check only reads the count
//! and records failures ([`Throttle::blocked_until`], [`Throttle::record_failure`]). Sign-ins and sign-ups are
//! rare and worth guessing, so each attempt first *claims* a place in its subject's budget with a
//! compare-and-set ([`Throttle::claim`]): thirty parallel guesses get exactly as many evaluations as
//! the budget allows, never more.

use crate::db::{self, Db};

/// The window failures are counted in.
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

/// How many attempts a subject gets within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// `max` attempts, then none until the window has passed since the last one.
    Hard { max: i64 },
    /// `free` attempts, then each next one only after a delay that starts at `first_delay_secs` and
    /// doubles with every further failure, up to `max_delay_secs`: an attacker spreading guesses over
    /// many addresses is slowed to a crawl, and the account's owner is never locked out for long.
    Backoff {
        free: i64,
        first_delay_secs: i64,
        max_delay_secs: i64,
    },
}

/// The answer to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Go ahead; the attempt counts as a failure until [`Throttle::succeeded`].
    Allowed,
    /// Refused; the next attempt may come in this many seconds.
    Wait { secs: i64 },
}

impl Budget {
    /// When the next attempt may come after `failures` failures, the last at `last`.
    fn next_allowed_at(self, failures: i64, last: i64) -> i64 {
        match self {
            Budget::Hard { max } if failures >= max => last + THROTTLE_WINDOW_SECS,
            Budget::Hard { .. } => last,
            Budget::Backoff {
                free,
                first_delay_secs,
                max_delay_secs,
            } if failures >= free => {
                let doublings = u32::try_from((failures - free).min(30)).unwrap_or(30);
                last + first_delay_secs
                    .saturating_mul(1_i64 << doublings)
                    .min(max_delay_secs)
            }
            Budget::Backoff { .. } => last,
        }
    }
}

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

    /// The first of `subjects` that failed `max` times within the window, and until when (unix seconds)
    /// it stays refused. Failures are only ever added within a window, so the answer holds until then:
    /// a node may remember it without asking again.
    pub async fn blocked_until(
        &self,
        subjects: &[String],
        max: i64,
    ) -> sqlx::Result<Option<(String, i64)>> {
        let since = db::now() - THROTTLE_WINDOW_SECS;
        for subject in subjects {
            let pool = self.db.pool();
            if let Some(at) = db::throttle::nth_newest_failure(pool, subject, since, max).await? {
                return Ok(Some((subject.clone(), at + THROTTLE_WINDOW_SECS)));
            }
        }
        Ok(None)
    }

    /// Counts one failure against each subject (and forgets failures older than the window).
    pub async fn record_failure(&self, subjects: &[String]) -> sqlx::Result<()> {
        let now = db::now();
        db::throttle::record(self.db.pool(), subjects, now, now - THROTTLE_WINDOW_SECS).await
    }

    /// Claims one attempt for `subject` within `budget`, atomically: of concurrent claims on the same
    /// count only one advances it, the others look again.
    pub async fn claim(&self, subject: &str, budget: Budget) -> sqlx::Result<Claim> {
        let pool = self.db.pool();
        for _ in 0..8 {
            let now = db::now();
            let Some(seen) = db::throttle::counter(pool, subject).await? else {
                if db::throttle::start_counter(pool, subject, now).await? {
                    return Ok(Claim::Allowed);
                }
                continue;
            };
            let (failures, last) = seen;
            // Failures older than the window are forgotten: the count starts again.
            let failures = if now - last > THROTTLE_WINDOW_SECS {
                0
            } else {
                failures
            };
            let allowed_at = budget.next_allowed_at(failures, last);
            if failures > 0 && now < allowed_at {
                return Ok(Claim::Wait {
                    secs: allowed_at - now,
                });
            }
            if db::throttle::advance_counter(pool, subject, seen, failures + 1, now).await? {
                return Ok(Claim::Allowed);
            }
        }
        // Many requests raced for this subject at once: that is itself a reason to slow down.
        Ok(Claim::Wait { secs: 1 })
    }

    /// The claimed attempt succeeded: the subject's count starts again.
    pub async fn succeeded(&self, subject: &str) -> sqlx::Result<()> {
        let stale = db::now() - THROTTLE_WINDOW_SECS;
        db::throttle::reset_counter(self.db.pool(), subject, stale).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_grow_their_delays() {
        let hard = Budget::Hard { max: 3 };
        assert_eq!(hard.next_allowed_at(2, 100), 100);
        assert_eq!(hard.next_allowed_at(3, 100), 100 + THROTTLE_WINDOW_SECS);
        let backoff = Budget::Backoff {
            free: 5,
            first_delay_secs: 30,
            max_delay_secs: 900,
        };
        assert_eq!(backoff.next_allowed_at(4, 100), 100);
        assert_eq!(backoff.next_allowed_at(5, 100), 130);
        assert_eq!(backoff.next_allowed_at(6, 100), 160);
        assert_eq!(backoff.next_allowed_at(8, 100), 340);
        assert_eq!(backoff.next_allowed_at(20, 100), 1000);
        assert_eq!(backoff.next_allowed_at(i64::MAX, 100), 1000);
    }
}
