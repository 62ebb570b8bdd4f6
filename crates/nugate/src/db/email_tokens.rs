//! Single-use emailed tokens (confirm, reset, change email), stored only as hashes.

use sqlx::{AnyPool, Row};

/// A redeemed token.
#[derive(Clone, Debug)]
pub struct EmailTokenRow {
    pub user_id: i64,
    pub new_email: Option<String>,
    pub expires_at: i64,
}

/// Stores a token hash.
pub async fn insert(
    pool: &AnyPool,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    new_email: Option<&str>,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose)
    .bind(new_email)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes a token and returns it if it was there for `purpose`: a token works at most once, even
/// when two requests redeem it at the same moment (only one DELETE removes the row).
pub async fn take(
    db: &super::Db,
    token_hash: &str,
    purpose: &str,
) -> sqlx::Result<Option<EmailTokenRow>> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT user_id, new_email, expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| {
        Ok::<_, sqlx::Error>(EmailTokenRow {
            user_id: row.try_get("user_id")?,
            new_email: row.try_get("new_email")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()?;
    let removed = sqlx::query("DELETE FROM email_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(row.filter(|_| removed == 1))
}

/// Removes every `purpose` token of a user inside the caller's transaction (all reset links die when
/// the password changes).
pub async fn delete_for_user(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    purpose: &str,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2")
        .bind(user_id)
        .bind(purpose)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
