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

/// A message to queue.
pub struct NewMessage<'a> {
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub kind: &'a str,
    pub expires_at: Option<i64>,
}

/// Queues a message on any executor (a transaction, so a change and its email commit together).
pub async fn insert<'e, E>(executor: E, message: &NewMessage<'_>, now: i64) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO outbox (recipient, subject, body, kind, expires_at, created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
    )
    .bind(message.recipient)
    .bind(message.subject)
    .bind(message.body)
    .bind(message.kind)
    .bind(message.expires_at)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Messages of `kind` queued for `recipient` (any case) after `since`.
pub async fn count_recent(
    conn: &mut sqlx::AnyConnection,
    recipient: &str,
    kind: &str,
    since: i64,
) -> sqlx::Result<i64> {
    sqlx::query(
        "SELECT COUNT(*) AS queued FROM outbox WHERE LOWER(recipient) = $1 AND kind = $2 AND created_at > $3",
    )
    .bind(recipient.to_lowercase())
    .bind(kind)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?
    .try_get("queued")
}

/// Drops unsent messages whose link expired before they could be delivered: the body (and the link in
/// it) is removed and the row is kept, abandoned, with the reason. Returns how many.
pub async fn expire_undelivered(pool: &AnyPool, now: i64, max_attempts: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET body = '', attempts = $1, \
         last_error = 'not delivered before its link expired; dropped' \
         WHERE sent_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2 AND attempts < $1",
    )
    .bind(max_attempts)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected())
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

/// Marks a row sent; the body of a message carrying a live link (a password reset, a confirmation: the
/// rows with an expiry) is redacted, so the link does not stay readable in the database.
pub async fn mark_sent(pool: &AnyPool, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET sent_at = $1, last_error = NULL, \
         body = CASE WHEN expires_at IS NULL THEN body ELSE '' END WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed try and when to try again; a message given up on (`abandoned`) loses its body.
pub async fn mark_failed(
    pool: &AnyPool,
    id: i64,
    attempts: i64,
    error: &str,
    next_attempt_at: i64,
    abandoned: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_at = $3, \
         body = CASE WHEN $4 = 1 THEN '' ELSE body END WHERE id = $5",
    )
    .bind(attempts)
    .bind(error)
    .bind(next_attempt_at)
    .bind(i64::from(abandoned))
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Unsent messages still being tried.
pub async fn backlog(pool: &AnyPool, max_attempts: i64) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS waiting FROM outbox WHERE sent_at IS NULL AND attempts < $1")
        .bind(max_attempts)
        .fetch_one(pool)
        .await?
        .try_get("waiting")
}
