//! Failed attempts (sign-ins, wrong API keys) per subject, shared by every node.

use sqlx::{AnyPool, Row};

/// Failures recorded for `subject` after `since`.
pub async fn failures_since(pool: &AnyPool, subject: &str, since: i64) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS failures FROM signin_failures WHERE subject = $1 AND at > $2")
        .bind(subject)
        .bind(since)
        .fetch_one(pool)
        .await?
        .try_get("failures")
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

/// Forgets a subject's failures.
pub async fn clear(pool: &AnyPool, subject: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM signin_failures WHERE subject = $1")
        .bind(subject)
        .execute(pool)
        .await?;
    Ok(())
}
