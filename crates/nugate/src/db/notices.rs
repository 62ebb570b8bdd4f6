//! What the key-expiry emails need: which keys are due a notice, and the records that make each notice
//! go out once (per user and day, and per key and expiry).

use sqlx::{AnyConnection, AnyPool, Row};

use crate::model::key::KeyKind;

/// A key due an expiry notice.
#[derive(Clone, Debug)]
pub struct NoticeKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub expires_at: i64,
}

fn notice_key(row: &sqlx::any::AnyRow) -> sqlx::Result<NoticeKey> {
    let name: Option<String> = row.try_get("name")?;
    Ok(NoticeKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: name.unwrap_or_else(|| "(unnamed)".to_string()),
        expires_at: row.try_get("expires_at")?,
    })
}

/// Scoped, unrevoked keys expiring in `(now, until]` that no "about to expire" email listed yet.
pub async fn expiring_unwarned(
    pool: &AnyPool,
    now: i64,
    until: i64,
) -> sqlx::Result<Vec<NoticeKey>> {
    sqlx::query(
        "SELECT id, user_id, name, expires_at FROM api_keys \
         WHERE kind = $1 AND revoked_at IS NULL AND expiry_warned_at IS NULL \
         AND expires_at > $2 AND expires_at <= $3 ORDER BY user_id, expires_at, id",
    )
    .bind(KeyKind::Scoped)
    .bind(now)
    .bind(until)
    .fetch_all(pool)
    .await?
    .iter()
    .map(notice_key)
    .collect()
}

/// Scoped, unrevoked keys that expired before `before` and no "has expired" email listed yet: however
/// long the server was down, each is reported once.
pub async fn expired_unnotified(pool: &AnyPool, before: i64) -> sqlx::Result<Vec<NoticeKey>> {
    sqlx::query(
        "SELECT id, user_id, name, expires_at FROM api_keys \
         WHERE kind = $1 AND revoked_at IS NULL AND expired_notified_at IS NULL \
         AND expires_at IS NOT NULL AND expires_at < $2 ORDER BY user_id, expires_at, id",
    )
    .bind(KeyKind::Scoped)
    .bind(before)
    .fetch_all(pool)
    .await?
    .iter()
    .map(notice_key)
    .collect()
}

/// Which notice a record stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Expiring,
    Expired,
}

impl Notice {
    fn as_str(self) -> &'static str {
        match self {
            Notice::Expiring => "expiring",
            Notice::Expired => "expired",
        }
    }
}

/// Records the `(user, notice, day)` email; false when it was already recorded.
pub async fn record(
    conn: &mut AnyConnection,
    user_id: i64,
    notice: Notice,
    day: &str,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO key_expiry_notices (user_id, kind, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(notice.as_str())
    .bind(day)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Marks keys as listed in a `notice` email.
pub async fn mark_keys(
    conn: &mut AnyConnection,
    notice: Notice,
    key_ids: &[i64],
    now: i64,
) -> sqlx::Result<()> {
    let sql = match notice {
        Notice::Expiring => "UPDATE api_keys SET expiry_warned_at = $1 WHERE id = $2",
        Notice::Expired => "UPDATE api_keys SET expired_notified_at = $1 WHERE id = $2",
    };
    for id in key_ids {
        sqlx::query(sql)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
