//! Failed attempts (sign-ins, wrong API keys) per subject, shared by every node.

use sqlx::{AnyPool, Row};

/// When `subject`'s `max`-th newest failure after `since` happened, if it has that many: the moment the
/// subject has `max` failures in the window, which lasts until that failure leaves the window.
pub async fn nth_newest_failure(
    pool: &AnyPool,
    subject: &str,
    since: i64,
    max: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query(
        "SELECT at FROM signin_failures WHERE subject = $1 AND at > $2 \
         ORDER BY at DESC LIMIT 1 OFFSET $3",
    )
    .bind(subject)
    .bind(since)
    .bind(max - 1)
    .fetch_optional(pool)
    .await?
    .map(|row| row.try_get("at"))
    .transpose()
}

/// Records one failure for each subject and forgets failures at or before `forget_before`.
pub async fn record(
    pool: &AnyPool,
    subjects: &[String],
    now: i64,
    forget_before: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM signin_failures WHERE at <= $1")
        .bind(forget_before)
        .execute(pool)
        .await?;
    for subject in subjects {
        sqlx::query("INSERT INTO signin_failures (subject, at) VALUES ($1, $2)")
            .bind(subject)
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// A subject's sign-in failure counter: (failures, time of the last one).
pub async fn counter(pool: &AnyPool, subject: &str) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query("SELECT failures, last_failure_at FROM throttle_counters WHERE subject = $1")
        .bind(subject)
        .fetch_optional(pool)
        .await?
        .map(|row| Ok((row.try_get("failures")?, row.try_get("last_failure_at")?)))
        .transpose()
}

/// Starts a counter at one failure; false when another request created it first.
pub async fn start_counter(pool: &AnyPool, subject: &str, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO throttle_counters (subject, failures, last_failure_at) VALUES ($1, 1, $2) \
         ON CONFLICT (subject) DO NOTHING",
    )
    .bind(subject)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Compare-and-set: moves the counter from `seen` to `(failures, now)` only if no other request changed
/// it meanwhile; false when one did.
pub async fn advance_counter(
    pool: &AnyPool,
    subject: &str,
    seen: (i64, i64),
    failures: i64,
    now: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE throttle_counters SET failures = $1, last_failure_at = $2 \
         WHERE subject = $3 AND failures = $4 AND last_failure_at = $5",
    )
    .bind(failures)
    .bind(now)
    .bind(subject)
    .bind(seen.0)
    .bind(seen.1)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Forgets a subject's counter (after a successful sign-in), and every counter idle since `stale`.
pub async fn reset_counter(pool: &AnyPool, subject: &str, stale: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM throttle_counters WHERE subject = $1 OR last_failure_at < $2")
        .bind(subject)
        .bind(stale)
        .execute(pool)
        .await?;
    Ok(())
}
