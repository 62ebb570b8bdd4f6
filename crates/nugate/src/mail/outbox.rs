//! The outbox table: requests enqueue, the background task delivers with retries.

use super::{Email, MailKind, Mailer};
use crate::db::{self, Db};

/// Most rows sent in one [`deliver_due`] pass, so one pass never runs for long.
pub const BATCH_SIZE: i64 = 50;
/// After this many failed attempts a message is abandoned (kept in the table with its last error).
pub const MAX_ATTEMPTS: i64 = 12;
/// First retry delay; doubles with every failure.
const BACKOFF_BASE_SECS: i64 = 30;
/// Longest retry delay.
const BACKOFF_CAP_SECS: i64 = 6 * 3600;
/// How long a claimed row is hidden from other delivery passes while it is being sent.
const CLAIM_SECS: i64 = 300;
/// Stored errors are cut to this many characters.
const MAX_ERROR_CHARS: usize = 1000;

/// Queues a message due now, unless its recipient already got [`MailKind::hourly_limit`] messages of its
/// kind within the hour (then it is dropped and logged, and `false` returned). Cheap and local, so
/// request handlers can call it without waiting on SMTP.
pub async fn enqueue(db: &Db, email: &Email) -> sqlx::Result<bool> {
    let now = db::now();
    let Some(limit) = email.kind.hourly_limit() else {
        enqueue_with(db.pool(), email, now).await?;
        return Ok(true);
    };
    let mut tx = db.begin_write().await?;
    let recent =
        db::outbox::count_recent(&mut tx, &email.to, email.kind.as_str(), now - 3600).await?;
    if recent >= limit {
        tracing::warn!(
            kind = email.kind.as_str(),
            limit,
            "not sending: the recipient got the most emails of this kind an hour allows"
        );
        return Ok(false);
    }
    enqueue_with(&mut *tx, email, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Queues a message on any executor (for example a transaction, so a change and its email commit
/// together), with no per-recipient limit.
pub async fn enqueue_with<'e, E>(executor: E, email: &Email, now: i64) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let message = db::outbox::NewMessage {
        recipient: &email.to,
        subject: &email.subject,
        body: &email.body,
        kind: email.kind.as_str(),
        expires_at: email.expires_at,
    };
    db::outbox::insert(executor, &message, now).await
}

/// Delay before the next try after `attempts` failures: 30 s × 2^attempts, at most 6 hours.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    BACKOFF_BASE_SECS
        .saturating_mul(1_i64 << exponent)
        .min(BACKOFF_CAP_SECS)
}

/// Sends every due, unsent message (oldest first, at most [`BATCH_SIZE`]) and says how many went out
/// and how many failed.
///
/// Each row is claimed with a compare-and-set on `next_attempt_at` before sending, so two passes running
/// at once never send the same row twice. A failed send is recorded on the row and retried later; only
/// database errors make the whole pass fail.
pub async fn deliver_due(db: &Db, mailer: &Mailer) -> anyhow::Result<Delivery> {
    let pool = db.pool();
    let dropped = db::outbox::expire_undelivered(pool, db::now(), MAX_ATTEMPTS).await?;
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "dropped emails whose link expired before they could be delivered"
        );
    }
    let rows = db::outbox::due(pool, db::now(), MAX_ATTEMPTS, BATCH_SIZE).await?;
    let (mut sent, mut failed) = (0, 0);
    for row in rows {
        if !db::outbox::claim(pool, row.id, row.next_attempt_at, db::now() + CLAIM_SECS).await? {
            continue;
        }
        let email = Email {
            to: row.recipient,
            subject: row.subject,
            body: row.body,
            kind: MailKind::Other,
            expires_at: None,
        };
        // A message that cannot even be built (a bad recipient address) will never succeed: give up now.
        let result = match mailer.build_message(&email) {
            Ok(_) => mailer.send(&email, row.id).await.map_err(|e| (e, false)),
            Err(e) => Err((e, true)),
        };
        match result {
            Ok(()) => {
                db::outbox::mark_sent(pool, row.id, db::now()).await?;
                sent += 1;
            }
            Err((e, permanent)) => {
                failed += 1;
                let attempts = if permanent {
                    MAX_ATTEMPTS
                } else {
                    row.attempts + 1
                };
                let error: String = format!("{e:#}").chars().take(MAX_ERROR_CHARS).collect();
                if attempts >= MAX_ATTEMPTS {
                    tracing::error!(outbox_id = row.id, attempts, error = %error, "giving up on email");
                } else {
                    tracing::warn!(outbox_id = row.id, attempts, error = %error, "sending email failed; will retry");
                }
                let retry_at = db::now() + backoff_secs(attempts);
                let abandoned = attempts >= MAX_ATTEMPTS;
                db::outbox::mark_failed(pool, row.id, attempts, &error, retry_at, abandoned)
                    .await?;
            }
        }
    }
    Ok(Delivery { sent, failed })
}

/// What one delivery pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: u64,
}

#[cfg(test)]
mod tests {
    use super::backoff_secs;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 120);
        assert_eq!(backoff_secs(9), 15_360);
        assert_eq!(backoff_secs(10), 6 * 3600);
        assert_eq!(backoff_secs(1000), 6 * 3600);
    }
}
