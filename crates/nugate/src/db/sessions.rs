//! Browser session rows: only the SHA-256 of the cookie value is stored.

use sqlx::{AnyPool, Row};

/// A stored session.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// Stores a new session.
pub async fn insert(
    pool: &AnyPool,
    id_hash: &str,
    user_id: i64,
    csrf_token: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The session behind a hashed cookie value.
pub async fn by_hash(pool: &AnyPool, id_hash: &str) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query(
        "SELECT user_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await?
    .map(|row| {
        Ok(SessionRow {
            user_id: row.try_get("user_id")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        })
    })
    .transpose()
}

/// Records activity.
pub async fn touch(pool: &AnyPool, id_hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(id_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn delete(pool: &AnyPool, id_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends every session of a user except `keep`.
pub async fn delete_others(pool: &AnyPool, user_id: i64, keep: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(pool)
        .await?;
    Ok(())
}

/// Keeps a just-created key in its session until the key page shows it.
pub async fn set_new_key(
    pool: &AnyPool,
    id_hash: &str,
    name: &str,
    key: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sessions SET new_key_name = $1, new_key = $2, new_key_at = $3 WHERE id_hash = $4",
    )
    .bind(name)
    .bind(key)
    .bind(now)
    .bind(id_hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes the session's waiting key, if it was put there after `since`: it is cleared either way, so it
/// is shown at most once.
pub async fn take_new_key(
    db: &super::Db,
    id_hash: &str,
    since: i64,
) -> sqlx::Result<Option<(String, String)>> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT new_key_name, new_key, new_key_at FROM sessions WHERE id_hash = $1 AND new_key IS NOT NULL",
    )
    .bind(id_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE sessions SET new_key_name = NULL, new_key = NULL, new_key_at = NULL WHERE id_hash = $1",
    )
    .bind(id_hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let at: Option<i64> = row.try_get("new_key_at")?;
    if at.is_none_or(|at| at < since) {
        return Ok(None);
    }
    Ok(Some((
        row.try_get::<Option<String>, _>("new_key_name")?
            .unwrap_or_default(),
        row.try_get::<Option<String>, _>("new_key")?
            .unwrap_or_default(),
    )))
}
