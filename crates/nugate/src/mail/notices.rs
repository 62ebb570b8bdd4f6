//! API-key expiry notices: at most one "expiring" and one "expired" email per user per UTC day, however
//! often the job runs, because each is gated by a row in `key_expiry_notices`; and each key is listed as
//! expiring once per expiry (`api_keys.expiry_warned_at`) and as expired once
//! (`api_keys.expired_notified_at`).

use std::collections::BTreeMap;

use super::{enqueue_with, messages, MailContext};
use crate::db::notices::{Notice, NoticeKey};
use crate::db::{self, Db};
use crate::model::key::{days_left, DAY, WARN_DAYS};

/// Queues the expiry emails due at `now` and returns how many were queued.
///
/// * "About to expire": every scoped, unrevoked key expiring within [`WARN_DAYS`] that no earlier email
///   listed, one batched email per user per day; the keys it lists are marked in the same transaction.
/// * "Has expired": scoped, unrevoked keys that expired before today (UTC) and no earlier email listed,
///   one batched email per user per day. Keys are marked when listed, so each is reported exactly once,
///   and a key whose expiry fell on a day the server was down is reported when it is back.
///
/// Legacy keys (no fixed expiry) and verification keys (one day, one use) get no notices.
pub async fn queue_expiry_notices(db: &Db, ctx: &MailContext, now: i64) -> anyhow::Result<usize> {
    let today_start = now.div_euclid(DAY) * DAY;
    let day = chrono::DateTime::from_timestamp(today_start, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .ok_or_else(|| anyhow::anyhow!("time {now} is out of range"))?;
    let pool = db.pool();
    let expiring = by_user(db::notices::expiring_unwarned(pool, now, now + WARN_DAYS * DAY).await?);
    let expired = by_user(db::notices::expired_unnotified(pool, today_start).await?);

    let mut queued = 0;
    for (user_id, keys) in expiring {
        if let Some(user) = db::users::by_id(pool, user_id).await? {
            let listed: Vec<(String, i64)> = keys
                .iter()
                .map(|k| (k.name.clone(), days_left(k.expires_at, now)))
                .collect();
            let email = messages::keys_expiring(ctx, &user, &listed);
            queued += usize::from(
                queue_once(db, user_id, Notice::Expiring, &day, &email, &keys, now).await?,
            );
        }
    }
    for (user_id, keys) in expired {
        if let Some(user) = db::users::by_id(pool, user_id).await? {
            let names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
            let email = messages::keys_expired(ctx, &user, &names);
            queued += usize::from(
                queue_once(db, user_id, Notice::Expired, &day, &email, &keys, now).await?,
            );
        }
    }
    Ok(queued)
}

fn by_user(keys: Vec<NoticeKey>) -> BTreeMap<i64, Vec<NoticeKey>> {
    let mut grouped: BTreeMap<i64, Vec<NoticeKey>> = BTreeMap::new();
    for key in keys {
        grouped.entry(key.user_id).or_default().push(key);
    }
    grouped
}

/// Records the `(user, notice, day)` email, marks the listed keys and enqueues `email` in one
/// transaction, only if the notice was not already recorded today; returns whether it queued.
async fn queue_once(
    db: &Db,
    user_id: i64,
    notice: Notice,
    day: &str,
    email: &super::Email,
    keys: &[NoticeKey],
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = db.begin_write().await?;
    let recorded = db::notices::record(&mut tx, user_id, notice, day).await?;
    if recorded {
        let ids: Vec<i64> = keys.iter().map(|k| k.id).collect();
        db::notices::mark_keys(&mut tx, notice, &ids, now).await?;
        enqueue_with(&mut *tx, email, now).await?;
    }
    tx.commit().await?;
    Ok(recorded)
}
