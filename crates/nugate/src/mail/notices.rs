//! API-key expiry notices: at most one "expiring" and one "expired" email per user per UTC day, however
//! often the job runs, because each is gated by a row in `key_expiry_notices`; and each key is listed as
//! expiring once per expiry (`api_keys.expiry_warned_at`), not on every one of its last ten days.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{enqueue_with, messages, MailContext};
use crate::auth::keys::kind;
use crate::db::{self, Db};

const DAY: i64 = 86_400;
/// Keys expiring within this many days are listed in the daily "about to expire" email.
pub const EXPIRY_WARN_DAYS: i64 = 10;

const EXPIRING: &str = "expiring";
const EXPIRED: &str = "expired";

/// Queues the expiry emails due at `now` and returns how many were queued.
///
/// * "About to expire": every scoped, unrevoked key expiring in `(now, now + 10 days]` that no earlier
///   email listed, one batched email per user per day; the keys it lists are marked in the same
///   transaction.
/// * "Has expired": scoped, unrevoked keys that expired during the previous UTC day, sent on the next day.
///   Using whole past days (rather than "the last 24 hours") reports each key exactly once even though
///   the job runs hourly and can only send one such email per user per day.
///
/// Legacy keys (no fixed expiry) and verification keys (one day, one use) get no notices.
pub async fn queue_expiry_notices(db: &Db, ctx: &MailContext, now: i64) -> anyhow::Result<usize> {
    let today_start = now.div_euclid(DAY) * DAY;
    let yesterday_start = today_start - DAY;
    let day = chrono::DateTime::from_timestamp(today_start, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .ok_or_else(|| anyhow::anyhow!("time {now} is out of range"))?;
    let rows = sqlx::query(
        "SELECT user_id, name, expires_at, id, expiry_warned_at FROM api_keys \
         WHERE kind = $1 AND revoked_at IS NULL AND expires_at IS NOT NULL \
         AND expires_at >= $2 AND expires_at <= $3 \
         ORDER BY user_id, expires_at, id",
    )
    .bind(kind::SCOPED)
    .bind(yesterday_start)
    .bind(now + EXPIRY_WARN_DAYS * DAY)
    .fetch_all(db.pool())
    .await?;

    let mut expiring: BTreeMap<i64, Vec<(i64, String, i64)>> = BTreeMap::new();
    let mut expired: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for row in rows {
        let user_id: i64 = row.try_get("user_id")?;
        let name: Option<String> = row.try_get("name")?;
        let name = name.unwrap_or_else(|| "(unnamed)".to_string());
        let expires_at: i64 = row.try_get("expires_at")?;
        let warned_at: Option<i64> = row.try_get("expiry_warned_at")?;
        if expires_at > now {
            if warned_at.is_none() {
                let days_left = (expires_at - now + DAY - 1) / DAY;
                let key_id: i64 = row.try_get("id")?;
                expiring
                    .entry(user_id)
                    .or_default()
                    .push((key_id, name, days_left));
            }
        } else if expires_at < today_start {
            expired.entry(user_id).or_default().push(name);
        }
    }

    let mut queued = 0;
    for (user_id, keys) in expiring {
        if let Some(user) = db::users::by_id(db.pool(), user_id).await? {
            let listed: Vec<(String, i64)> = keys
                .iter()
                .map(|(_, name, days)| (name.clone(), *days))
                .collect();
            let email = messages::keys_expiring(ctx, &user, &listed);
            let ids: Vec<i64> = keys.iter().map(|(id, _, _)| *id).collect();
            queued +=
                usize::from(queue_once(db, user_id, EXPIRING, &day, &email, &ids, now).await?);
        }
    }
    for (user_id, names) in expired {
        if let Some(user) = db::users::by_id(db.pool(), user_id).await? {
            let email = messages::keys_expired(ctx, &user, &names);
            queued += usize::from(queue_once(db, user_id, EXPIRED, &day, &email, &[], now).await?);
        }
    }
    Ok(queued)
}

/// Records the `(user, kind, day)` notice, marks `warned_keys` as warned and enqueues `email` in one
/// transaction, only if the notice was not already recorded; returns whether it queued.
async fn queue_once(
    db: &Db,
    user_id: i64,
    notice: &str,
    day: &str,
    email: &super::Email,
    warned_keys: &[i64],
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO key_expiry_notices (user_id, kind, day) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(notice)
    .bind(day)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        for key_id in warned_keys {
            sqlx::query("UPDATE api_keys SET expiry_warned_at = $1 WHERE id = $2")
                .bind(now)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
        }
        enqueue_with(&mut *tx, email, now).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}
