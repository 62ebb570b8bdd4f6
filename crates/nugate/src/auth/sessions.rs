//! Browser sessions and sign-in throttling, all in the database so any node can serve any request.
//!
//! The cookie holds a random 256-bit identifier; only its SHA-256 is stored, so a leaked database does not
//! yield live sessions. Each session carries its own CSRF token.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{self, users::User, Db};

/// Sessions end after this long without a request.
pub const IDLE_TIMEOUT_SECS: i64 = 12 * 3600;
/// Sessions end this long after sign-in whatever happens.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 14 * 86_400;
/// Failed sign-ins allowed per account, and per IP, within [`THROTTLE_WINDOW_SECS`].
pub const MAX_FAILURES: i64 = 5;
/// The window failed sign-ins are counted in.
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// `last_seen_at` is written at most this often.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// A live session and its user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub csrf_token: String,
    pub user: User,
}

/// Random URL-safe token of 256 bits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// SHA-256 hex of a token, the only form tokens are stored in.
pub fn hash_token(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// The session store.
#[derive(Clone)]
pub struct SessionService {
    db: Db,
}

impl SessionService {
    /// Wraps the database.
    pub fn new(db: Db) -> SessionService {
        SessionService { db }
    }

    /// Starts a new session (always a fresh id: no fixation) and returns the cookie value.
    pub async fn create(&self, user: &User) -> sqlx::Result<String> {
        let token = random_token();
        let now = db::now();
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(hash_token(&token))
        .bind(user.id)
        .bind(random_token())
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(token)
    }

    /// Loads the session behind a cookie value, enforcing idle and absolute timeouts.
    pub async fn load(&self, cookie: &str) -> sqlx::Result<Option<Session>> {
        let id_hash = hash_token(cookie);
        let row = sqlx::query(
            "SELECT user_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1",
        )
        .bind(&id_hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (user_id, csrf_token, created_at, last_seen_at): (i64, String, i64, i64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        let now = db::now();
        if now - last_seen_at > IDLE_TIMEOUT_SECS || now - created_at > ABSOLUTE_TIMEOUT_SECS {
            self.delete_hash(&id_hash).await?;
            return Ok(None);
        }
        let Some(user) = db::users::by_id(self.db.pool(), user_id).await? else {
            return Ok(None);
        };
        if user.locked {
            self.delete_hash(&id_hash).await?;
            return Ok(None);
        }
        if now - last_seen_at > TOUCH_INTERVAL_SECS {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&id_hash)
                .execute(self.db.pool())
                .await?;
        }
        Ok(Some(Session {
            id_hash,
            csrf_token,
            user,
        }))
    }

    /// Ends one session.
    pub async fn delete_hash(&self, id_hash: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user except `keep` (after a password change, say).
    pub async fn delete_others(&self, user_id: i64, keep: Option<&str>) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Whether sign-in attempts for `subjects` (e.g. `user:alice`, `ip:1.2.3.4`) are currently blocked.
    pub async fn throttled(&self, subjects: &[String]) -> sqlx::Result<bool> {
        self.throttled_after(subjects, MAX_FAILURES).await
    }

    /// Whether any of `subjects` failed `max` times within the window (shared by every node).
    pub async fn throttled_after(&self, subjects: &[String], max: i64) -> sqlx::Result<bool> {
        let since = db::now() - THROTTLE_WINDOW_SECS;
        for subject in subjects {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM signin_failures WHERE subject = $1 AND at > $2",
            )
            .bind(subject)
            .bind(since)
            .fetch_one(self.db.pool())
            .await?;
            if count >= max {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records a failed sign-in against each subject (and forgets failures older than the window).
    pub async fn record_failure(&self, subjects: &[String]) -> sqlx::Result<()> {
        let now = db::now();
        sqlx::query("DELETE FROM signin_failures WHERE at <= $1")
            .bind(now - THROTTLE_WINDOW_SECS)
            .execute(self.db.pool())
            .await?;
        for subject in subjects {
            sqlx::query("INSERT INTO signin_failures (subject, at) VALUES ($1, $2)")
                .bind(subject)
                .bind(now)
                .execute(self.db.pool())
                .await?;
        }
        Ok(())
    }

    /// Clears an account's failures after a successful sign-in.
    pub async fn clear_failures(&self, subject: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM signin_failures WHERE subject = $1")
            .bind(subject)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}
