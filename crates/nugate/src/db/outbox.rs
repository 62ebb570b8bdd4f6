//! The outbox table: requests insert rows, the background task sends and marks them.

use sqlx::{AnyPool, Row};

/// One queued message.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// Queues a message on any executor (a transaction, so a change and its email commit together).
pub async fn insert<'e, E>(
    executor: E,
    recipient: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO outbox (recipient, subject, body, created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, 0, $4)",
    )
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Unsent messages due at `now` with fewer than `max_attempts` tries, oldest first.
pub async fn due(
    pool: &AnyPool,
    now: i64,
    max_attempts: i64,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query(
        "SELECT id, recipient, subject, body, attempts, next_attempt_at FROM outbox \
         WHERE sent_at IS NULL AND attempts < $1 AND next_attempt_at <= $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(max_attempts)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(OutboxRow {
            id: row.try_get("id")?,
            recipient: row.try_get("recipient")?,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
        })
    })
    .collect()
}

/// Hides a row from other passes until `until`, if it is still due at `due_at` (compare-and-set).
pub async fn claim(pool: &AnyPool, id: i64, due_at: i64, until: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND sent_at IS NULL AND next_attempt_at = $3",
    )
    .bind(until)
    .bind(id)
    .bind(due_at)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Marks a row sent.
pub async fn mark_sent(pool: &AnyPool, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET sent_at = $1, last_error = NULL WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a failed try and when to try again.
pub async fn mark_failed(
    pool: &AnyPool,
    id: i64,
    attempts: i64,
    error: &str,
    next_attempt_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4",
    )
    .bind(attempts)
    .bind(error)
    .bind(next_attempt_at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}
